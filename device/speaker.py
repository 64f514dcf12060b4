"""The speaker loop: mood -> pick -> play -> journal, a few times a second, on one thread.

The camera runs on its own thread (``device.mood_watch``); everything that touches the
player, the journal and the picker happens here, so there is no shared mutable state to
lock beyond the command queue. Commands (next, previous, pause, toggle, stop, volume,
user) arrive through ``Speaker.command()`` from any thread (CLI, a later MQTT bridge).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .journal import Journal, Listen
from .learning import FeedbackTable, LearningRule
from .library import Track
from .mood_watch import UNKNOWN, Backoff, MoodReading, MoodSource
from .picker import Pick, Picker
from .player import PlaybackError

log = logging.getLogger(__name__)

COMMANDS = ("next", "previous", "pause", "resume", "toggle", "stop", "play", "volume", "user")


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


@dataclass(frozen=True)
class SpeakerStatus:
    """One snapshot for the status line (and later MQTT state)."""

    mood: str
    confidence: float
    music_mood: str
    user: str
    state: str
    track: str | None
    genre: str | None
    explanation: str | None
    position_s: float
    duration_s: float | None
    volume: int
    camera_ok: bool


@dataclass
class SpeakerStats:
    played: int = 0
    completed: int = 0
    errors: int = 0
    mood_switches: int = 0
    picks: deque[Pick] = field(default_factory=lambda: deque(maxlen=1000))  # the latest


class Catalog(Protocol):
    """The library as the loop sees it (``device.app.IndexCatalog`` over the SQLite index)."""

    def get(self, track_id: str) -> Track | None: ...

    def available(self) -> bool:
        """Whether the music folder is reachable at all (an unplugged disk is not)."""
        ...

    def forget(self, track: Track, error: str) -> None:
        """This track failed to play: stop offering it until its file changes."""
        ...


class Speaker:
    """The loop on one thread: reads the mood, drives the player, writes the journal."""

    MAX_FAILURES = 20  # failed plays in a row before picks pause (with backoff)

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
        on_status: Callable[[SpeakerStatus], None] | None = None,
        retry: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
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
        self.on_status = on_status
        self._clock = clock
        self.commands: queue.Queue[tuple[str, object]] = queue.Queue()
        self.now: NowPlaying | None = None
        self.music_mood = UNKNOWN
        self.music_confidence = 0.0
        self.history: deque[Track] = deque(maxlen=50)  # for "previous"
        self.stopped_by_user = False
        self.stats = SpeakerStats()
        self.retry = retry or Backoff(30.0, 600.0)
        self._failures = 0  # plays in a row that failed
        self._pauses = 0  # pick pauses since the last good play (backoff exponent)
        self._picks_paused_until = 0.0
        # The first track after a start (a reboot at night, a crash) plays at most at the
        # cap; later tracks at the configured volume, unless a volume command set one.
        self.volume_target = min(self.volume_policy.volume, self.volume_policy.startup_cap)
        self._volume_from_user = False
        self._poll_user_file()

    # --- public --------------------------------------------------------------------

    def command(self, name: str, arg: object = None) -> None:
        """Thread-safe: queue a transport command for the loop."""
        if name not in COMMANDS:
            raise ValueError(f"unknown command {name!r}; one of {COMMANDS}")
        self.commands.put((name, arg))

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
                stop.wait(self.tick_s)
        finally:
            self.shutdown()
        return self.stats

    def recover(self) -> None:
        """Close listens a crash left open, before anything new is written."""
        for listen in self.journal.recover():
            log.warning(
                "journal: listen of %s was cut off at %.1f s; closed as interrupted",
                listen.track_id, listen.position_s,
            )

    def step(self) -> None:
        """One tick: commands, the user file, mood policy, end of track, journal, status."""
        self._drain_commands()
        self._poll_user_file()
        reading = self.mood.latest()
        now = self._clock()
        if self.now is not None and self.mood_policy.should_switch(self.music_mood, reading, now):
            log.info("mood %s -> %s (%.2f): switching music", self.music_mood, reading.mood,
                     reading.confidence)
            self.music_mood, self.music_confidence = reading.mood, reading.confidence
            self.stats.mood_switches += 1
            self._advance("skipped", ended_by="mood", fade=True)
        elif reading.mood == self.music_mood:
            self.music_confidence = reading.confidence
        if self.now is not None:
            status = self.player.poll()
            if status.state in ("ended", "playing") and status.position_s > self.now.start_offset_s:
                self._failures = self._pauses = 0  # the audio path works again
            if status.state == "ended":
                self._finish("completed", status.duration_s or status.position_s, ended_by="end")
                self._play_next()
            elif status.state == "error":
                track, error = self.now.track, "libvlc could not decode the file"
                self._finish("error", status.position_s, ended_by="end", error=error)
                self._unplayable(track, error)
                self._play_next()
            elif now - self.now.last_position_write >= self.position_interval_s:
                self.journal.update_position(self.now.event_id, status.position_s)
                self.now.last_position_write = now
        elif not self.stopped_by_user:
            self._play_next()
        if self.on_status is not None:
            self.on_status(self.status(reading))

    @property
    def now_track_id(self) -> str | None:
        return self.now.track.track_id if self.now else None

    def status(self, reading: MoodReading | None = None) -> SpeakerStatus:
        reading = reading or self.mood.latest()
        ps = self.player.poll()
        n = self.now
        return SpeakerStatus(
            mood=reading.mood, confidence=reading.confidence, music_mood=self.music_mood,
            user=self.user, state=ps.state if n else "stopped",
            track=n.track.label if n else None, genre=n.genre if n else None,
            explanation=n.explanation if n else None, position_s=ps.position_s,
            duration_s=ps.duration_s or (n.track.duration_s if n else None),
            volume=ps.volume, camera_ok=reading.camera_ok,
        )

    def shutdown(self) -> None:
        if self.now is not None:
            try:
                self.player.fade(0, min(0.5, self.volume_policy.fade_s))
            except Exception:  # never let a fade stop the journal from closing the listen
                log.exception("fade-out failed")
            self._finish("stopped", self.player.poll().position_s, ended_by="shutdown")
        self.player.stop()

    # --- playing -------------------------------------------------------------------

    def _first_mood(self) -> None:
        """Before the very first pick, give the camera ``first_mood_wait_s`` to see a face
        and follow a confident first reading at once: nothing is playing yet that a
        hasty switch could interrupt, and a track picked for "unknown" would be faded
        out again a few seconds later."""
        deadline = self._clock() + self.first_mood_wait_s
        reading = self.mood.latest()
        while reading.frames == 0 and self._clock() < deadline:
            time.sleep(0.05)
            reading = self.mood.latest()
        if reading.mood != UNKNOWN and reading.confidence >= self.mood_policy.switch_confidence:
            self.music_mood, self.music_confidence = reading.mood, reading.confidence

    def _start_first(self) -> None:
        """Resume the last listen if it was cut off (configurable), else pick."""
        self.picker.remember(reversed(self.journal.recent_track_ids(self.user, 50)))
        last = self.journal.last_closed()
        pos = self.resume_policy.candidate(last, time.time())
        if last is not None and pos is not None and last.user == self.user:
            track = self.library.get(last.track_id)
            if track is not None and track.path == last.path:
                self.music_mood = last.mood
                if self._start(track, track.genre or last.genre or "", last.mood,
                               f"resumed at {pos:.0f} s ({last.end_reason})", start_at=pos,
                               fade_in=True):
                    return
        self._first_mood()
        self._play_next(fade_in=True)

    def _play_next(self, *, fade_in: bool = False) -> None:
        """Pick and start a track; unplayable picks are journalled and the next one tried."""
        if self._clock() < self._picks_paused_until:
            return
        if not self.library.available():  # no journal rows while a disk is unplugged
            self._pause_picks("the library folder is unreachable")
            return
        for _ in range(self.MAX_FAILURES):
            pick = self.picker.pick(self.user, self.music_mood)
            if pick is None:
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
        log.error("%s; trying again in %.0f s", why, delay)

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
        self.stats.played += 1
        self.history.append(track)
        if self.stats.played > 1 and not self._volume_from_user:
            self.volume_target = self.volume_policy.volume
        target = self.volume_target
        try:
            self.player.play(track.path, start_at=start_at, volume=0 if fade_in else target)
        except PlaybackError as exc:
            self._finish("error", start_at, ended_by="end", error=str(exc))
            self._unplayable(track, str(exc))
            return False
        if fade_in:
            self.player.fade(target, self.volume_policy.fade_s)
        log.info("playing %s [%s] %s", track.label, genre, explanation)
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
        if feedback and self.picker.feedback is not None:
            self.picker.feedback.record(n.mood, n.genre, outcome)
        if reason == "completed":
            self.stats.completed += 1
        elif reason == "error":
            self.stats.errors += 1

    def _advance(self, reason: str, *, ended_by: str, fade: bool, track: Track | None = None):
        """End the current track (fading out) and start the next (fading in)."""
        if self.now is not None:
            if fade:
                self.player.fade(0, self.volume_policy.fade_s / 2)
            self._finish(reason, self.player.poll().position_s, ended_by=ended_by)
            self.player.stop()
        self.stopped_by_user = False
        if track is not None and self._start(track, track.genre or "", self.music_mood,
                                             f"again: {track.label}", fade_in=fade):
            return
        self._play_next(fade_in=fade)

    # --- commands ------------------------------------------------------------------

    def _drain_commands(self) -> None:
        while True:
            try:
                name, arg = self.commands.get_nowait()
            except queue.Empty:
                return
            self._do(name, arg)

    def _do(self, name: str, arg: object) -> None:
        if name == "next":
            self._advance("skipped", ended_by="user", fade=True)
        elif name == "previous":
            prev = self.history[-2] if len(self.history) >= 2 else None
            self._advance("skipped", ended_by="user", fade=True, track=prev)
        elif name == "pause":
            self.player.pause()
        elif name in ("resume", "play"):
            if self.now is None:
                self.stopped_by_user = False
            else:
                self.player.resume()
        elif name == "toggle":
            self.player.toggle()
        elif name == "stop":
            if self.now is not None:
                self.player.fade(0, self.volume_policy.fade_s / 2)
                self._finish("stopped", self.player.poll().position_s, ended_by="user")
                self.player.stop()
            self.stopped_by_user = True
        elif name == "volume":
            self.volume_target = max(0, min(100, int(arg)))  # type: ignore[call-overload]
            self._volume_from_user = True
            self.player.fade(self.volume_target, 0.3)
        elif name == "user":
            self._set_user(str(arg))

    def _set_user(self, user: str) -> None:
        if user and user != self.user:
            log.info("active user: %s -> %s", self.user, user)
            self.user = user
            if self.picker.feedback is not None:
                self.picker.feedback = FeedbackTable(
                    self.rule, self.journal.feedback_counts(user)
                )

    def _poll_user_file(self) -> None:
        """``moodspeaker user NAME`` writes this file; a running speaker follows it."""
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
            self._set_user(name)
