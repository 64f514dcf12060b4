"""The speaker loop: mood -> pick -> play -> journal, on one thread that owns all of it.

The camera runs on its own thread (``device.perception.mood_watch``); everything that touches the
player, the journal and the picker happens here, so there is no shared mutable state. Other
threads talk to the loop only through its inbox: typed commands (``device.loop.commands``), each
answered through a ``Future``, and work handed back by background jobs (a rescan, a model
reload). The loop talks back only through events (``device.loop.events``). It never sleeps and
never touches the network: fades advance one step per tick, slow work runs elsewhere.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from device.loop import commands as c
from device.loop.events import (
    Event,
    EventBus,
    MoodChanged,
    MusicMoodSwitched,
    Progress,
    SpeakerStatus,
    StateChanged,
    TrackEnded,
    TrackInfo,
    TrackStarted,
)
from device.music.learning import LearningRule
from device.music.library import Track
from device.music.picker import Pick, Picker
from device.perception.mood_watch import Backoff, MoodReading, MoodSource
from device.playback import PlaybackError
from device.playback.fade import Fade
from device.shared.listens import Listen
from device.shared.moods import UNKNOWN
from device.storage.active_user import write_active_user
from device.storage.journal import Journal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MoodPolicy:
    """The music follows a new mood only when it is confident and has lasted."""

    switch_confidence: float = 0.55
    switch_after_s: float = 8.0

    def should_switch(self, music_mood: str, reading: MoodReading, now: float) -> bool:
        return (
            reading.mood != UNKNOWN
            and reading.mood != music_mood
            and reading.confidence >= self.switch_confidence
            and now - reading.since >= self.switch_after_s
        )


@dataclass(frozen=True)
class ResumePolicy:
    enabled: bool = True
    after_stop: bool = True
    max_age_s: float = 6 * 3600.0
    rewind_s: float = 2.0

    def candidate(self, last: Listen | None, now: float) -> float | None:
        """Position to resume ``last`` at, or None."""
        if not self.enabled or last is None or last.ended_at is None:
            return None
        if last.end_reason != "interrupted" and not (
            self.after_stop and last.end_reason == "stopped"
        ):
            return None
        if now - last.ended_at > self.max_age_s:
            return None
        pos = max(0.0, last.position_s - self.rewind_s)
        if last.duration_s and pos >= last.duration_s - 5.0:
            return None
        return pos


@dataclass(frozen=True)
class VolumePolicy:
    volume: int = 70
    startup_cap: int = 40
    fade_s: float = 2.0


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
class SpeakerStats:
    played: int = 0
    completed: int = 0
    errors: int = 0
    mood_switches: int = 0
    commands: int = 0
    command_errors: int = 0
    picks: deque[Pick] = field(default_factory=lambda: deque(maxlen=1000))  # the latest


class Catalog(Protocol):
    """The library as the loop sees it (``device.music.library.IndexCatalog``)."""

    def get(self, track_id: str) -> Track | None: ...

    def available(self) -> bool:
        """Whether the music folder is reachable at all (an unplugged disk is not)."""
        ...

    def forget(self, track: Track, error: str) -> None:
        """This track failed to play: stop offering it until its file changes."""
        ...


class Jobs(Protocol):
    """Slow work the loop hands off (``device.loop.jobs.BackgroundJobs``): each job runs on
    another thread and its ``then`` comes back to the loop through ``call_soon``."""

    def rescan(self, then: Callable[[list[Track] | Exception], None]) -> bool:
        """Start a library rescan; False if one is already running."""
        ...

    def reload(self, then: Callable[[object | Exception], None]) -> None:
        """Load the models again (the taste model comes back to ``then``)."""
        ...

    def learning(self, user: str, then: Callable[[object | Exception], None]) -> None:
        """This listener's (feedback table, mood fit), rebuilt from the journal."""
        ...


@dataclass
class _Transition:
    """A fade-out in progress: how the listen will be closed and what comes next."""

    fade: Fade
    reason: str
    ended_by: str
    then: Callable[[], None]


