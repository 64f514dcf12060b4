"""Following the mood: which mood the music follows, when it switches, and the override.

The music follows a new camera mood only when it is confident and has lasted
(``[mood] switch_confidence``, ``switch_after_s``); a ``mood`` command overrides the camera
for a while or until ``auto``. At start the loop waits briefly for the camera's first look
(a state, not a sleep): a track picked for "unknown" would be faded out seconds later.
"""

from __future__ import annotations

import logging

from device.loop.context import LoopContext
from device.loop.events import MoodChanged, MusicMoodSwitched
from device.perception.mood_watch import MoodReading
from device.shared.commands import CommandResult
from device.shared.moods import UNKNOWN

log = logging.getLogger(__name__)


class MoodFollower:
    def __init__(self, ctx: LoopContext):
        self.ctx = ctx
        self.cfg = ctx.settings.mood
        self.music_mood = UNKNOWN
        self.music_confidence = 0.0
        self.override: str | None = None
        self.override_until: float | None = None  # epoch seconds
        self.first_wait_until: float | None = None
        self._camera: tuple[str, bool] | None = None

    def should_switch(self, reading: MoodReading, now: float) -> bool:
        return (
            reading.mood != UNKNOWN
            and reading.mood != self.music_mood
            and reading.confidence >= self.cfg.switch_confidence
            and now - reading.since >= self.cfg.switch_after_s
        )

    def wait_for_first_look(self) -> None:
        self.first_wait_until = self.ctx.now() + self.ctx.settings.first_mood_wait_s

    def waiting(self, reading: MoodReading, now: float) -> bool:
        """True while the start still waits for the camera's first look; when the wait
        ends, the first track starts (in the camera's mood if it is confident)."""
        if self.first_wait_until is None:
            return False
        if reading.frames == 0 and now < self.first_wait_until:
            return True
        self.first_wait_until = None
        if reading.mood != UNKNOWN and reading.confidence >= self.cfg.switch_confidence:
            self.music_mood, self.music_confidence = reading.mood, reading.confidence
        self.ctx.picks.play_next(fade_in=True)
        return False

    def announce(self, reading: MoodReading) -> None:
        """Tell the listeners when what the camera sees changes."""
        key = (reading.mood, reading.camera_ok)
        if key != self._camera:
            self._camera = key
            self.ctx.emit(MoodChanged, mood=reading.mood, confidence=reading.confidence)

    def follow(self, reading: MoodReading, now: float) -> None:
        """One tick: expire the override, switch the music if due."""
        self._expire_override()
        if self.override is None and self.ctx.playback.busy and self.should_switch(
                reading, now):
            log.info("mood %s -> %s (%.2f): switching music", self.music_mood, reading.mood,
                     reading.confidence)
            self.switch(reading.mood, reading.confidence, "camera")
        elif self.override is None and reading.mood == self.music_mood:
            self.music_confidence = reading.confidence

    def switch(self, mood: str, confidence: float, reason: str) -> None:
        previous = self.music_mood
        self.music_mood, self.music_confidence = mood, confidence
        self.ctx.stats.mood_switches += 1
        self.ctx.emit(MusicMoodSwitched, previous=previous, mood=mood, reason=reason)
        if self.ctx.playback.now is not None:
            self.ctx.playback.skip("mood")

    def set_override(self, mood: str | None, minutes: float | None) -> CommandResult:
        if mood is None:
            self.override = self.override_until = None
            log.info("mood override off: the camera decides again")
            return CommandResult(True, detail="mood auto")
        self.override = mood
        wall = self.ctx.clock.wall()
        self.override_until = None if minutes is None else wall + minutes * 60.0
        if mood != self.music_mood:
            self.switch(mood, 1.0, "override")
        span = "until 'auto'" if minutes is None else f"for {minutes:g} min"
        log.info("mood override: %s %s", mood, span)
        return CommandResult(True, detail=f"mood {mood} {span}")

    def _expire_override(self) -> None:
        if self.override_until is not None and self.ctx.clock.wall() >= self.override_until:
            log.info("mood override %s expired: the camera decides again", self.override)
            self.override = self.override_until = None
