"""The MQTT transport behind one interface, as Frigate separates its ``comms/``: connect
with a last will, publish (retained or not), and a routing table from topic filter to
handler. Two implementations: ``PahoCommunicator`` (a real broker) and
``FakeCommunicator`` (in memory, for the bridge's logic tests; the real one keeps its
end-to-end tests against a real Mosquitto)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import paho.mqtt.client as paho

from device.shared.mqtt_client import MqttSettings, Will, make_client, start, why_unreachable
from device.shared.mqtt_protocol import ProtocolError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False  # a retained message replayed by the broker, not sent just now


Handler = Callable[[Message], None]  # on the transport's thread


class Routes:
    """Topic filter -> handler; the first filter that matches a topic takes the message.
    A message over the route's size limit is dropped before anything decodes it. A
    handler's ``ProtocolError`` is a bad message (logged, ignored); any other error is
    logged with its traceback and never reaches the transport's thread."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, Handler, int | None]] = []

    def add(self, topic_filter: str, handler: Handler, *, max_bytes: int | None = None) -> None:
        self._routes.append((topic_filter, handler, max_bytes))

    @property
    def filters(self) -> list[str]:
        return [f for f, _, _ in self._routes]

    def dispatch(self, msg: Message) -> bool:
        for topic_filter, handler, max_bytes in self._routes:
            if not paho.topic_matches_sub(topic_filter, msg.topic):
                continue
            if max_bytes is not None and len(msg.payload) > max_bytes:
                log.warning("mqtt: dropped a message on %s: %d bytes, the limit is %d",
                            msg.topic, len(msg.payload), max_bytes)
                return True
            try:
                handler(msg)
            except ProtocolError as exc:
                log.warning("mqtt: ignored a message on %s: %s", msg.topic, exc)
            except Exception:  # never let one message kill the network thread
                log.exception("mqtt: message on %s failed", msg.topic)
            return True
        return False


class Communicator(Protocol):
    routes: Routes

    def on_connection(self, callback: Callable[[bool], None]) -> None:
        """``callback(True)`` after each (re)connect, once subscribed; False on a drop."""
        ...

    def start(self) -> None:
        """Connect in the background and keep reconnecting; never blocks."""
        ...

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> bool:
        """QoS 1; False if it could not even be queued (not connected)."""
        ...

    def stop(self, *, last: tuple[str, bytes | str] | None = None) -> None:
        """Publish ``last`` (retained; a clean stop does not fire the will), disconnect."""
        ...


@dataclass(frozen=True)
class Reconnect:
    """Exponential backoff with full jitter: after the n-th failure in a row, wait a
    random time in [min_s, min(max_s, min_s * 2**n)], so that speakers that lost one
    broker do not come back in lockstep."""

    min_s: int = 1
    max_s: int = 120
    stable_s: float = 30.0  # a connection that lasted this long resets the count
    quick_drop_s: float = 5.0  # dropped sooner than this after connecting: suspicious
    takeover_drops: int = 3  # quick drops in a row that mean "someone else uses my id"

    def delay(self, failures: int, rng: random.Random) -> float:
        cap = min(self.max_s, self.min_s * 2 ** max(0, failures))
        # any real number of seconds: whole seconds made a fleet come back in waves
        return rng.uniform(self.min_s, max(self.min_s, cap))


SESSION_TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT reason: another client connected with my id


