"""The loop's state as one snapshot (``SpeakerStatus``), and ``StateChanged`` when any of
it that listeners show changes: built on the loop thread from the controllers' state, so
no listener ever reaches back into the loop."""

from __future__ import annotations

from collections.abc import Callable

from device.loop.context import LoopContext
from device.loop.events import SpeakerStatus, StateChanged, TrackInfo


class StatusReporter:
    _KEY_NAMES = ("state", "volume", "mute", "user", "override", "override", "music_mood",
                  "track", "note")

    def __init__(self, ctx: LoopContext, activity: Callable[[], str | None] | None = None):
        self.ctx = ctx
        self._activity = activity  # background work, e.g. "scoring 120/1000"
        self._last_key: tuple | None = None

    def status(self) -> SpeakerStatus:
        ctx = self.ctx
        reading = ctx.parts.mood.latest()
        pb, mood = ctx.playback, ctx.mood
        n = pb.now
        track = None
        state = "stopped"
        if n is not None:
            ps = pb.player.poll()
            state = "paused" if ps.state == "paused" else "playing"
            t = n.track
            track = TrackInfo(t.title, t.artist, t.album, t.track_id,
                              ps.duration_s or t.duration_s, ps.position_s)
        elif not pb.stopped_by_user and (ctx.picks.note or mood.first_wait_until is not None):
            state = "waiting"
        return SpeakerStatus(
            state=state, user=ctx.session.user, mood=reading.mood,
            confidence=reading.confidence, camera_ok=reading.camera_ok,
            music_mood=mood.music_mood, override=mood.override,
            override_until=mood.override_until, volume=pb.volume_target, muted=pb.muted,
            track=track, genre=n.genre if n else None,
            explanation=n.explanation if n else None, note=self.note(),
            activity=self._activity() if self._activity else None,
        )

    def note(self) -> str | None:
        """Why nothing plays, in words; None while a track plays."""
        ctx = self.ctx
        if ctx.playback.now is not None:
            return None
        if ctx.playback.stopped_by_user:
            return "stopped by a command"
        if ctx.mood.first_wait_until is not None:
            return "waiting for the camera's first look"
        return ctx.picks.note

    def publish_if_changed(self) -> None:
        ctx = self.ctx
        pb, mood = ctx.playback, ctx.mood
        n = pb.now
        key = (
            pb.state_name(), pb.volume_target, pb.muted, ctx.session.user, mood.override,
            mood.override_until, mood.music_mood, n.event_id if n else None, self.note(),
        )
        if key != self._last_key:
            what = "state" if self._last_key is None else ",".join(dict.fromkeys(
                name for name, a, b in zip(self._KEY_NAMES, self._last_key, key, strict=True)
                if a != b))
            self._last_key = key
            ctx.emit(StateChanged, what=what)
