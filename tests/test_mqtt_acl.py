"""The README's Mosquitto ACL on a real broker: each speaker (username = device id) is
confined to its own tree and its own discovery topic; the trainer and Home Assistant see
every device. Device A cannot command device B, nor read B's topics."""

from __future__ import annotations

import queue
import threading

import pytest

from device.mqtt.discovery import discovery_topic
from device.shared.mqtt_client import connect, make_client
from device.shared.mqtt_protocol import Topics, listens_subscription
from tests.harness.broker import README_ACL

USERS = {"devA": "pa", "devB": "pb", "trainer": "pt", "homeassistant": "ph"}


class Peer:
    def __init__(self, broker, user: str, subscribe: list[str] = ()):
        self.messages: queue.Queue = queue.Queue()
        self.granted: list = []
        self.published: dict[int, object] = {}
        done = threading.Event()
        settings = broker.settings(username=user, password=USERS[user])

        def on_connect(c, u, f, rc, p):
            if subscribe:
                c.subscribe([(t, 1) for t in subscribe])
            else:
                done.set()

        def on_subscribe(c, u, mid, reason_codes, p):
            self.granted = list(reason_codes)
            done.set()

        def on_publish(c, u, mid, reason, p):
            self.published[mid] = reason

        def build():
            c = make_client(settings, user)
            c.on_connect, c.on_subscribe, c.on_publish = on_connect, on_subscribe, on_publish
            c.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
            return c

        self.client = connect(build(), settings, timeout=5)
        assert done.wait(5)

    def publish(self, topic: str, payload: bytes | str, retain: bool = False):
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        return self.published.get(info.mid)

    def received(self, timeout: float = 0.5) -> list[tuple[str, bytes]]:
        out = []
        try:
            while True:
                out.append(self.messages.get(timeout=timeout))
        except queue.Empty:
            return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def acl_broker(mqtt_broker_factory):
    return mqtt_broker_factory(users=USERS, acl=README_ACL)


@pytest.fixture
def peers(acl_broker):
    made: list[Peer] = []

    def make(user, subscribe=()) -> Peer:
        made.append(Peer(acl_broker, user, list(subscribe)))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_device_a_cannot_command_device_b(peers):
    a, b = Topics("devA"), Topics("devB")
    dev_b = peers("devB", [b.set_filter, b.command])
    dev_a = peers("devA")
    ha = peers("homeassistant")
    reason = dev_a.publish(b.set("play"), "")
    dev_a.publish(b.command, '{"id": 1, "command": "stop"}')
    assert dev_b.received() == []
    assert reason is not None and reason.is_failure  # MQTT 5 PUBACK: not authorized
    # The same commands from Home Assistant arrive: the ACL, not the test, stopped A's.
    ha.publish(b.set("play"), "")
    assert dev_b.received() == [(b.set("play"), b"")]
    # A still works in its own tree.
    assert not dev_a.publish(a.state, "{}").is_failure


def test_device_a_cannot_read_device_b(peers):
    b = Topics("devB")
    spy = peers("devA", [b.state, b.listens_ack, "moodspeaker/#"])
    dev_b = peers("devB")
    dev_b.publish(b.state, '{"state": "playing"}')
    dev_b.publish(b.listens_ack, "{}")
    # Mosquitto grants the subscriptions but never delivers what the ACL denies A.
    assert spy.received() == []
    dev_b.publish(Topics("devA").state, "{}")  # and B cannot write into A's tree
    assert spy.received() == []


def test_discovery_and_trainer_topics(peers, acl_broker):
    a, b = Topics("devA"), Topics("devB")
    ha = peers("homeassistant", ["homeassistant/device/+/config"])
    trainer = peers("trainer", [listens_subscription(share="g"), a.listens])
    assert not any(rc.is_failure for rc in trainer.granted)
    dev_a = peers("devA", ["homeassistant/status"])
    dev_a.publish(discovery_topic("homeassistant", "devA"), "{}", retain=True)
    dev_a.publish(discovery_topic("homeassistant", "devB"), "{}", retain=True)
    assert ha.received() == [(discovery_topic("homeassistant", "devA"), b"{}")]
    ha.publish("homeassistant/status", "online")
    assert dev_a.received() == [("homeassistant/status", b"online")]
    dev_a.publish(a.listens, "batch")
    got = trainer.received()
    assert (a.listens, b"batch") in got
    assert not dev_a.publish(a.listens_ack, "x").is_failure  # own tree, readwrite
    assert peers("devB").publish(b.listens, "b") is not None


def test_the_docs_show_the_tested_acl(repo_root):
    assert README_ACL in (repo_root / "docs" / "mqtt.md").read_text(encoding="utf-8")
