"""The live status line: mood, confidence, track, genre and why it was chosen."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from device.loop.events import SpeakerStatus, TrackInfo


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _track_label(t: TrackInfo) -> str:
    title = t.title or t.track_id
    return f"{t.artist} - {title}" if t.artist else title


def _mood(st: SpeakerStatus) -> str:
    cam = "" if st.camera_ok else " (no camera)"
    over = f", override {st.override}" if st.override else ""
    return f"{st.mood} {st.confidence:.2f}{cam}{over}"


def format_status(st: SpeakerStatus) -> str:
    if st.track is None:
        why = f" ({st.note})" if st.note else ""
        return f"[{st.user}] mood {_mood(st)} | {st.state}{why}"
    t = st.track
    why = st.explanation or f"[{st.genre}]"  # the explanation names the genre already
    vol = "muted" if st.muted else f"vol {st.volume}"
    busy = f" | {st.activity}" if st.activity else ""
    return (
        f"[{st.user}] mood {_mood(st)} | {st.state} {_clock(t.position_s)}/"
        f"{_clock(t.duration_s)} {vol} | {_track_label(t)} | {why}{busy}"
    )


def format_short(st: SpeakerStatus) -> str:
    """For ``systemctl status``: changes only with the mood, the state or the track."""
    head = f"user {st.user}, mood {st.mood}" + ("" if st.camera_ok else " (no camera)")
    if st.track is None:
        return f"{head}; {st.state}" + (f" ({st.note})" if st.note else "")
    return f"{head}; {st.state} {_track_label(st.track)} ({st.explanation})"


class StatusLine:
    """On a terminal: one line rewritten in place (2 Hz). Elsewhere (journald, pipes):
    a new line only when the track or the mood changes, so logs stay readable."""

    def __init__(self, stream: TextIO | None = None, *, interval_s: float = 0.5):
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s
        self._last_t = 0.0
        self._last_key: tuple | None = None
        self.lines = 0

    def __call__(self, st: SpeakerStatus) -> None:
        now = time.monotonic()
        if self.tty:
            if now - self._last_t < self.interval_s:
                return
            self._last_t = now
            self.stream.write("\r\x1b[K" + format_status(st)[: self._width() - 1])
        else:
            key = (st.track.track_id if st.track else None, st.mood, st.state, st.user,
                   st.note)
            if key == self._last_key:
                return
            self._last_key = key
            self.stream.write(format_status(st) + "\n")
        self.lines += 1
        self.stream.flush()

    def _width(self) -> int:
        """The terminal's width now (it may have been resized); the last column is left
        empty, since writing into it wraps the line on some terminals."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (AttributeError, OSError, ValueError):
            return 80

    def close(self) -> None:
        if self.tty and self.lines:
            self.stream.write("\n")
            self.stream.flush()


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "track")`` -> "1 track", ``count(3, "track")`` -> "3 tracks"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
