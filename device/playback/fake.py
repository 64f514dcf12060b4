"""An in-memory ``Player`` on a test clock: loop tests run in milliseconds, no audio stack.

It behaves as ``VlcPlayer`` does where the loop can tell: a missing or unreadable file is
refused by ``play``; a file whose audio cannot be read (mutagen finds no stream) plays
nothing and reports ``error``; a readable one advances with the clock and reports
``ended`` at its duration. ``VlcPlayer`` keeps its own end-to-end tests on real libvlc.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import mutagen

from device.playback.base import PlaybackError, PlayerStatus, Toggles


def audio_duration(path: Path) -> float | None:
    """The file's length in seconds as mutagen reads it; None if it is not audio."""
    try:
        info = mutagen.File(path)
    except Exception:  # mutagen raises many types for garbage
        return None
    length = getattr(getattr(info, "info", None), "length", None)
    return float(length) if length else None


class FakePlayer(Toggles):
    """A ``Player`` whose time is ``clock()``; ``played`` records every ``play`` call."""

    def __init__(self, clock: Callable[[], float],
                 duration_of: Callable[[Path], float | None] = audio_duration):
        self._clock = clock
        self._duration_of = duration_of
        self._state = "idle"
        self._volume = 0
        self._position = 0.0  # at self._since, while playing
        self._since = 0.0
        self._duration: float | None = None
        self.played: list[tuple[Path, float]] = []
        self.volumes: list[int] = []

    def play(self, path: str | Path, *, start_at: float = 0.0,
             volume: int | None = None) -> None:
        path = Path(path)
        try:
            os.close(os.open(path, os.O_RDONLY))
        except OSError as exc:
            raise PlaybackError(f"{path}: {exc.strerror or exc}") from None
        self.played.append((path, start_at))
        if volume is not None:
            self.set_volume(volume)
        self._duration = self._duration_of(path)
        self._position, self._since = start_at, self._clock()
        self._state = "playing" if self._duration else "error"

    def _position_now(self) -> float:
        if self._state != "playing":
            return self._position
        return self._position + (self._clock() - self._since)

    def poll(self) -> PlayerStatus:
        position = self._position_now()
        if self._state == "playing" and self._duration and position >= self._duration:
            self._state, self._position = "ended", self._duration
            position = self._duration
        return PlayerStatus(self._state, position, self._duration, self._volume)

    def pause(self) -> None:
        if self._state == "playing":
            self._position, self._state = self._position_now(), "paused"

    def resume(self) -> None:
        if self._state == "paused":
            self._since, self._state = self._clock(), "playing"

    def stop(self) -> None:
        self.poll()
        if self._state in ("playing", "paused"):
            self._position, self._state = self._position_now(), "idle"

    def release(self) -> None:
        self.stop()

    @property
    def volume(self) -> int:
        return self._volume

    def set_volume(self, volume: int) -> None:
        self._volume = max(0, min(100, int(volume)))
        self.volumes.append(self._volume)

    def fade(self, to: int, seconds: float) -> None:
        self.set_volume(to)
