"""The MQTT transport behind one interface, as Frigate separates its ``comms/``: connect
with a last will, publish (retained or not), and a routing table from topic filter to
handler. Two implementations: ``PahoCommunicator`` (a real broker) and
``FakeCommunicator`` (in memory, for the bridge's logic tests; the real one keeps its
end-to-end tests against a real Mosquitto)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import paho.mqtt.client as paho

from device.shared.mqtt_client import MqttSettings, Will, make_client, start
from device.shared.mqtt_protocol import ProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]  # (topic, payload), on the transport's thread


class Routes:
    """Topic filter -> handler; the first filter that matches a topic takes the message.
    A handler's ``ProtocolError`` is a bad message (logged, ignored); any other error is
    logged with its traceback and never reaches the transport's thread."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, Handler]] = []

    def add(self, topic_filter: str, handler: Handler) -> None:
        self._routes.append((topic_filter, handler))

    @property
    def filters(self) -> list[str]:
        return [f for f, _ in self._routes]

    def dispatch(self, topic: str, payload: bytes) -> bool:
        for topic_filter, handler in self._routes:
            if paho.topic_matches_sub(topic_filter, topic):
                try:
                    handler(topic, payload)
                except ProtocolError as exc:
                    log.warning("mqtt: ignored a message on %s: %s", topic, exc)
                except Exception:  # never let one message kill the network thread
                    log.exception("mqtt: message on %s failed", topic)
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


class PahoCommunicator:
    """paho-mqtt 2.x on its own network thread (1-60 s reconnect backoff)."""

    def __init__(self, settings: MqttSettings, client_id: str, *, will: Will | None = None):
        self.settings = settings
        self.client_id = client_id
        self.routes = Routes()
        self.connected = threading.Event()
        self._callbacks: list[Callable[[bool], None]] = []
        self.client = make_client(settings, client_id, persistent=True, will=will)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def on_connection(self, callback: Callable[[bool], None]) -> None:
        self._callbacks.append(callback)

    def start(self) -> None:
        start(self.client, self.settings)
        log.info("mqtt: connecting to %s as %s", self.settings.where(), self.client_id)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> bool:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def stop(self, *, last: tuple[str, bytes | str] | None = None) -> None:
        if last is not None and self.connected.is_set():
            info = self.client.publish(last[0], last[1], qos=1, retain=True)
            info.wait_for_publish(timeout=2.0)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            log.error("mqtt: %s refused the connection: %s", self.settings.where(), reason)
            return
        log.info("mqtt: connected to %s", self.settings.where())
        client.subscribe([(f, 1) for f in self.routes.filters])
        self.connected.set()
        for callback in self._callbacks:
            callback(True)

    def _on_message(self, _client, _userdata, msg: paho.MQTTMessage) -> None:
        self.routes.dispatch(msg.topic, bytes(msg.payload))

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props) -> None:
        self.connected.clear()
        for callback in self._callbacks:
            callback(False)
        log.warning("mqtt: disconnected (%s); the speaker plays on, reconnecting", reason)


class FakeCommunicator:
    """In memory: ``published`` records what was sent, ``deliver`` plays a message in as
    the broker would, ``connect``/``drop`` change the connection."""

    def __init__(self) -> None:
        self.routes = Routes()
        self.published: list[tuple[str, bytes, bool]] = []
        self.connected = threading.Event()
        self._callbacks: list[Callable[[bool], None]] = []
        self.last: tuple[str, bytes | str] | None = None

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

    def deliver(self, topic: str, payload: bytes | str) -> bool:
        body = payload.encode() if isinstance(payload, str) else payload
        return self.routes.dispatch(topic, body)

    def stop(self, *, last: tuple[str, bytes | str] | None = None) -> None:
        if last is not None:
            self.publish(*last, retain=True)
        self.last = last
        self.connected.clear()
