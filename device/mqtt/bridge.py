"""The speaker on MQTT, wired: remote control in, retained state and mood out, Home
Assistant discovery, the listening-log outbox and model delivery, over one communicator.

Threads: the communicator's network thread receives and routes (``Routes``: topic filter
-> handler); commands are checked there and handed to the loop (``RemoteControl``); one
event listener publishes state (``StatePublisher``); the outbox and the model receiver have
their own. The loop never waits for the network: while the broker is away the speaker
plays and journals, and after each reconnect availability, discovery and the retained state
are published again and the outbox resends what was not acknowledged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from device.loop.events import EventBus, Subscription
from device.mqtt.communicator import Communicator, PahoCommunicator
from device.mqtt.discovery import discovery_payload, discovery_topic, ha_status_topic
from device.mqtt.model_receiver import ModelReceiver
from device.mqtt.outbox import Outbox, OutboxSettings
from device.mqtt.remote import RateLimit, RemoteControl
from device.mqtt.state import StatePublisher
from device.shared.clirunner import package_version
from device.shared.commands import CommandSink
from device.shared.mqtt_client import MqttSettings
from device.shared.mqtt_protocol import MAX_CHUNK_BYTES, ProtocolError, Topics, decode_ack
from device.storage.model_store import ModelStore
from device.system.config import Config

log = logging.getLogger(__name__)


class MqttBridge:
    def __init__(self, comms: Communicator, topics: Topics, *, remote: RemoteControl,
                 outbox: Outbox, receiver: ModelReceiver,
                 discovery: tuple[str, dict | None] | None = None,
                 ha_status_topic: str | None = None):
        """``discovery``: (topic, payload), a None payload removes the device from HA."""
        self.comms = comms
        self.topics = topics
        self.remote = remote
        self.outbox = outbox
        self.receiver = receiver
        self.discovery = discovery
        self.state = StatePublisher(comms, topics, outbox.kick)
        self._subscription: Subscription | None = None
        t = topics
        routes = comms.routes
        routes.add(t.listens_ack, lambda _t, p: self.outbox.acked(decode_ack(p)))
        routes.add(f"{t.root}/models/#", self._on_models)
        if ha_status_topic is not None:
            routes.add(ha_status_topic, self._on_ha_status)
        routes.add(t.command, lambda _t, p: self.remote.on_json(p))
        routes.add(t.set_filter, lambda topic, p: self.remote.on_set(t.command_name(topic), p))
        comms.on_connection(self._connection)
        comms.on_connection(self.state.connection)
        comms.on_connection(outbox.connected)

    @classmethod
    def for_speaker(cls, cfg: Config, *, loop: CommandSink, bus: EventBus, models: ModelStore,
                    check: Callable[[Path], None]) -> MqttBridge:
        """Wire a bridge to a built speaker from ``[mqtt]``."""
        m = cfg.mqtt
        assert m.host is not None and m.device_id is not None
        settings = MqttSettings(m.host, m.port, m.username, m.password, m.tls_ca, m.tls_cert,
                                m.tls_key, m.keepalive)
        topics = Topics(m.device_id, m.base_topic)
        comms = PahoCommunicator(settings, topics.device_id,
                                 will=(topics.availability, "offline", 1, True))
        payload = None
        if m.discovery:
            payload = discovery_payload(m.device_id, m.base_topic,
                                        name=f"Moodspeaker {m.device_id}",
                                        sw_version=package_version())
        outbox = Outbox(cfg.journal_path, m.device_id,
                        lambda body: comms.publish(topics.listens, body),
                        OutboxSettings(m.sync_batch, m.sync_in_flight, m.sync_ack_timeout_s))
        receiver = ModelReceiver(topics, models, check, loop,
                                 lambda topic, body: comms.publish(topic, body))
        remote = RemoteControl(comms, topics.command_result, loop,
                               max_payload=m.max_payload_bytes,
                               rate=RateLimit(m.commands_per_minute))
        bridge = cls(comms, topics, remote=remote, outbox=outbox, receiver=receiver,
                     discovery=(discovery_topic(m.discovery_prefix, m.device_id), payload),
                     ha_status_topic=ha_status_topic(m.discovery_prefix) if m.discovery
                     else None)
        bridge.subscribe_to(bus)
        return bridge

    def subscribe_to(self, bus: EventBus) -> None:
        self._subscription = bus.subscribe("mqtt", self.state.on_event)

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Never blocks: the communicator connects (and reconnects) on its thread."""
        self.outbox.start()
        self.comms.start()

    def stop(self) -> None:
        """Say ``offline`` (a clean disconnect does not fire the will), then close."""
        if self._subscription is not None:
            self._subscription.close()
        self.remote.close()
        self.comms.stop(last=(self.topics.availability, "offline"))
        self.outbox.stop()
        self.receiver.close()

    # --- the network thread --------------------------------------------------------

    def _connection(self, up: bool) -> None:
        if up:
            self.comms.publish(self.topics.availability, "online", retain=True)
            self._publish_discovery()

    def _on_models(self, topic: str, payload: bytes) -> None:
        if len(payload) > MAX_CHUNK_BYTES + 1024:
            raise ProtocolError(f"{topic}: {len(payload)} bytes is too large")
        self.receiver.on_message(topic, payload)

    def _on_ha_status(self, _topic: str, payload: bytes) -> None:
        if payload.strip() == b"online":
            self._publish_discovery()

    def _publish_discovery(self) -> None:
        """Announce the device, retained; with discovery off, an empty retained payload
        removes a device announced before from Home Assistant."""
        if self.discovery is not None:
            topic, payload = self.discovery
            body = b"" if payload is None else json.dumps(payload).encode()
            self.comms.publish(topic, body, retain=True)