class Speaker:
    """The loop on one thread: reads the mood, drives the player, writes the journal."""

    MAX_FAILURES = 20  # failed plays in a row before picks pause (with backoff)
    FADE_TICK_S = 0.05  # the loop ticks faster while a fade runs, so it sounds smooth
    MAX_BATCH = 50  # inbox items handled between two ticks: a flood cannot starve the loop

    def __init__(
        self,
        *,
        player,
        picker: Picker,
        journal: Journal,
        mood: MoodSource,
        library: Catalog,
        user: str = "default",
        user_file: Path | None = None,
        learning: LearningRule | None = None,
        mood_policy: MoodPolicy | None = None,
        resume: ResumePolicy | None = None,
        volume: VolumePolicy | None = None,
        position_interval_s: float = 5.0,
        tick_s: float = 0.2,
        first_mood_wait_s: float = 0.0,
        bus: EventBus | None = None,
        watchdog: Callable[[], None] | None = None,
        jobs: Jobs | None = None,
        activity: Callable[[], str | None] | None = None,
        retry: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.player = player
        self.picker = picker
        self.journal = journal
        self.mood = mood
        self.library = library
        self.user = user
        self.user_file = user_file
        self._user_file_mtime: float | None = None
        self.rule = learning or LearningRule()
        self.mood_policy = mood_policy or MoodPolicy()
        self.resume_policy = resume or ResumePolicy()
        self.volume_policy = volume or VolumePolicy()
        self.position_interval_s = position_interval_s
        self.tick_s = tick_s
        self.first_mood_wait_s = first_mood_wait_s
        self.bus = bus or EventBus()
        self._watchdog = watchdog
        self.jobs = jobs
        self._activity = activity
        self._clock = clock
        self._wall = wall
        self._inbox: queue.Queue[tuple[c.Command, Future] | Callable[[], None] | None] = (
            queue.Queue()
        )
        self.now: NowPlaying | None = None
        self.music_mood = UNKNOWN
        self.music_confidence = 0.0
        self.override: str | None = None
        self.override_until: float | None = None  # epoch seconds
        self.history: deque[Track] = deque(maxlen=50)  # for "previous"
        self.stopped_by_user = False
        self.muted = False
        self.note: str | None = None  # why nothing plays, when that is the case
        self.stats = SpeakerStats()
        self.retry = retry or Backoff(30.0, 600.0)
        self._failures = 0  # plays in a row that failed
        self._pauses = 0  # pick pauses since the last good play (backoff exponent)
        self._picks_paused_until = 0.0
        self._first_wait_until: float | None = None
        self._transition: _Transition | None = None
        self._fade_in: Fade | None = None
        self._camera: tuple[str, bool] | None = None
        self._last_key: tuple | None = None
        self._last_progress = 0.0
        # The first track after a start (a reboot at night, a crash) plays at most at the
        # cap; later tracks at the configured volume, unless a volume command set one.
        self.volume_target = min(self.volume_policy.volume, self.volume_policy.startup_cap)
        self._volume_from_user = False
        self._poll_user_file()

    # --- other threads -------------------------------------------------------------

    def submit(self, command: c.Command) -> Future[c.CommandResult]:
        """Thread-safe: queue a parsed command; the future holds the loop's answer."""
        future: Future[c.CommandResult] = Future()
        self._inbox.put((command, future))
        return future

    def command(self, name: str, value: object = None) -> Future[c.CommandResult]:
        """Parse (here, on the caller's thread) and submit; a bad value never reaches the
        loop: it comes back at once as ``ok=False`` with the reason."""
        try:
            return self.submit(c.parse_command(name, value))
        except c.CommandError as exc:
            return c.done(c.CommandResult(False, str(exc)))

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Thread-safe: run ``fn`` on the loop thread (how background jobs report back)."""
        self._inbox.put(fn)

    def wake(self) -> None:
        """Thread-safe: end the loop's current wait now (after ``stop`` was set)."""
        self._inbox.put(None)

    # --- the loop ------------------------------------------------------------------

    def run(self, stop: threading.Event, seconds: float | None = None) -> SpeakerStats:
        """Play until ``stop`` is set or ``seconds`` have passed; always closes cleanly."""
        deadline = None if seconds is None else self._clock() + seconds
        self.recover()
        try:
            self._start_first()
            while not stop.is_set():
                if deadline is not None and self._clock() >= deadline:
                    break
                self.step()
                self._wait(stop)
        finally:
            self.shutdown()
        return self.stats

    def _wait(self, stop: threading.Event) -> None:
        """Sleep until the next tick, waking at once for a command or a job's result."""
        fading = self._transition is not None or self._fade_in is not None
        timeout = self.FADE_TICK_S if fading else self.tick_s
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return
        for _ in range(self.MAX_BATCH):
            if item is not None:
                self._handle(item)
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
        if item is not None:
            self._handle(item)

    def _handle(self, item: tuple[c.Command, Future] | Callable[[], None]) -> None:
        if callable(item):
            try:
                item()
            except Exception:
                log.exception("a background job's result could not be applied")
            return
        command, future = item
        self.stats.commands += 1
        try:
            result = self._execute(command, future)
        except Exception as exc:  # a command must never stop the music
            log.exception("command %s failed", command)
            result = c.CommandResult(False, f"{type(exc).__name__}: {exc}")
        if result is not None:  # None: a job answers later
            self._answer(future, result)

    def _answer(self, future: Future, result: c.CommandResult) -> None:
        if not result.ok:
            self.stats.command_errors += 1
        if not future.done():
            future.set_result(result)
        self._publish_state_if_changed()

    def recover(self) -> None:
        """Close listens a crash left open, before anything new is written."""
        for listen in self.journal.recover():
            log.warning(
                "journal: listen of %s was cut off at %.1f s; closed as interrupted",
                listen.track_id, listen.position_s,
            )

    def step(self) -> None:
        """One tick: watchdog, user file, fades, mood policy, end of track, journal, events."""
        if self._watchdog is not None:
            self._watchdog()
        self.journal.flush_pending()  # writes that waited for disk space, if any
        self._poll_user_file()
        now = self._clock()
        self._advance_fades(now)
        reading = self.mood.latest()
        self._follow_camera(reading)
        if self._first_wait_until is not None:
            if reading.frames == 0 and now < self._first_wait_until:
                self._publish_state_if_changed()
                return
            self._first_wait_until = None
            if reading.mood != UNKNOWN and (
                reading.confidence >= self.mood_policy.switch_confidence
            ):
                self.music_mood, self.music_confidence = reading.mood, reading.confidence
            self._play_next(fade_in=True)
        self._expire_override()
        if self.override is None and self.now is not None and self._transition is None and (
            self.mood_policy.should_switch(self.music_mood, reading, now)
        ):
            log.info("mood %s -> %s (%.2f): switching music", self.music_mood, reading.mood,
                     reading.confidence)
            self._switch_music(reading.mood, reading.confidence, "camera")
        elif self.override is None and reading.mood == self.music_mood:
            self.music_confidence = reading.confidence
        if self.now is not None and self._transition is None:
            self._check_player(now)
        elif self.now is None and self._transition is None and not self.stopped_by_user:
            self._play_next()
        self._publish_state_if_changed()
        if self.now is not None and now - self._last_progress >= 1.0:
            self._last_progress = now
            self._emit(Progress)

    def _check_player(self, now: float) -> None:
        assert self.now is not None
        status = self.player.poll()
        played = status.position_s - self.now.start_offset_s
        if status.state in ("ended", "playing") and played > 0:
            self._failures = self._pauses = 0  # the audio path works again
        if status.state == "ended":
            self._finish("completed", status.duration_s or status.position_s, ended_by="end")
            self._play_next()
        elif status.state == "error":
            track = self.now.track
            if played > 0.5:  # it played, then broke off: a damaged file, not a codec
                error = (f"playback broke off at {status.position_s:.1f} s: the file is"
                         " truncated or damaged")
            else:
                error = "libvlc could not decode the file"
            self._finish("error", status.position_s, ended_by="end", error=error)
            self._unplayable(track, error)
            self._play_next()
        elif now - self.now.last_position_write >= self.position_interval_s:
            self.journal.update_position(self.now.event_id, status.position_s)
            self.now.last_position_write = now

    def status(self) -> SpeakerStatus:
        """The snapshot every event carries; built on the loop thread."""
        reading = self.mood.latest()
        n = self.now
        track = None
        state = "stopped"
        if n is not None:
            ps = self.player.poll()
            state = "paused" if ps.state == "paused" else "playing"
            t = n.track
            track = TrackInfo(t.title, t.artist, t.album, t.track_id,
                              ps.duration_s or t.duration_s, ps.position_s)
        elif not self.stopped_by_user and (self.note or self._first_wait_until is not None):
            state = "waiting"
        return SpeakerStatus(
            state=state, user=self.user, mood=reading.mood, confidence=reading.confidence,
            camera_ok=reading.camera_ok, music_mood=self.music_mood, override=self.override,
            override_until=self.override_until, volume=self.volume_target, muted=self.muted,
            track=track, genre=n.genre if n else None,
            explanation=n.explanation if n else None, note=self._note(),
            activity=self._activity() if self._activity else None,
        )

    def _note(self) -> str | None:
        if self.now is not None:
            return None
        if self.stopped_by_user:
            return "stopped by a command"
        if self._first_wait_until is not None:
            return "waiting for the camera's first look"
        return self.note

    def shutdown(self) -> None:
        reason, ended_by = "stopped", "shutdown"
        if self._transition is not None:  # close it as the command meant, start nothing
            reason, ended_by = self._transition.reason, self._transition.ended_by
            self._transition = None
        if self.now is not None:
            try:  # after the loop: a short blocking fade is fine here
                self.player.fade(0, min(0.5, self.volume_policy.fade_s))
            except Exception:  # never let a fade stop the journal from closing the listen
                log.exception("fade-out failed")
            self._finish(reason, self.player.poll().position_s, ended_by=ended_by)
        self.player.stop()

    # --- events --------------------------------------------------------------------

    def _emit(self, kind: type[Event], **detail) -> None:
        self.bus.publish(kind(status=self.status(), **detail))

    def _publish_state_if_changed(self) -> None:
        n = self.now
        key = (
            self._state_name(), self.volume_target, self.muted, self.user, self.override,
            self.override_until, self.music_mood, n.event_id if n else None, self._note(),
        )
        if key != self._last_key:
            what = "state" if self._last_key is None else self._what_changed(self._last_key, key)
            self._last_key = key
            self._emit(StateChanged, what=what)

    def _state_name(self) -> str:
        if self.now is None:
            return "stopped"
        return "paused" if self.player.poll().state == "paused" else "playing"

    @staticmethod
    def _what_changed(old: tuple, new: tuple) -> str:
        names = ("state", "volume", "mute", "user", "override", "override", "music_mood",
                 "track", "note")
        return ",".join(dict.fromkeys(n for n, a, b in zip(names, old, new, strict=True)
                                      if a != b))

    def _follow_camera(self, reading: MoodReading) -> None:
        key = (reading.mood, reading.camera_ok)
        if key != self._camera:
            self._camera = key
            self._emit(MoodChanged, mood=reading.mood, confidence=reading.confidence)

    # --- volume and fades ----------------------------------------------------------

    def _apply_level(self, level: int) -> None:
        self.player.set_volume(0 if self.muted else level)

    def _advance_fades(self, now: float) -> None:
        if self._transition is not None:
            self._apply_level(self._transition.fade.level(now))
            if self._transition.fade.done(now):
                self._finish_transition()
        if self._fade_in is not None:
            self._apply_level(self._fade_in.level(now))
            if self._fade_in.done(now):
                self._fade_in = None

    def _fade_to(self, target: int, seconds: float) -> None:
        """Start a ramp from where the player is now (the loop advances it)."""
        current = self.player.volume if not self.muted else target
        self._fade_in = Fade(current, target, self._clock(), seconds)
        self._advance_fades(self._clock())

    def _finish_transition(self) -> None:
        """A command arrived during a fade-out: complete it now, then obey the command."""
        if self._transition is not None:
            t, self._transition = self._transition, None
            if self.now is not None:
                self._finish(t.reason, self.player.poll().position_s, ended_by=t.ended_by)
                self.player.stop()
            t.then()

    def _end_then(self, reason: str, ended_by: str, then: Callable[[], None]) -> None:
        """Fade the current track out (non-blocking), close its listen, then ``then``."""
        self._finish_transition()
        self._fade_in = None
        if self.now is None:
            then()
            return
        fade = Fade(self.player.volume, 0, self._clock(), self.volume_policy.fade_s / 2)
        self._transition = _Transition(fade, reason, ended_by, then)
        self._advance_fades(self._clock())

    # --- playing -------------------------------------------------------------------

    def _start_first(self) -> None:
        """Resume the last listen if it was cut off (configurable), else wait briefly for
        the camera's first mood and pick. The wait is a state of the loop, not a sleep:
        a track picked for "unknown" would be faded out again a few seconds later."""
        self.picker.remember(reversed(self.journal.recent_track_ids(self.user, 50)))
        last = self.journal.last_closed()
        pos = self.resume_policy.candidate(last, self._wall())
        if last is not None and pos is not None and last.user == self.user:
            track = self.library.get(last.track_id)
            if track is not None and track.path == last.path:
                self.music_mood, self.music_confidence = last.mood, last.mood_confidence
                if self._start(track, track.genre or last.genre or "", last.mood,
                               f"resumed at {pos:.0f} s ({last.end_reason})", start_at=pos,
                               fade_in=True):
                    return
        self._first_wait_until = self._clock() + self.first_mood_wait_s

    def _switch_music(self, mood: str, confidence: float, reason: str) -> None:
        previous = self.music_mood
        self.music_mood, self.music_confidence = mood, confidence
        self.stats.mood_switches += 1
        self._emit(MusicMoodSwitched, previous=previous, mood=mood, reason=reason)
        if self.now is not None:
            self._end_then("skipped", "mood", lambda: self._play_next(fade_in=True))

    def _play_next(self, *, fade_in: bool = False) -> None:
        """Pick and start a track; unplayable picks are journalled and the next one tried."""
        self.stopped_by_user = False
        if self._clock() < self._picks_paused_until:
            return
        if not self.library.available():  # no journal rows while a disk is unplugged
            self._pause_picks("the library folder is unreachable")
            return
        for _ in range(self.MAX_FAILURES):
            pick = self.picker.pick(self.user, self.music_mood)
            if pick is None:
                self.note = "no playable tracks in the library"
                return
            self.stats.picks.append(pick)
            if self._start(pick.track, pick.genre, pick.mood, pick.explanation,
                           fade_in=fade_in):
                return
            if self._picks_paused_until > self._clock():
                return

    def _unplayable(self, track: Track, error: str) -> None:
        """A track failed to play (its listen is already closed as an error): stop
        offering it. Many failures in a row pause picking, with backoff."""
        self._failures += 1
        if not self.library.available():  # the disk went away, not this file
            self._pause_picks(f"the library folder is unreachable ({error})")
            return
        if self._pauses == 0:  # after a pause, failures look systemic: forget nothing more
            self.picker.drop(track.track_id)
            self.library.forget(track, error)
        log.warning("skipped unplayable track %s: %s", track.track_id, error)
        if self._failures >= self.MAX_FAILURES:
            self._pause_picks(f"{self._failures} plays in a row failed")

    def _pause_picks(self, why: str) -> None:
        self._pauses += 1
        delay = self.retry.delay(self._pauses)
        self._picks_paused_until = self._clock() + delay
        self.note = f"{why}; trying again in {delay:.0f} s"
        log.error("%s", self.note)

    def _start(self, track: Track, genre: str, mood: str, explanation: str, *,
               start_at: float = 0.0, fade_in: bool = False) -> bool:
        """Journal and start one play; False (listen closed as an error) if it cannot."""
        event_id = self.journal.start(
            user=self.user, track_id=track.track_id, path=track.path, genre=genre or None,
            mood=mood, mood_confidence=self.music_confidence if mood != UNKNOWN else 0.0,
            duration_s=track.duration_s, start_offset_s=start_at, explanation=explanation,
        )
        self.now = NowPlaying(event_id, track, genre, mood, explanation, self._clock(), start_at)
        self.now.last_position_write = self._clock()
        self.note = None
        self.stats.played += 1
        self.history.append(track)
        if self.stats.played > 1 and not self._volume_from_user:
            self.volume_target = self.volume_policy.volume
        target = 0 if self.muted else self.volume_target
        try:
            self.player.play(track.path, start_at=start_at, volume=0 if fade_in else target)
        except PlaybackError as exc:
            self._finish("error", start_at, ended_by="end", error=str(exc))
            self._unplayable(track, str(exc))
            return False
        if fade_in:
            self._fade_in = Fade(0, self.volume_target, self._clock(), self.volume_policy.fade_s)
        log.info("playing %s [%s] %s", track.label, genre, explanation)
        self._emit(TrackStarted, event_id=event_id)
        return True

    def _finish(self, reason: str, position_s: float, *, ended_by: str,
                error: str | None = None) -> None:
        """Close the current listen in the journal (and count it for learning)."""
        n, self.now = self.now, None
        if n is None:
            return
        played = max(0.0, position_s - n.start_offset_s)
        outcome = None
        if ended_by in ("user", "end") and n.genre and n.mood != UNKNOWN:
            outcome = self.rule.outcome(reason, played)
        feedback = (self.user, n.mood, n.genre, outcome) if outcome else None
        self.journal.end(n.event_id, reason, position_s, error=error, ended_by=ended_by,
                         feedback=feedback)
        if feedback:
            self.picker.record(n.mood, n.track, outcome)
        if reason == "completed":
            self.stats.completed += 1
        elif reason == "error":
            self.stats.errors += 1
        listen = self.journal.get(n.event_id)
        if listen is not None:
            self._emit(TrackEnded, listen=listen)

    # --- commands ------------------------------------------------------------------

    def _execute(self, cmd: c.Command, future: Future) -> c.CommandResult | None:
        ok = c.CommandResult(True)
        match cmd:
            case c.Next():
                self._end_then("skipped", "user", lambda: self._play_next(fade_in=True))
            case c.Previous():
                self._finish_transition()  # a "next" still fading out counts first
                prev = self.history[-2] if len(self.history) >= 2 else None
                if prev is None:
                    return c.CommandResult(False, "no previous track")
                self._end_then("skipped", "user", lambda: self._replay(prev))
            case c.Pause():
                self._finish_transition()
                self.player.pause()
            case c.Play():
                self._finish_transition()
                if self.now is None:
                    self.stopped_by_user = False
                    self._picks_paused_until = 0.0
                else:
                    self.player.resume()
            case c.Toggle():
                self._finish_transition()
                if self.now is None:
                    self.stopped_by_user = False
                else:
                    self.player.toggle()
            case c.Stop():
                self._end_then("stopped", "user", self._stopped)
            case c.SetVolume(level=level, delta=delta):
                base = self.volume_target
                self.volume_target = max(0, min(100, level if level is not None else
                                                base + (delta or 0)))
                self._volume_from_user = True
                if self.now is not None and self._transition is None:
                    self._fade_to(self.volume_target, 0.3)
                return c.CommandResult(True, detail=f"volume {self.volume_target}")
            case c.Mute(on=on):
                self.muted = (not self.muted) if on is None else on
                if self._transition is None:
                    self._fade_in = None
                    self._apply_level(self.volume_target)
                return c.CommandResult(True, detail="muted" if self.muted else "unmuted")
            case c.MoodOverride(mood=mood, minutes=minutes):
                return self._override(mood, minutes)
            case c.SetUser(name=name):
                return self._set_user(name, persist=True)
            case c.Rescan():
                return self._rescan()
            case c.Reload():
                return self._reload(future)
            case _:
                return c.CommandResult(False, f"unsupported command {cmd!r}")
        return ok

    def _replay(self, track: Track) -> None:
        if not self._start(track, track.genre or "", self.music_mood, f"again: {track.label}",
                           fade_in=True):
            self._play_next(fade_in=True)

    def _stopped(self) -> None:
        self.stopped_by_user = True

    def _override(self, mood: str | None, minutes: float | None) -> c.CommandResult:
        if mood is None:
            self.override = self.override_until = None
            log.info("mood override off: the camera decides again")
            return c.CommandResult(True, detail="mood auto")
        self.override = mood
        self.override_until = None if minutes is None else self._wall() + minutes * 60.0
        if mood != self.music_mood:
            self._switch_music(mood, 1.0, "override")
        span = "until 'auto'" if minutes is None else f"for {minutes:g} min"
        log.info("mood override: %s %s", mood, span)
        return c.CommandResult(True, detail=f"mood {mood} {span}")

    def _expire_override(self) -> None:
        if self.override_until is not None and self._wall() >= self.override_until:
            log.info("mood override %s expired: the camera decides again", self.override)
            self.override = self.override_until = None

    def _rescan(self) -> c.CommandResult:
        if self.jobs is None:
            return c.CommandResult(False, "rescan is not available here")

        def then(result: list[Track] | Exception) -> None:
            if isinstance(result, Exception):
                log.error("rescan failed: %s", result)
                return
            self.picker.set_tracks(result)
            log.info("rescan done: %d playable tracks", self.picker.size)
            self._emit(StateChanged, what="library")

        if not self.jobs.rescan(lambda r: self.call_soon(lambda: then(r))):
            return c.CommandResult(False, "a rescan is already running")
        return c.CommandResult(True, detail="rescan started")

    def _reload(self, future: Future) -> c.CommandResult | None:
        """Answered later, when the job has loaded the models (or failed to)."""
        if self.jobs is None:
            return c.CommandResult(False, "reload is not available here")

        def then(result: object) -> None:
            if isinstance(result, Exception):
                outcome = c.CommandResult(False, f"models not reloaded, the old ones stay: "
                                                 f"{result}")
            else:
                self.picker.taste = result  # type: ignore[assignment]
                outcome = c.CommandResult(True, detail="models reloaded")
                log.info("models reloaded")
            self._answer(future, outcome)

        self.jobs.reload(lambda r: self.call_soon(lambda: then(r)))
        return None

    def _set_user(self, user: str, *, persist: bool = False) -> c.CommandResult:
        """The active-user file is the one source of truth: a command writes it (then
        follows it), ``moodspeaker user NAME`` writes it, and the loop follows it."""
        if persist and self.user_file is not None:
            try:
                write_active_user(self.user_file, user)
                self._user_file_mtime = self.user_file.stat().st_mtime
            except OSError as exc:
                return c.CommandResult(False, f"cannot record the active user in "
                                              f"{self.user_file}: {exc.strerror or exc}")
        if user and user != self.user:
            log.info("active user: %s -> %s", self.user, user)
            self.user = user
            if self.jobs is not None:  # their counts and mood targets, from the journal
                self.jobs.learning(user, lambda r: self.call_soon(
                    lambda: self._apply_learning(user, r)))

        return c.CommandResult(True, detail=f"user {user}")

    def _apply_learning(self, user: str, result: object) -> None:
        if isinstance(result, Exception):
            log.error("cannot load what %s's listens taught: %s", user, result)
        elif user == self.user:  # not switched again meanwhile
            self.picker.set_learning(*result)  # type: ignore[misc]

    def _poll_user_file(self) -> None:
        if self.user_file is None:
            return
        try:
            mtime = self.user_file.stat().st_mtime
        except OSError:
            return
        if mtime != self._user_file_mtime:
            self._user_file_mtime = mtime
            try:
                name = self.user_file.read_text(encoding="utf-8").strip()
            except OSError:
                return
            if name:
                self._set_user(name)
