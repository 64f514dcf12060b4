"""A volume ramp that the speaker loop advances one step per tick (it never sleeps)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fade:
    start: int
    target: int
    t0: float
    seconds: float

    def level(self, now: float) -> int:
        if self.seconds <= 0 or now >= self.t0 + self.seconds:
            return self.target
        frac = max(0.0, (now - self.t0) / self.seconds)
        return round(self.start + (self.target - self.start) * frac)

    def done(self, now: float) -> bool:
        return now >= self.t0 + self.seconds
