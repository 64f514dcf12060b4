"""The speaker loop: mood -> pick -> play -> journal, on one thread that owns all of it.

The camera runs on its own thread (``device.perception.mood_watch``); everything that
touches the player, the journal and the picker happens here, so there is no shared mutable
state. Other threads talk to the loop only through its inbox: typed commands
(``device.shared.commands``), each answered through a ``Future``, and work handed back by
background jobs (a rescan, a model reload). The loop talks back only through events
(``device.loop.events``). It never sleeps and never touches the network: fades advance one
step per tick, slow work runs elsewhere.

The loop itself is thin: it owns the inbox, the clock and the tick, and dispatches each
command to the controller whose job it is (as Mopidy's core does): ``PlaybackController``
(the track, transitions, volume), ``Picks`` (what plays next), ``MoodFollower`` (which mood
the music follows), ``Session`` (who listens) and ``LibraryJobs`` (rescan, reload).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from device.loop.context import (
    Clock,
    LoopContext,
    LoopParts,
    LoopSettings,
    SpeakerStats,
)
from device.loop.events import Event, EventBus, Progress, SpeakerStatus
from device.loop.library_jobs import LibraryJobs
from device.loop.mood import MoodFollower
from device.loop.picks import Picks
from device.loop.playback import NowPlaying, PlaybackController
from device.loop.session import Session
from device.loop.status import StatusReporter
from device.music.picker import Picker
from device.playback.base import Player
from device.shared import commands as c
from device.shared.listens import Listen
from device.system.config import ResumeConfig

log = logging.getLogger(__name__)

_InboxItem = tuple[c.Command, Future] | Callable[[], None] | None


def resume_position(cfg: ResumeConfig, last: Listen | None, now: float) -> float | None:
    """Where to resume ``last`` at start, or None (not cut off, too old, nearly over)."""
    if not cfg.enabled or last is None or last.ended_at is None:
        return None
    if last.end_reason != "interrupted" and not (
        cfg.after_stop and last.end_reason == "stopped"
    ):
        return None
    if now - last.ended_at > cfg.max_age_s:
        return None
    pos = max(0.0, last.position_s - cfg.rewind_s)
    if last.duration_s and pos >= last.duration_s - 5.0:
        return None
    return pos


class Speaker:
    """The loop on one thread: reads the mood, drives the player, writes the journal."""

    FADE_TICK_S = 0.05  # the loop ticks faster while a fade runs, so it sounds smooth
    MAX_BATCH = 50  # inbox items handled between two ticks: a flood cannot starve the loop

    def __init__(self, parts: LoopParts, settings: LoopSettings | None = None, *,
                 bus: EventBus | None = None, clock: Clock | None = None,
                 watchdog: Callable[[], None] | None = None,
                 activity: Callable[[], str | None] | None = None):
        self.parts = parts
        self.settings = settings or LoopSettings()
        self.bus = bus or EventBus()
        self.stats = SpeakerStats()
        self._watchdog = watchdog
        self._inbox: queue.Queue[_InboxItem] = queue.Queue()
        self._last_progress = 0.0
        ctx = self.ctx = LoopContext(parts, self.settings, clock or Clock(), self.stats,
                                     self._emit, self.call_soon)
        ctx.playback = self.playback = PlaybackController(ctx)
        ctx.picks = self.picks = Picks(ctx)
        ctx.mood = self.mood = MoodFollower(ctx)
        ctx.session = self.session = Session(ctx)
        ctx.library_jobs = self.library_jobs = LibraryJobs(ctx, self._answer)
        self.reporter = StatusReporter(ctx, activity)
        self._handlers = self._dispatch_table()
        self.session.poll_user_file()

    def _dispatch_table(self) -> dict[type, Callable[[c.Command, Future], c.CommandResult
                                                      | None]]:
        """The handler of every command in ``device.shared.commands.COMMAND_TABLE``."""
        pb, ok = self.playback, c.CommandResult(True)

        def done(action: Callable[[], object]) -> Callable[[c.Command, Future], c.CommandResult]:
            def handler(_cmd: c.Command, _f: Future) -> c.CommandResult:
                action()
                return ok
            return handler

        def previous(_cmd, _f):
            return ok if pb.previous() else c.CommandResult(False, "no previous track")

        def volume(cmd, _f):
            return c.CommandResult(True, detail=f"volume {pb.set_volume(cmd.level, cmd.delta)}")

        def mute(cmd, _f):
            return c.CommandResult(True, detail="muted" if pb.mute(cmd.on) else "unmuted")

        handlers: dict[type, Callable] = {
            c.Play: done(pb.play),
            c.Pause: done(pb.pause),
            c.Toggle: done(pb.toggle),
            c.Next: done(pb.skip),
            c.Previous: previous,
            c.Stop: done(pb.stop),
            c.SetVolume: volume,
            c.Mute: mute,
            c.MoodOverride: lambda cmd, _f: self.mood.set_override(cmd.mood, cmd.minutes),
            c.SetUser: lambda cmd, _f: self.session.set_user(cmd.name, persist=True),
            c.Rescan: lambda _c, _f: self.library_jobs.rescan(),
            c.Reload: lambda _c, f: self.library_jobs.reload(f),
        }
        missing = {spec.name for spec in c.COMMAND_TABLE if spec.type not in handlers}
        if missing:  # a command added to the table without a handler: fail at start
            raise RuntimeError(f"the loop has no handler for {sorted(missing)}")
        return handlers

    # --- what tests and listeners read --------------------------------------------

    @property
    def picker(self) -> Picker:
        return self.parts.picker

    @picker.setter
    def picker(self, picker: Picker) -> None:
        self.parts.picker = picker

    @property
    def player(self) -> Player:
        return self.parts.player

    @property
    def now(self) -> NowPlaying | None:
        return self.playback.now

    @property
    def user(self) -> str:
        return self.session.user

    @property
    def volume_target(self) -> int:
        return self.playback.volume_target

    @property
    def note(self) -> str | None:
        return self.picks.note

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
        clock = self.ctx.clock.monotonic
        deadline = None if seconds is None else clock() + seconds
        self.start()
        try:
            while not stop.is_set():
                if deadline is not None and clock() >= deadline:
                    break
                self.step()
                self._wait(self.tick_seconds())
        finally:
            self.shutdown()
        return self.stats

    def start(self) -> None:
        """Close what a crash left open, then resume or wait for the first mood."""
        self.recover()
        self._start_first()

    def tick_seconds(self) -> float:
        """How long until the next tick: shorter while a fade runs."""
        return self.FADE_TICK_S if self.playback.fading else self.settings.tick_s

    def _wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the inbox; handle what came (at most a batch)."""
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return
        self._drain(item)

    def handle_pending(self) -> None:
        """Handle what is in the inbox now, without waiting (a test clock's tick)."""
        try:
            item = self._inbox.get_nowait()
        except queue.Empty:
            return
        self._drain(item)

    def _drain(self, item: _InboxItem) -> None:
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
            result = self._handlers[type(command)](command, future)
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
        for listen in self.parts.journal.recover():
            log.warning(
                "journal: listen of %s was cut off at %.1f s; closed as interrupted",
                listen.track_id, listen.position_s,
            )

    def step(self) -> None:
        """One tick: watchdog, user file, fades, mood policy, end of track, journal, events."""
        if self._watchdog is not None:
            self._watchdog()
        self.parts.journal.flush_pending()  # writes that waited for disk space, if any
        self.session.poll_user_file()
        now = self.ctx.now()
        self.playback.advance_fades(now)
        reading = self.parts.mood.latest()
        self.mood.announce(reading)
        if self.mood.waiting(reading, now):
            self._publish_state_if_changed()
            return
        self.mood.follow(reading, now)
        if self.playback.busy:
            self.playback.check(now)
        elif self.playback.idle and not self.playback.stopped_by_user:
            self.picks.play_next()
        self._publish_state_if_changed()
        if self.playback.now is not None and now - self._last_progress >= 1.0:
            self._last_progress = now
            self._emit(Progress)

    def _start_first(self) -> None:
        """Resume the last listen if it was cut off (configurable), else wait briefly for
        the camera's first mood and pick."""
        user, journal = self.session.user, self.parts.journal
        self.parts.picker.remember(reversed(journal.recent_track_ids(user, 50)))
        last = journal.last_closed()
        pos = resume_position(self.settings.resume, last, self.ctx.clock.wall())
        if last is not None and pos is not None and last.user == user:
            track = self.parts.library.get(last.track_id)
            if track is not None and track.path == last.path:
                self.mood.music_mood = last.mood
                self.mood.music_confidence = last.mood_confidence
                if self.playback.start(track, track.genre or last.genre or "", last.mood,
                                       f"resumed at {pos:.0f} s ({last.end_reason})",
                                       start_at=pos, fade_in=True):
                    return
        self.mood.wait_for_first_look()

    def shutdown(self) -> None:
        self.playback.shutdown()

    # --- status and events ---------------------------------------------------------

    def status(self) -> SpeakerStatus:
        """The snapshot every event carries; built on the loop thread."""
        return self.reporter.status()

    def _emit(self, kind: type[Event], **detail) -> None:
        self.bus.publish(kind(status=self.reporter.status(), **detail))

    def _publish_state_if_changed(self) -> None:
        self.reporter.publish_if_changed()
