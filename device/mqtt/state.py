"""The speaker's state out: the retained ``state`` JSON and the ``mood`` messages, from the
loop's events (on their own listener thread); the newest state is published again after
every reconnect, and nothing stale is queued while disconnected."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from device.loop.events import Event, MoodChanged, Progress, SpeakerStatus, TrackEnded
from device.mqtt.communicator import Communicator
from device.shared.mqtt_protocol import Topics


def state_payload(st: SpeakerStatus) -> dict[str, Any]:
    """The retained ``state`` JSON (docs/mqtt.md, "Topics")."""
    track = None
    if st.track is not None:
        t = st.track
        track = {"title": t.title or t.track_id, "artist": t.artist, "album": t.album,
                 "duration_s": _round(t.duration_s), "position_s": _round(t.position_s)}
    return {
        "state": st.state, "track": track, "genre": st.genre, "music_mood": st.music_mood,
        "mood": st.mood, "confidence": round(st.confidence, 3), "camera_ok": st.camera_ok,
        "override": st.override, "override_until": _round(st.override_until),
        "volume": st.volume, "muted": st.muted, "user": st.user,
        "explanation": st.explanation, "note": st.note,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


class StatePublisher:
    def __init__(self, comms: Communicator, topics: Topics,
                 on_track_ended: Callable[[], None]):
        self.comms = comms
        self.topics = topics
        self._on_track_ended = on_track_ended  # the outbox has a new listen to send
        self._state: bytes | None = None
        self._connected = False
        self._lock = threading.Lock()  # orders reconnects and events: newest state wins

    def connection(self, up: bool) -> None:
        with self._lock:
            self._connected = up
            if up and self._state is not None:
                self.comms.publish(self.topics.state, self._state, retain=True)

    def on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            return
        if isinstance(event, TrackEnded):
            self._on_track_ended()
        state = json.dumps(state_payload(event.status)).encode()
        with self._lock:
            if isinstance(event, MoodChanged) and self._connected:
                self.comms.publish(self.topics.mood, json.dumps(
                    {"mood": event.mood, "confidence": round(event.confidence, 3),
                     "camera_ok": event.status.camera_ok}))
            if state == self._state:
                return
            self._state = state
            if self._connected:
                self.comms.publish(self.topics.state, state, retain=True)