class PahoCommunicator:
    """paho-mqtt 2.x on its own network thread."""

    def __init__(self, settings: MqttSettings, client_id: str, *, will: Will | None = None,
                 max_packet: int | None = None, reconnect: Reconnect | None = None,
                 rng: random.Random | None = None):
        self.settings = settings
        self.client_id = client_id
        self.routes = Routes()
        self.connected = threading.Event()
        self.reconnect = reconnect or Reconnect()
        self._rng = rng or random.Random()
        self._max_packet = max_packet
        self._callbacks: list[Callable[[bool], None]] = []
        self._failures = 0  # connection attempts in a row that failed or dropped quickly
        self._quick_drops = 0
        self._connected_at: float | None = None
        self._last_cause: str | None = None
        self._refused = False  # the last CONNACK refused us: its disconnect is no news
        self._stopping = False
        self.client = make_client(settings, client_id, persistent=True, will=will)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def on_connection(self, callback: Callable[[bool], None]) -> None:
        self._callbacks.append(callback)

    def start(self) -> None:
        if self.settings.password is not None and not self.settings.tls:
            log.warning("mqtt: the password goes to %s unencrypted; set [mqtt] tls_ca to use "
                        "TLS", self.settings.where())
        self._next_delay()
        start(self.client, self.settings, max_packet=self._max_packet)
        log.info("mqtt: connecting to %s as %s", self.settings.where(), self.client_id)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> bool:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def stop(self, *, last: tuple[str, bytes | str] | None = None) -> None:
        self._stopping = True
        if last is not None and self.connected.is_set():
            info = self.client.publish(last[0], last[1], qos=1, retain=True)
            info.wait_for_publish(timeout=2.0)
        self.client.disconnect()
        self.client.loop_stop()

    # --- paho's network thread -----------------------------------------------------

    def _next_delay(self, *, at_least: float = 0.0) -> float:
        """Set paho's wait before its next attempt (it reads it right after the callback
        that calls this)."""
        delay = max(at_least, self.reconnect.delay(self._failures, self._rng))
        # paho's hint says int; its wait (time.monotonic() + delay) takes any number
        self.client.reconnect_delay_set(min_delay=delay, max_delay=delay)  # type: ignore[arg-type]
        return delay

    def _say_once(self, level: int, cause: str, delay: float) -> None:
        """Each cause is logged once (then at debug level) until it changes."""
        if cause != self._last_cause:
            self._last_cause = cause
            log.log(level, "mqtt: %s; next try in %.1f s", cause, delay)
        else:
            log.debug("mqtt: %s; next try in %.1f s", cause, delay)

    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            self._failures += 1
            self._refused = True
            delay = self._next_delay()
            self._say_once(logging.ERROR,
                           f"{self.settings.where()} refused the connection: {reason}", delay)
            return
        log.info("mqtt: connected to %s", self.settings.where())
        self._last_cause = None
        self._connected_at = time.monotonic()
        if self.routes.filters:
            client.subscribe([(f, 1) for f in self.routes.filters])
        self.connected.set()
        for callback in self._callbacks:
            callback(True)

    def _on_connect_fail(self, _client, _userdata) -> None:
        self._failures += 1
        delay = self._next_delay()
        self._say_once(logging.WARNING, why_unreachable(self.settings), delay)

    def _on_message(self, _client, _userdata, msg: paho.MQTTMessage) -> None:
        self.routes.dispatch(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props) -> None:
        was_up = self.connected.is_set()
        self.connected.clear()
        if was_up:
            for callback in self._callbacks:
                callback(False)
        if self._stopping:
            log.info("mqtt: disconnected from %s (stopped)", self.settings.where())
            return
        if self._refused:  # logged, and the next delay set, by _on_connect
            self._refused = False
            return
        lasted = None if self._connected_at is None else time.monotonic() - self._connected_at
        self._connected_at = None
        if lasted is not None and lasted >= self.reconnect.stable_s:
            self._failures = self._quick_drops = 0
        self._failures += 1
        quick = lasted is not None and lasted < self.reconnect.quick_drop_s
        self._quick_drops = self._quick_drops + 1 if quick else 0
        code = getattr(reason, "value", reason)
        if code == SESSION_TAKEN_OVER or self._quick_drops >= self.reconnect.takeover_drops:
            why = ("the broker handed this session to another client with the same id"
                   if code == SESSION_TAKEN_OVER else
                   f"the broker dropped the session {self._quick_drops} times in a row right "
                   "after connecting, as it does when another client uses the same id")
            delay = self._next_delay(at_least=self.reconnect.max_s // 2)
            self._say_once(logging.ERROR, f"{why} ({self.client_id!r}): two speakers with one "
                           "[mqtt] device_id, or a credential used twice? Backing off instead "
                           "of taking it back", delay)
            return
        delay = self._next_delay()
        self._say_once(logging.WARNING, f"disconnected from {self.settings.where()} ({reason});"
                       " the speaker plays on", delay)


class FakeCommunicator:
    """In memory: ``published`` records what was sent, ``deliver`` plays a message in as
    the broker would, ``connect``/``drop`` change the connection."""

    def __init__(self) -> None:
        self.routes = Routes()
        self.published: list[tuple[str, bytes, bool]] = []
        self.connected = threading.Event()
        self._callbacks: list[Callable[[bool], None]] = []

    def on_connection(self, callback: Callable[[bool], None]) -> None:
        self._callbacks.append(callback)

    def start(self) -> None:
        self.connect()

    def connect(self) -> None:
        self.connected.set()
        for callback in self._callbacks:
            callback(True)

    def drop(self) -> None:
        self.connected.clear()
        for callback in self._callbacks:
            callback(False)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> bool:
        if not self.connected.is_set():
            return False
        body = payload.encode() if isinstance(payload, str) else bytes(payload)
        self.published.append((topic, body, retain))
        return True

    def deliver(self, topic: str, payload: bytes | str, *, retain: bool = False) -> bool:
        body = payload.encode() if isinstance(payload, str) else payload
        return self.routes.dispatch(Message(topic, body, retain))

    def stop(self, *, last: tuple[str, bytes | str] | None = None) -> None:
        if last is not None:
            self.publish(*last, retain=True)
        self.connected.clear()
