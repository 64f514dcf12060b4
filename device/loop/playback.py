"""Playback and transitions: the track playing now, its journal row, fades and volume.

Every transition fades: a skip, a stop or a mood switch starts a fade-out that the loop
advances one step per tick (``_Transition``), and the listen is closed when the fade ends
or when the next command arrives, whichever is first. Nothing here sleeps.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from device.loop.context import LoopContext
from device.loop.events import TrackEnded, TrackStarted
from device.music.library import Track
from device.playback.base import PlaybackError
from device.playback.fade import Fade
from device.shared.moods import UNKNOWN

log = logging.getLogger(__name__)


@dataclass
class NowPlaying:
    event_id: str
    track: Track
    genre: str
    mood: str
    explanation: str
    started_mono: float
    start_offset_s: float = 0.0
    last_position_write: float = 0.0


@dataclass
class _Transition:
    """A fade-out in progress: how the listen will be closed and what comes next."""

    fade: Fade
    reason: str
    ended_by: str
    then: Callable[[], None]


class PlaybackController:
    def __init__(self, ctx: LoopContext):
        self.ctx = ctx
        self.player = ctx.parts.player
        self.audio = ctx.settings.audio
        self.now: NowPlaying | None = None
        self.history: deque[Track] = deque(maxlen=50)  # for "previous"
        self.stopped_by_user = False
        self.muted = False
        # The first track after a start (a reboot at night, a crash) plays at most at the
        # cap; later tracks at the configured volume, unless a volume command set one.
        self.volume_target = min(self.audio.volume, self.audio.startup_volume_cap)
        self._volume_from_user = False
        self._transition: _Transition | None = None
        self._fade_in: Fade | None = None

    @property
    def fading(self) -> bool:
        return self._transition is not None or self._fade_in is not None

    @property
    def busy(self) -> bool:
        """A track plays and no fade-out is under way."""
        return self.now is not None and self._transition is None

    @property
    def idle(self) -> bool:
        """Nothing plays and nothing is fading out."""
        return self.now is None and self._transition is None

    def state_name(self) -> str:
        if self.now is None:
            return "stopped"
        return "paused" if self.player.poll().state == "paused" else "playing"

    # --- starting and closing listens ----------------------------------------------

    def start(self, track: Track, genre: str, mood: str, explanation: str, *,
              start_at: float = 0.0, fade_in: bool = False) -> bool:
        """Journal and start one play; False (listen closed as an error) if it cannot."""
        ctx = self.ctx
        confidence = ctx.mood.music_confidence if mood != UNKNOWN else 0.0
        event_id = ctx.parts.journal.start(
            user=ctx.session.user, track_id=track.track_id, path=track.path,
            genre=genre or None, mood=mood, mood_confidence=confidence,
            duration_s=track.duration_s, start_offset_s=start_at, explanation=explanation,
        )
        self.now = NowPlaying(event_id, track, genre, mood, explanation, ctx.now(), start_at)
        self.now.last_position_write = ctx.now()
        ctx.picks.note = None
        ctx.stats.played += 1
        self.history.append(track)
        if ctx.stats.played > 1 and not self._volume_from_user:
            self.volume_target = self.audio.volume
        target = 0 if self.muted else self.volume_target
        try:
            self.player.play(track.path, start_at=start_at, volume=0 if fade_in else target)
        except PlaybackError as exc:
            self.finish("error", start_at, ended_by="end", error=str(exc))
            ctx.picks.unplayable(track, str(exc))
            return False
        if fade_in:
            self._fade_in = Fade(0, self.volume_target, ctx.now(), self.audio.fade_s)
        log.info("playing %s [%s] %s", track.label, genre, explanation)
        ctx.emit(TrackStarted, event_id=event_id)
        return True

    def finish(self, reason: str, position_s: float, *, ended_by: str,
               error: str | None = None) -> None:
        """Close the current listen in the journal (and count it for learning)."""
        n, self.now = self.now, None
        if n is None:
            return
        ctx = self.ctx
        played = max(0.0, position_s - n.start_offset_s)
        outcome = None
        if ended_by in ("user", "end") and n.genre and n.mood != UNKNOWN:
            outcome = ctx.settings.learning.outcome(reason, played)
        feedback = (ctx.session.user, n.mood, n.genre, outcome) if outcome else None
        ctx.parts.journal.end(n.event_id, reason, position_s, error=error, ended_by=ended_by,
                              feedback=feedback)
        if outcome:
            ctx.parts.picker.record(n.mood, n.track, outcome)
        if reason == "completed":
            ctx.stats.completed += 1
        elif reason == "error":
            ctx.stats.errors += 1
        listen = ctx.parts.journal.get(n.event_id)
        if listen is not None:
            ctx.emit(TrackEnded, listen=listen)

    def check(self, now: float) -> None:
        """End of track, playback errors, and the journalled position, once a tick."""
        assert self.now is not None
        ctx = self.ctx
        status = self.player.poll()
        played = status.position_s - self.now.start_offset_s
        if status.state in ("ended", "playing") and played > 0:
            ctx.picks.working()
        if status.state == "ended":
            self.finish("completed", status.duration_s or status.position_s, ended_by="end")
            ctx.picks.play_next()
        elif status.state == "error":
            track = self.now.track
            if played > 0.5:  # it played, then broke off: a damaged file, not a codec
                error = (f"playback broke off at {status.position_s:.1f} s: the file is"
                         " truncated or damaged")
            else:
                error = "libvlc could not decode the file"
            self.finish("error", status.position_s, ended_by="end", error=error)
            ctx.picks.unplayable(track, error)
            ctx.picks.play_next()
        elif now - self.now.last_position_write >= ctx.settings.position_interval_s:
            ctx.parts.journal.update_position(self.now.event_id, status.position_s)
            self.now.last_position_write = now

    # --- transitions and fades -----------------------------------------------------

    def end_then(self, reason: str, ended_by: str, then: Callable[[], None]) -> None:
        """Fade the current track out (non-blocking), close its listen, then ``then``."""
        self.finish_transition()
        self._fade_in = None
        if self.now is None:
            then()
            return
        fade = Fade(self.player.volume, 0, self.ctx.now(), self.audio.fade_s / 2)
        self._transition = _Transition(fade, reason, ended_by, then)
        self.advance_fades(self.ctx.now())

    def finish_transition(self) -> None:
        """A command arrived during a fade-out: complete it now, then obey the command."""
        if self._transition is not None:
            t, self._transition = self._transition, None
            if self.now is not None:
                self.finish(t.reason, self.player.poll().position_s, ended_by=t.ended_by)
                self.player.stop()
            t.then()

    def advance_fades(self, now: float) -> None:
        if self._transition is not None:
            self._apply_level(self._transition.fade.level(now))
            if self._transition.fade.done(now):
                self.finish_transition()
        if self._fade_in is not None:
            self._apply_level(self._fade_in.level(now))
            if self._fade_in.done(now):
                self._fade_in = None

    def _apply_level(self, level: int) -> None:
        self.player.set_volume(0 if self.muted else level)

    def _fade_to(self, target: int, seconds: float) -> None:
        """Start a ramp from where the player is now (the loop advances it)."""
        current = self.player.volume if not self.muted else target
        self._fade_in = Fade(current, target, self.ctx.now(), seconds)
        self.advance_fades(self.ctx.now())

    # --- what the commands do ------------------------------------------------------

    def set_volume(self, level: int | None, delta: int | None) -> int:
        base = self.volume_target
        self.volume_target = max(0, min(100, level if level is not None else
                                        base + (delta or 0)))
        self._volume_from_user = True
        if self.busy:
            self._fade_to(self.volume_target, 0.3)
        return self.volume_target

    def mute(self, on: bool | None) -> bool:
        self.muted = (not self.muted) if on is None else on
        if self._transition is None:
            self._fade_in = None
            self._apply_level(self.volume_target)
        return self.muted

    def pause(self) -> None:
        self.finish_transition()
        self.player.pause()

    def play(self) -> None:
        """Resume a paused track, or let picks start again after a stop."""
        self.finish_transition()
        if self.now is None:
            self.stopped_by_user = False
            self.ctx.picks.resume_picking()
        else:
            self.player.resume()

    def toggle(self) -> None:
        self.finish_transition()
        if self.now is None:
            self.stopped_by_user = False
        else:
            self.player.toggle()

    def stop(self) -> None:
        self.end_then("stopped", "user", self._stopped)

    def _stopped(self) -> None:
        self.stopped_by_user = True

    def skip(self, ended_by: str = "user") -> None:
        """Fade out, close the listen as skipped, and play the next pick."""
        self.end_then("skipped", ended_by, lambda: self.ctx.picks.play_next(fade_in=True))

    def previous(self) -> bool:
        self.finish_transition()  # a "next" still fading out counts first
        prev = self.history[-2] if len(self.history) >= 2 else None
        if prev is None:
            return False
        self.end_then("skipped", "user", lambda: self._replay(prev))
        return True

    def _replay(self, track: Track) -> None:
        mood = self.ctx.mood.music_mood
        if not self.start(track, track.genre or "", mood, f"again: {track.label}",
                          fade_in=True):
            self.ctx.picks.play_next(fade_in=True)

    def shutdown(self) -> None:
        reason, ended_by = "stopped", "shutdown"
        if self._transition is not None:  # close it as the command meant, start nothing
            reason, ended_by = self._transition.reason, self._transition.ended_by
            self._transition = None
        if self.now is not None:
            try:  # after the loop: a short blocking fade is fine here
                self.player.fade(0, min(0.5, self.audio.fade_s))
            except Exception:  # never let a fade stop the journal from closing the listen
                log.exception("fade-out failed")
            self.finish(reason, self.player.poll().position_s, ended_by=ended_by)
        self.player.stop()
