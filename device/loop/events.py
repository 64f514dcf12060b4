"""What the speaker loop tells the world: typed events, one queue and thread per listener.

The loop publishes an event at each transition (a track starts or ends, the mood the music
follows switches, the camera's mood changes, state, volume, user or override change) and
never waits for anyone: ``publish`` only appends to each subscriber's bounded queue. A slow
subscriber loses its oldest events (counted), a failing one logs and goes on; neither can
stall the music. This is Mopidy's core/listener split.

Every event carries the loop's ``SpeakerStatus`` snapshot at that moment, so a subscriber
never has to reach back into the loop's state from its own thread.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from device.shared.listens import Listen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackInfo:
    title: str | None
    artist: str | None
    album: str | None
    track_id: str
    duration_s: float | None
    position_s: float


@dataclass(frozen=True)
class SpeakerStatus:
    """The loop's state as the status line, systemd and MQTT ``state`` show it."""

    state: str  # playing | paused | stopped | waiting
    user: str
    mood: str  # what the camera sees now
    confidence: float
    camera_ok: bool
    music_mood: str  # what the music follows
    override: str | None  # a mood set by command, or None (camera decides)
    override_until: float | None  # epoch seconds, None = until "auto"
    volume: int
    muted: bool
    track: TrackInfo | None = None
    genre: str | None = None
    explanation: str | None = None
    note: str | None = None  # why the speaker is waiting or stopped, in words
    activity: str | None = None  # background work, e.g. "scoring 120/1000"


@dataclass(frozen=True)
class Event:
    status: SpeakerStatus


@dataclass(frozen=True)
class TrackStarted(Event):
    event_id: str


@dataclass(frozen=True)
class TrackEnded(Event):
    listen: Listen  # the closed journal row


@dataclass(frozen=True)
class MoodChanged(Event):
    """The camera's smoothed mood changed (whether or not the music follows)."""

    mood: str
    confidence: float


@dataclass(frozen=True)
class MusicMoodSwitched(Event):
    previous: str
    mood: str
    reason: str  # camera | override | auto


@dataclass(frozen=True)
class StateChanged(Event):
    """Playback state, volume, mute, user or override changed."""

    what: str


@dataclass(frozen=True)
class Progress(Event):
    """Once a second while a track plays: for the live status line only."""


class Subscription:
    """One listener's queue and the thread that drains it into its callback."""

    def __init__(self, name: str, callback: Callable[[Event], None], maxsize: int,
                 on_close: Callable[[Subscription], None] | None = None):
        self.name = name
        self.callback = callback
        self.queue: queue.Queue[Event | None] = queue.Queue(maxsize)
        self.dropped = 0
        self.closed = False
        self._on_close = on_close  # the bus forgets this subscription
        self._thread = threading.Thread(target=self._run, name=f"events-{name}", daemon=True)
        self._thread.start()

    def offer(self, event: Event) -> None:
        """Never blocks: a full queue loses its oldest event. A closed one takes nothing."""
        while not self.closed:
            try:
                self.queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    continue
                self.dropped += 1
                if self.dropped in (1, 100, 10_000):
                    log.warning("events: listener %s is behind; %d events dropped",
                                self.name, self.dropped)

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            if event is None:
                return
            try:
                self.callback(event)
            except Exception:
                log.exception("events: listener %s failed on %s", self.name,
                              type(event).__name__)

    def close(self, timeout: float = 5.0) -> None:
        """Leave the bus, deliver what is queued, then stop the thread. Closing twice is a no-op."""
        if self.closed:
            return
        self.closed = True
        if self._on_close is not None:
            self._on_close(self)
        while True:
            try:
                self.queue.put(None, timeout=timeout)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()
        self._thread.join(timeout)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, name: str, callback: Callable[[Event], None], *,
                  maxsize: int = 1000) -> Subscription:
        """Queue events for ``callback`` on its own thread until ``close()`` (its or the bus's)."""
        sub = Subscription(name, callback, maxsize, on_close=self._forget)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _forget(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.offer(event)

    def close(self) -> None:
        with self._lock:
            subs, self._subs = self._subs, []
        for sub in subs:
            sub.close()
