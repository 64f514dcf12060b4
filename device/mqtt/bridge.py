"""The speaker on MQTT: remote control in, retained state and mood out, Home Assistant
discovery, the listening-log outbox and model delivery.

Threads: paho's network thread receives (commands are parsed and rate-limited there, then
handed to the loop with ``Speaker.submit``; each answer is published from the future's
callback), one event listener publishes state, the outbox and the model receiver each have
their own. The loop never waits for the network: while the broker is away the speaker
plays and journals, and after each reconnect the retained state, availability and
discovery are published again and the outbox resends what was not acknowledged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from device.loop.events import Event, MoodChanged, Progress, SpeakerStatus, TrackEnded
from device.mqtt.model_receiver import ModelReceiver
from device.mqtt.outbox import Outbox, OutboxSettings
from device.shared.clirunner import package_version
from device.shared.commands import COMMAND_NAMES, CommandError, CommandResult, parse_command
from device.shared.mqtt_client import MqttSettings, make_client, start
from device.shared.mqtt_protocol import MAX_CHUNK_BYTES, ProtocolError, Topics, decode_ack
from device.system.config import Config

log = logging.getLogger(__name__)


class RateLimit:
    """At most ``per_minute`` commands in any 60 s (a flood is refused, not queued)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        now = self._clock()
        with self._lock:
            while self._times and now - self._times[0] >= 60.0:
                self._times.popleft()
            if len(self._times) >= self.per_minute:
                return False
            self._times.append(now)
            return True


def state_payload(st: SpeakerStatus) -> dict[str, Any]:
    """The retained ``state`` JSON (README: MQTT)."""
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


