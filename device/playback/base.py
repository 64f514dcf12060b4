"""The player interface the speaker loop drives, whatever makes the sound.

Two implementations: ``VlcPlayer`` (libvlc; the speaker) and ``FakePlayer`` (an in-memory
player on a test clock, for loop tests that need no audio stack). The loop calls it from
its own thread only, and ``poll()`` a few times a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class PlaybackError(Exception):
    """This file cannot be played (missing, unreadable, not audio)."""


@dataclass(frozen=True)
class PlayerStatus:
    state: str  # idle | playing | paused | ended | error
    position_s: float
    duration_s: float | None
    volume: int


class Toggles:
    """``toggle`` for a player that keeps its intent in ``_state`` (both players do)."""

    _state: str

    def pause(self) -> None:
        raise NotImplementedError

    def resume(self) -> None:
        raise NotImplementedError

    def toggle(self) -> None:
        if self._state == "paused":
            self.resume()
        else:
            self.pause()


class Player(Protocol):
    def play(self, path: str | Path, *, start_at: float = 0.0,
             volume: int | None = None) -> None:
        """Start ``path`` (from ``start_at`` seconds); raises PlaybackError if unreadable."""
        ...

    def poll(self) -> PlayerStatus:
        """Where the track is: ``ended`` only if it really played, ``error`` if it never
        did (an undecodable file)."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def toggle(self) -> None: ...

    def stop(self) -> None: ...

    def release(self) -> None: ...

    @property
    def volume(self) -> int: ...

    def set_volume(self, volume: int) -> None: ...

    def fade(self, to: int, seconds: float) -> None:
        """Ramp the volume (blocking: only after the loop has ended, at shutdown)."""
        ...
