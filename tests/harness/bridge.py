"""A speaker's MQTT side on a real broker without the rest of the speaker: the real bridge
and transport, with a stand-in loop that records the commands it is handed (for the MQTT
hardening and rollout tests), and a plain listening client."""

from __future__ import annotations

import queue
import uuid
from concurrent.futures import Future
from pathlib import Path

from device.mqtt.bridge import MqttBridge
from device.mqtt.communicator import PahoCommunicator, Reconnect
from device.mqtt.model_receiver import ModelReceiver
from device.mqtt.outbox import Outbox, OutboxSettings
from device.mqtt.remote import RemoteControl
from device.shared import commands as c
from device.shared.mqtt_client import MqttSettings
from device.shared.mqtt_protocol import MAX_SPEAKER_PACKET, Topics
from device.storage.model_store import ModelStore
from tests.conftest import MODELS
from tests.harness.broker import subscribed_client
from tests.harness.speaker import until


class Loop:
    """Stands in for the speaker loop: records commands, answers each at once."""

    def __init__(self) -> None:
        self.got: list[c.Command] = []

    def submit(self, command: c.Command) -> Future[c.CommandResult]:
        self.got.append(command)
        return c.done(c.CommandResult(True))


def make_bridge(settings: MqttSettings, tmp: Path, device: str = "spk", *,
                reconnect: Reconnect | None = None, expire_s: float = 120.0,
                ack_timeout_s: float = 30.0, check=None, sync_batch: int = 100,
                ) -> tuple[MqttBridge, Loop, PahoCommunicator]:
    """``check``: the model check a delivery must pass (default: any set is accepted)."""
    topics, loop = Topics(device), Loop()
    comms = PahoCommunicator(settings, device, will=(topics.availability, "offline", 1, True),
                             max_packet=MAX_SPEAKER_PACKET, reconnect=reconnect)
    outbox = Outbox(tmp / "journal.sqlite3", device,
                    lambda body: comms.publish(topics.listens, body),
                    OutboxSettings(batch=sync_batch, ack_timeout_s=ack_timeout_s))
    receiver = ModelReceiver(topics, ModelStore(tmp / "state", MODELS),
                             check or (lambda _d: None), loop, comms.publish,
                             expire_s=expire_s)
    bridge = MqttBridge(comms, topics, remote=RemoteControl(comms, topics.command_result, loop),
                        outbox=outbox, receiver=receiver)
    online = Listener(settings, topics.availability)
    bridge.start()
    try:  # "online" comes after the subscriptions, as a publisher waits for it
        until(lambda: any(m.payload == b"online" for m in list(online.got.queue)), 10,
              f"{device} online")
    finally:
        online.close()
    return bridge, loop, comms


class Listener:
    """A plain client that collects what arrives on one topic filter."""

    def __init__(self, settings: MqttSettings, topic: str):
        self.got: queue.Queue = queue.Queue()
        self.client = subscribed_client(settings, f"listener-{uuid.uuid4().hex[:8]}", topic,
                                        lambda _c, _u, m: self.got.put(m))

    def next(self, timeout: float = 10.0):
        return self.got.get(timeout=timeout)

    def publish(self, topic: str, payload, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
