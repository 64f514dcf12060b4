"""Retry delays that double from ``initial_s`` up to ``max_s``: a failing camera, a music
folder that is not mounted yet, picks after many failed plays."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.max_s, self.initial_s * (2 ** max(0, failures - 1)))
