"""Playback with python-vlc: one track at a time, volume fades, honest end detection.

libvlc 3 reports a missing or undecodable file as a normal "Ended" (not "Error"), so a
track only counts as played if time actually advanced; otherwise it is an error that the
speaker skips and journals. The object is driven from one thread (the speaker loop):
``poll()`` is called a few times a second and says whether the track is still going.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from device.playback.base import PlaybackError, PlayerStatus, Toggles
from device.playback.outputs import AudioOutput


class VlcPlayer(Toggles):
    """A ``Player`` on libvlc."""

    def __init__(self, output: AudioOutput):
        import vlc  # optional: needs libvlc; only the real player loads it

        self._vlc = vlc
        self.output = output
        self._instance = vlc.Instance(output.vlc_args())
        if self._instance is None:
            raise PlaybackError(f"libvlc could not start with output {output.name!r}")
        self._mp = self._instance.media_player_new()
        self._lock = threading.RLock()
        self._path: Path | None = None
        self._max_ms = 0
        self._volume = 0
        self._state = "idle"

    # --- transport -----------------------------------------------------------------

    def play(self, path: str | Path, *, start_at: float = 0.0, volume: int | None = None) -> None:
        """Start ``path`` (from ``start_at`` seconds); raises PlaybackError if unreadable."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY)
            os.close(fd)
        except OSError as exc:
            raise PlaybackError(f"{path}: {exc.strerror or exc}") from None
        with self._lock:
            media = self._instance.media_new(str(path))
            if start_at > 0:
                media.add_option(f":start-time={start_at:.3f}")
            self._mp.set_media(media)
            media.release()
            self._path, self._max_ms, self._state = path, int(start_at * 1000), "playing"
            if volume is not None:
                self._volume = max(0, min(100, int(volume)))
            if self._mp.play() != 0:
                self._state = "error"
                raise PlaybackError(f"{path}: libvlc refused to play it")
            self._apply_volume()

    def poll(self) -> PlayerStatus:
        """Current state; turns libvlc's "Ended" into ended (played) or error (never did)."""
        vlc = self._vlc
        with self._lock:
            if self._state in ("playing", "paused"):
                st = self._mp.get_state()
                t = self._mp.get_time()
                if t and t > self._max_ms:
                    self._max_ms = t
                if st == vlc.State.Error:
                    self._state = "error"
                elif st == vlc.State.Ended:
                    # libvlc reports time coarsely: a short or truncated file can end
                    # before get_time() moved. A file libvlc parsed a length from was
                    # decoded to its end; a garbled one never gets a length.
                    length = self._mp.get_length()
                    if self._max_ms == 0 and length and length > 0:
                        self._max_ms = length
                    self._state = "ended" if self._max_ms > 0 else "error"
                elif st == vlc.State.Playing and self._state == "playing":
                    # pause/resume are our intent (libvlc applies them asynchronously);
                    # the audio output may appear after play(): re-assert the volume
                    self._apply_volume()
            length = self._mp.get_length()
            return PlayerStatus(
                self._state,
                self._max_ms / 1000.0,
                length / 1000.0 if length and length > 0 else None,
                self._volume,
            )

    def pause(self) -> None:
        with self._lock:
            if self._state == "playing":
                self._mp.set_pause(1)
                self._state = "paused"

    def resume(self) -> None:
        with self._lock:
            if self._state == "paused":
                self._mp.set_pause(0)
                self._state = "playing"

    def stop(self) -> None:
        with self._lock:
            self.poll()
            self._mp.stop()
            if self._state in ("playing", "paused"):
                self._state = "idle"

    def release(self) -> None:
        with self._lock:
            self._mp.stop()
            self._mp.release()
            self._instance.release()

    # --- volume --------------------------------------------------------------------

    @property
    def volume(self) -> int:
        return self._volume

    def set_volume(self, volume: int) -> None:
        with self._lock:
            self._volume = max(0, min(100, int(volume)))
            self._apply_volume()

    def _apply_volume(self) -> None:
        self._mp.audio_set_volume(self._volume)

    def fade(self, to: int, seconds: float, *, steps_per_s: int = 20) -> None:
        """Ramp the volume linearly (blocking; ``seconds`` <= 0 jumps)."""
        start, to = self._volume, max(0, min(100, int(to)))
        n = int(seconds * steps_per_s)
        for i in range(1, n + 1):
            self.set_volume(round(start + (to - start) * i / n))
            time.sleep(1.0 / steps_per_s)
        self.set_volume(to)
