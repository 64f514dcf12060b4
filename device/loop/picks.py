"""What plays next: picks for this listener in the mood the music follows, and what to do
when tracks will not play (forget them; after many failures in a row, pause with backoff)."""

from __future__ import annotations

import logging

from device.loop.context import LoopContext
from device.music.library import Track

log = logging.getLogger(__name__)


class Picks:
    MAX_FAILURES = 20  # failed plays in a row before picks pause (with backoff)

    def __init__(self, ctx: LoopContext):
        self.ctx = ctx
        self.note: str | None = None  # why nothing plays, when that is the case
        self.retry = ctx.settings.retry  # how long picks pause after failures
        self._failures = 0  # plays in a row that failed
        self._pauses = 0  # pick pauses since the last good play (backoff exponent)
        self._paused_until = 0.0

    def working(self) -> None:
        """A track really played: the audio path works again."""
        self._failures = self._pauses = 0

    def resume_picking(self) -> None:
        self._paused_until = 0.0

    def play_next(self, *, fade_in: bool = False) -> None:
        """Pick and start a track; unplayable picks are journalled and the next one tried."""
        ctx = self.ctx
        ctx.playback.stopped_by_user = False
        if ctx.now() < self._paused_until:
            return
        if not ctx.parts.library.available():  # no journal rows while a disk is unplugged
            self._pause("the library folder is unreachable")
            return
        for _ in range(self.MAX_FAILURES):
            pick = ctx.parts.picker.pick(ctx.session.user, ctx.mood.music_mood)
            if pick is None:
                self.note = "no playable tracks in the library"
                return
            ctx.stats.picks.append(pick)
            if ctx.playback.start(pick.track, pick.genre, pick.mood, pick.explanation,
                                  fade_in=fade_in):
                return
            if self._paused_until > ctx.now():
                return

    def unplayable(self, track: Track, error: str) -> None:
        """A track failed to play (its listen is already closed as an error): stop
        offering it. Many failures in a row pause picking, with backoff."""
        self._failures += 1
        library = self.ctx.parts.library
        if not library.available():  # the disk went away, not this file
            self._pause(f"the library folder is unreachable ({error})")
            return
        if self._pauses == 0:  # after a pause, failures look systemic: forget nothing more
            self.ctx.parts.picker.drop(track.track_id)
            library.forget(track, error)
        log.warning("skipped unplayable track %s: %s", track.track_id, error)
        if self._failures >= self.MAX_FAILURES:
            self._pause(f"{self._failures} plays in a row failed")

    def _pause(self, why: str) -> None:
        self._pauses += 1
        delay = self.retry.delay(self._pauses)
        self._paused_until = self.ctx.now() + delay
        self.note = f"{why}; trying again in {delay:.0f} s"
        log.error("%s", self.note)
