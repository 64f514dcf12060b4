"""A whole speaker on a real broker, and a remote control for it (tests only).

The speaker is the real one (``device.system.app.run_speaker``: real libvlc with the dummy audio
output, real journal, real library of synthesised tones, real MQTT bridge); only the camera
is absent (``FixedMood`` stands in for it: there is no camera on this machine).
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from device.perception.mood_watch import FixedMood
from device.shared.mqtt_client import MqttSettings
from device.shared.mqtt_protocol import Topics
from device.system.app import Parts, run_speaker
from device.system.config import Config, config_from_dict
from device.system.demo import make_library
from tests.harness.broker import subscribed_client
from tests.harness.speaker import Quiet


def speaker_config(tmp: Path, settings: MqttSettings, device_id: str = "spk1",
                   **over) -> Config:
    make_library(tmp / "lib", per_genre=2, seconds=over.pop("track_s", 30.0))
    raw = {
        "library": {"path": str(tmp / "lib")},
        "state": {"dir": str(tmp / "state")},
        "audio": {"output": "dummy", "fade_s": 0.4},
        "camera": {"source": "none"},
        "picker": {"no_repeat": 2, "seed": 3},
        "mqtt": {"host": settings.host, "port": settings.port, "device_id": device_id,
                 "commands_per_minute": 10_000, "sync_ack_timeout_s": 3.0,
                 "discovery_spread_s": 0.5},
    }
    if settings.username:
        raw["mqtt"].update(username=settings.username, password=settings.password)
    if settings.tls_ca:
        raw["mqtt"]["tls_ca"] = str(settings.tls_ca)
    for k, v in over.items():
        raw.setdefault(k, {}).update(v)
    return config_from_dict(raw)


@contextlib.contextmanager
def running(cfg: Config, mood=None) -> Iterator[Parts]:
    """The speaker on a thread until the block ends (then a clean stop, like SIGTERM)."""
    stop = threading.Event()
    ready: queue.Queue[Parts] = queue.Queue()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            run_speaker(cfg, stop, mood=mood or FixedMood("happy", 0.9), status=Quiet(),
                        on_ready=ready.put)
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)
            ready.put(None)  # type: ignore[arg-type]

    t = threading.Thread(target=main, name="speaker-under-test")
    t.start()
    parts = ready.get(timeout=30)
    try:
        if parts is None:
            raise errors[0]
        yield parts
    finally:
        stop.set()
        if parts is not None:
            parts.speaker.wake()
        t.join(30)
        assert not t.is_alive(), "the speaker did not stop"
    if errors:
        raise errors[0]


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool

    def json(self):
        return json.loads(self.payload)


class Remote:
    """A plain paho client: sends commands, collects everything under the device's tree."""

    def __init__(self, settings: MqttSettings, topics: Topics, *,
                 subscribe: str | None = None):
        self.topics = topics
        self.messages: queue.Queue[Message] = queue.Queue()
        self.seen: list[Message] = []
        self.client = subscribed_client(
            settings, f"remote-{uuid.uuid4().hex[:8]}", subscribe or f"{topics.root}/#",
            lambda c, u, m: self.messages.put(Message(m.topic, m.payload, m.retain)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def wait_for(self, pred, timeout: float = 10.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(m)
            if pred(m):
                return m
        raise AssertionError(f"no matching message within {timeout} s; saw "
                             f"{[(m.topic, m.payload[:80]) for m in self.seen[-10:]]}")

    def state(self, pred=lambda s: True, timeout: float = 10.0) -> dict:
        """The speaker's current state once ``pred`` holds for it: the newest state already
        seen (a state can arrive before the result of the command that caused it, while
        ``set`` waits for that result), else the next that matches."""
        states = [m for m in self.seen if m.topic == self.topics.state]
        if states and pred(states[-1].json()):
            return states[-1].json()
        return self.wait_for(lambda m: m.topic == self.topics.state and pred(m.json()),
                             timeout).json()

    def set(self, command: str, payload: str | bytes = "", timeout: float = 10.0) -> dict:
        """``set/<command>`` and wait for its ``command/result``."""
        self.client.publish(f"{self.topics.root}/set/{command}", payload, qos=1)
        return self.result(timeout=timeout)

    def command(self, body, timeout: float = 10.0) -> dict:
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        self.client.publish(self.topics.command, raw, qos=1)
        return self.result(timeout=timeout)

    def result(self, timeout: float = 10.0) -> dict:
        return self.wait_for(lambda m: m.topic == self.topics.command_result, timeout).json()