class MqttBridge:
    def __init__(
        self,
        *,
        settings: MqttSettings,
        topics: Topics,
        submit: Callable,  # Speaker.submit
        subscribe: Callable,  # EventBus.subscribe
        outbox: Outbox,
        receiver: ModelReceiver,
        discovery: tuple[str, dict | None] | None = None,  # (topic, payload or None: remove)
        ha_status_topic: str | None = None,
        max_payload: int = 4096,
        rate: RateLimit | None = None,
    ):
        self.settings = settings
        self.topics = topics
        self.submit = submit
        self.outbox = outbox
        self.receiver = receiver
        self.discovery = discovery
        self.ha_status_topic = ha_status_topic
        self.max_payload = max_payload
        self.rate = rate or RateLimit(120)
        self._subscribe = subscribe
        self._subscription = None
        self._state: bytes | None = None
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = make_client(
            settings, topics.device_id, persistent=True,
            will=(topics.availability, "offline", 1, True),
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.commands = 0
        self.refused = 0
        self._replies = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mqtt-replies")

    @classmethod
    def for_speaker(cls, cfg: Config, parts, *, check: Callable[[Path], None]) -> MqttBridge:
        """Wire a bridge to a built speaker (``device.system.app.Parts``) from ``[mqtt]``."""
        m = cfg.mqtt
        assert m.host is not None and m.device_id is not None
        settings = MqttSettings(m.host, m.port, m.username, m.password, m.tls_ca, m.tls_cert,
                                m.tls_key, m.keepalive)
        topics = Topics(m.device_id, m.base_topic)
        from device.mqtt.discovery import discovery_payload, discovery_topic, ha_status_topic

        payload = None
        if m.discovery:
            payload = discovery_payload(m.device_id, m.base_topic,
                                        name=f"Moodspeaker {m.device_id}",
                                        sw_version=package_version())
        discovery = (discovery_topic(m.discovery_prefix, m.device_id), payload)
        ha_status = ha_status_topic(m.discovery_prefix) if m.discovery else None
        bridge: MqttBridge

        def publish(topic: str, payload: bytes) -> None:
            bridge.client.publish(topic, payload, qos=1)

        def publish_listens(payload: bytes) -> bool:
            info = bridge.client.publish(topics.listens, payload, qos=1)
            return info.rc == paho.MQTT_ERR_SUCCESS

        outbox = Outbox(cfg.journal_path, m.device_id, publish_listens,
                        OutboxSettings(m.sync_batch, m.sync_in_flight, m.sync_ack_timeout_s))
        receiver = ModelReceiver(topics, parts.models, check, parts.speaker.submit, publish)
        bridge = cls(settings=settings, topics=topics, submit=parts.speaker.submit,
                     subscribe=parts.bus.subscribe, outbox=outbox, receiver=receiver,
                     discovery=discovery, ha_status_topic=ha_status,
                     max_payload=m.max_payload_bytes, rate=RateLimit(m.commands_per_minute))
        return bridge

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Never blocks: paho connects (and reconnects, 1-60 s backoff) on its thread."""
        self._subscription = self._subscribe("mqtt", self._on_event)
        self.outbox.start()
        start(self.client, self.settings)
        log.info("mqtt: connecting to %s as %s", self.settings.where(), self.topics.device_id)

    def stop(self) -> None:
        """Say ``offline`` (a clean disconnect does not fire the will), then close."""
        if self._subscription is not None:
            self._subscription.close()
        if self.connected.is_set():
            info = self.client.publish(self.topics.availability, "offline", qos=1, retain=True)
            info.wait_for_publish(timeout=2.0)
        self._replies.shutdown(wait=True)
        self.client.disconnect()
        self.client.loop_stop()
        self.outbox.stop()
        self.receiver.close()

    # --- paho callbacks (its network thread) ---------------------------------------

    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            log.error("mqtt: %s refused the connection: %s", self.settings.where(), reason)
            return
        log.info("mqtt: connected to %s", self.settings.where())
        t = self.topics
        subs = [t.set_filter, t.command, t.listens_ack, t.models_begin,
                t.models_chunk_filter, t.models_commit]
        if self.ha_status_topic:
            subs.append(self.ha_status_topic)
        client.subscribe([(s, 1) for s in subs])
        client.publish(t.availability, "online", qos=1, retain=True)
        self._publish_discovery()
        with self._lock:  # ordered with _on_event: the newest state is the one retained
            self.connected.set()
            if self._state is not None:
                client.publish(t.state, self._state, qos=1, retain=True)
        self.outbox.connected(True)

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props) -> None:
        self.connected.clear()
        self.outbox.connected(False)
        log.warning("mqtt: disconnected (%s); the speaker plays on, reconnecting", reason)

    def _on_message(self, _client, _userdata, msg) -> None:
        topic, payload = msg.topic, msg.payload
        t = self.topics
        try:
            if topic == t.listens_ack:
                self.outbox.acked(decode_ack(payload))
            elif topic.startswith(f"{t.root}/models/"):
                if len(payload) > MAX_CHUNK_BYTES + 1024:
                    raise ProtocolError(f"{topic}: {len(payload)} bytes is too large")
                self.receiver.on_message(topic, payload)
            elif topic == self.ha_status_topic:
                if payload.strip() == b"online":
                    self._publish_discovery()
            elif topic == t.command:
                self._json_command(payload)
            elif topic.startswith(f"{t.root}/set/"):
                self._set_command(t.command_name(topic), payload)
        except ProtocolError as exc:
            log.warning("mqtt: ignored a message on %s: %s", topic, exc)
        except Exception:  # never let one message kill paho's thread
            log.exception("mqtt: message on %s failed", topic)

    # --- commands ------------------------------------------------------------------

    def _set_command(self, name: str, payload: bytes) -> None:
        self._command(None, name, payload, raw=True)

    def _json_command(self, payload: bytes) -> None:
        if len(payload) > self.max_payload:
            self._reply(None, None, CommandResult(
                False, f"payload of {len(payload)} bytes exceeds {self.max_payload}"))
            return
        try:
            obj = json.loads(payload)
        except (UnicodeDecodeError, ValueError) as exc:
            self._reply(None, None, CommandResult(False, f"not JSON: {exc}"))
            return
        if not isinstance(obj, dict):
            self._reply(None, None, CommandResult(False, "expected a JSON object"))
            return
        cid = obj.get("id")
        if cid is not None and (not isinstance(cid, (str, int)) or isinstance(cid, bool)
                                or len(str(cid)) > 128):
            cid = None
        name = obj.get("command")
        self._command(cid, name if isinstance(name, str) else repr(name),
                      obj.get("value"), raw=False)

    def _command(self, cid, name: str, value: object, *, raw: bool) -> None:
        self.commands += 1
        if raw:
            assert isinstance(value, bytes)
            if len(value) > self.max_payload:
                self._reply(cid, name, CommandResult(
                    False, f"payload of {len(value)} bytes exceeds {self.max_payload}"))
                return
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                self._reply(cid, name, CommandResult(False, "payload is not UTF-8 text"))
                return
        if name not in COMMAND_NAMES:
            self._reply(cid, name, CommandResult(
                False, f"unknown command {name[:64]!r}; one of {', '.join(COMMAND_NAMES)}"))
            return
        if not self.rate.allow():
            self._reply(cid, name, CommandResult(
                False, f"rate limit: more than {self.rate.per_minute} commands a minute"))
            return
        try:
            command = parse_command(name, value)
        except CommandError as exc:
            self._reply(cid, name, CommandResult(False, str(exc)))
            return
        future = self.submit(command)
        # the loop completes the future on its own thread: hand the network work off
        future.add_done_callback(
            lambda f: self._replies.submit(self._reply, cid, name, f.result()))

    def _reply(self, cid, name: str | None, result: CommandResult) -> None:
        if not result.ok:
            self.refused += 1
            log.info("mqtt: command %s refused: %s", name, result.error)
        payload = {"id": cid, "command": name, "ok": result.ok, "error": result.error}
        self.client.publish(self.topics.command_result, json.dumps(payload), qos=1)

    # --- events (its listener thread) ----------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            return
        if isinstance(event, TrackEnded):
            self.outbox.kick()
        state = json.dumps(state_payload(event.status)).encode()
        with self._lock:
            # while disconnected nothing is queued in paho (it would arrive stale, after
            # the fresh state that the reconnect publishes); only the newest is kept
            if isinstance(event, MoodChanged) and self.connected.is_set():
                self.client.publish(self.topics.mood, json.dumps(
                    {"mood": event.mood, "confidence": round(event.confidence, 3),
                     "camera_ok": event.status.camera_ok}), qos=1)
            if state == self._state:
                return
            self._state = state
            if self.connected.is_set():
                self.client.publish(self.topics.state, state, qos=1, retain=True)

    def _publish_discovery(self) -> None:
        """Announce the device, retained; with discovery off, an empty retained payload
        removes a device announced before from Home Assistant."""
        if self.discovery is not None:
            topic, payload = self.discovery
            body = b"" if payload is None else json.dumps(payload).encode()
            self.client.publish(topic, body, qos=1, retain=True)
