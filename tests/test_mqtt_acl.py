"""The provisioned ACL on a real broker (``moodspeaker-train speakers``, started from its own
``moodspeaker.conf``): each speaker (user = device id) is confined to its own topics and its
own discovery topic; ingest, publisher and Home Assistant see every speaker, each only in
its own job. docs/mqtt.md shows the ACL provisioning writes for an example speaker, and
this checks both: that the docs show README_ACL, and that provisioning writes exactly it.
tests/test_mqtt_adversarial.py attacks the same setup harder."""

from __future__ import annotations

import pytest

from device.mqtt.discovery import discovery_topic
from device.shared.mqtt_protocol import Topics, listens_subscription
from tests.harness.broker import (
    MOSQUITTO,
    README_ACL,
    SKIP_REASON,
    Peer,
    credentials,
    provision,
    provision_broker,
)


@pytest.fixture
def acl_broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip(SKIP_REASON)
    broker = provision_broker(tmp_path / "broker", ["devA", "devB"])
    yield broker
    broker.stop()


@pytest.fixture
def peers(acl_broker):
    made: list[Peer] = []

    def make(user, subscribe=()) -> Peer:
        username, password = credentials(acl_broker.folder, user)
        settings = acl_broker.settings(username=username, password=password)
        made.append(Peer(settings, user, list(subscribe)))
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
    spy = peers("devA", [b.state, b.listens_ack, "moodspeaker/#", "#"])
    dev_b = peers("devB")
    ingest = peers("ingest")
    dev_b.publish(b.state, '{"state": "playing"}')
    ingest.publish(b.listens_ack, "{}")
    # Mosquitto grants the subscriptions but never delivers what the ACL denies A.
    assert spy.received() == []
    assert dev_b.publish(Topics("devA").state, "{}").is_failure  # B cannot write into A's
    assert spy.received() == []


def test_discovery_and_trainer_topics(peers):
    a = Topics("devA")
    ha = peers("homeassistant", ["homeassistant/device/+/config", "moodspeaker/+/state"])
    ingest = peers("ingest", [listens_subscription(share="g")])
    assert not any(rc.is_failure for rc in ingest.granted)
    dev_a = peers("devA", ["homeassistant/status", a.listens_ack])
    dev_a.publish(discovery_topic("homeassistant", "devA"), "{}", retain=True)
    assert dev_a.publish(discovery_topic("homeassistant", "devB"), "{}", retain=True).is_failure
    dev_a.publish(a.state, "{}")
    assert sorted(ha.received()) == [(discovery_topic("homeassistant", "devA"), b"{}"),
                                     (a.state, b"{}")]
    ha.publish("homeassistant/status", "online")
    assert dev_a.received() == [("homeassistant/status", b"online")]
    dev_a.publish(a.listens, "batch")
    assert ingest.received() == [(a.listens, b"batch")]  # through $share/g/...
    ingest.publish(a.listens_ack, "ack")
    assert dev_a.received() == [(a.listens_ack, b"ack")]
    assert dev_a.publish(a.listens_ack, "x").is_failure  # a speaker cannot ack itself


def test_provisioning_writes_the_documented_acl(tmp_path, repo_root):
    provision(tmp_path / "b", "add", "kitchen", "--host", "broker.lan",
              "--persistence-dir", str(tmp_path / "data"))
    assert (tmp_path / "b" / "acl").read_text() == README_ACL
    assert README_ACL in (repo_root / "docs" / "mqtt.md").read_text(encoding="utf-8")
