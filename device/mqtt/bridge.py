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
import random
import threading
from collections.abc import Callable
from pathlib import Path

from device.loop.events import EventBus, Subscription
from device.mqtt.communicator import Communicator, Message, PahoCommunicator
from device.mqtt.discovery import discovery_payload, discovery_topic, ha_status_topic
from device.mqtt.model_receiver import ModelReceiver
from device.mqtt.outbox import Outbox, OutboxSettings
from device.mqtt.remote import RateLimit, RemoteControl
from device.mqtt.state import StatePublisher
from device.shared.clirunner import package_version
from device.shared.commands import CommandSink
from device.shared.mqtt_client import MqttSettings
from device.shared.mqtt_protocol import (
    MAX_ACK_BYTES,
    MAX_CHUNK_BYTES,
    MAX_SPEAKER_PACKET,
    Topics,
    decode_ack,
)
from device.storage.identity import device_id
from device.storage.model_store import ModelStore
from device.system.config import Config, MqttConfig

log = logging.getLogger(__name__)


def mqtt_settings(m: MqttConfig) -> MqttSettings:
    """The broker connection ``[mqtt]`` describes (the speaker and ``moodspeaker check``)."""
    assert m.host is not None
    return MqttSettings(m.host, m.port, m.username, m.password, m.tls_ca, m.tls_cert,
                        m.tls_key, m.keepalive)


class MqttBridge:
    def __init__(self, comms: Communicator, topics: Topics, *, remote: RemoteControl,
                 outbox: Outbox, receiver: ModelReceiver,
                 discovery: tuple[str, dict | None] | None = None,
                 ha_status_topic: str | None = None, discovery_spread_s: float = 30.0,
                 rng: random.Random | None = None):
        """``discovery``: (topic, payload), a None payload removes the device from HA.
        When Home Assistant comes online, every speaker announces itself again: each waits
        a random part of ``discovery_spread_s`` first, so that they do not all at once."""
        self.comms = comms
        self.topics = topics
        self.remote = remote
        self.outbox = outbox
        self.receiver = receiver
        self.discovery = discovery
        self.state = StatePublisher(comms, topics, outbox.kick)
        self.discovery_spread_s = discovery_spread_s
        self._rng = rng or random.Random()
        self._announce: threading.Timer | None = None
        self._subscription: Subscription | None = None
        t = topics
        routes = comms.routes
        routes.add(t.listens_ack, lambda m: self.outbox.acked(decode_ack(m.payload)),
                   max_bytes=MAX_ACK_BYTES)
        for models_topic in (t.models_begin, t.models_chunk_filter, t.models_commit):
            routes.add(models_topic, lambda m: self.receiver.on_message(m.topic, m.payload),
                       max_bytes=MAX_CHUNK_BYTES + 1024)
        if ha_status_topic is not None:
            routes.add(ha_status_topic, self._on_ha_status, max_bytes=64)
        routes.add(t.command, self.remote.on_json)
        routes.add(t.set_filter, lambda m: self.remote.on_set(t.command_name(m.topic), m))
        comms.on_connection(self._connection)
        comms.on_connection(self.state.connection)
        comms.on_connection(outbox.connected)

    @classmethod
    def for_speaker(cls, cfg: Config, *, loop: CommandSink, bus: EventBus, models: ModelStore,
                    check: Callable[[Path], None]) -> MqttBridge:
        """Wire a bridge to a built speaker from ``[mqtt]``."""
        m = cfg.mqtt
        device = device_id(m.device_id, cfg.state.dir)
        topics = Topics(device, m.base_topic)
        comms = PahoCommunicator(mqtt_settings(m), device,
                                 will=(topics.availability, "offline", 1, True),
                                 max_packet=MAX_SPEAKER_PACKET)
        payload = None
        if m.discovery:
            payload = discovery_payload(device, m.base_topic,
                                        name=m.name or f"Moodspeaker {device}",
                                        sw_version=package_version())
        outbox = Outbox(cfg.journal_path, device,
                        lambda body: comms.publish(topics.listens, body),
                        OutboxSettings(m.sync_batch, m.sync_in_flight, m.sync_ack_timeout_s))
        receiver = ModelReceiver(topics, models, check, loop,
                                 lambda topic, body: comms.publish(topic, body))
        remote = RemoteControl(comms, topics.command_result, loop,
                               max_payload=m.max_payload_bytes,
                               rate=RateLimit(m.commands_per_minute))
        bridge = cls(comms, topics, remote=remote, outbox=outbox, receiver=receiver,
                     discovery=(discovery_topic(m.discovery_prefix, device), payload),
                     ha_status_topic=ha_status_topic(m.discovery_prefix) if m.discovery
                     else None, discovery_spread_s=m.discovery_spread_s)
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
        if self._announce is not None:
            self._announce.cancel()
        self.remote.close()
        self.comms.stop(last=(self.topics.availability, "offline"))
        self.outbox.stop()
        self.receiver.close()

    # --- the network thread --------------------------------------------------------

    def _connection(self, up: bool) -> None:
        if up:
            self.comms.publish(self.topics.availability, "online", retain=True)
            self._publish_discovery()

    def _on_ha_status(self, msg: Message) -> None:
        if msg.payload.strip() != b"online":
            return
        if self._announce is not None:
            self._announce.cancel()
        self._announce = threading.Timer(self._rng.uniform(0, self.discovery_spread_s),
                                         self._publish_discovery)
        self._announce.daemon = True
        self._announce.start()

    def _publish_discovery(self) -> None:
        """Announce the device, retained; with discovery off, an empty retained payload
        removes a device announced before from Home Assistant."""
        if self.discovery is not None:
            topic, payload = self.discovery
            body = b"" if payload is None else json.dumps(payload).encode()
            self.comms.publish(topic, body, retain=True)

