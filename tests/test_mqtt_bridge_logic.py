"""The MQTT bridge's logic on the in-memory ``FakeCommunicator``: routing, remote control,
retained state and discovery, with no broker. The real transport (``PahoCommunicator``)
keeps its end-to-end tests against a real Mosquitto (tests/test_mqtt_speaker.py,
tests/test_mqtt_end_to_end.py, tests/test_mqtt_acl.py)."""

from __future__ import annotations

import json

import pytest

from device.loop.events import MoodChanged, SpeakerStatus, StateChanged
from device.mqtt.bridge import MqttBridge
from device.mqtt.communicator import FakeCommunicator
from device.mqtt.model_receiver import ModelReceiver
from device.mqtt.outbox import Outbox
from device.mqtt.remote import RateLimit, RemoteControl
from device.shared import commands as c
from device.shared.mqtt_protocol import Topics
from device.storage.model_store import ModelStore
from tests.conftest import MODELS
from tests.harness.bridge import Loop


def status(**over) -> SpeakerStatus:
    base = dict(state="playing", user="ann", mood="happy", confidence=0.9, camera_ok=True,
                music_mood="happy", override=None, override_until=None, volume=40,
                muted=False)
    return SpeakerStatus(**{**base, **over})


@pytest.fixture
def wired(tmp_path):
    comms, loop, topics = FakeCommunicator(), Loop(), Topics("kitchen")
    outbox = Outbox(tmp_path / "journal.sqlite3", "kitchen",
                    lambda body: comms.publish(topics.listens, body))
    receiver = ModelReceiver(topics, ModelStore(tmp_path, MODELS), lambda _d: None, loop,
                             comms.publish)
    remote = RemoteControl(comms, topics.command_result, loop, max_payload=64,
                           rate=RateLimit(5))
    bridge = MqttBridge(comms, topics, remote=remote, outbox=outbox, receiver=receiver,
                        discovery=("homeassistant/device/kitchen/config", {"x": 1}),
                        ha_status_topic="homeassistant/status", discovery_spread_s=0.2)
    bridge.start()
    yield bridge, comms, loop, topics
    bridge.stop()


def results(comms, topics) -> list[dict]:
    return [json.loads(p) for t, p, _ in comms.published if t == topics.command_result]


def test_commands_are_routed_checked_and_answered(wired):
    bridge, comms, loop, t = wired
    assert comms.deliver(t.set("volume"), "55")
    assert comms.deliver(t.set("volume"), "loud")  # refused here, never reaches the loop
    assert comms.deliver(t.command, json.dumps({"id": 7, "command": "mood", "value": "sad 5"}))
    assert comms.deliver(t.command, b"\xff not json")
    assert comms.deliver(t.set("resume"), "")  # the alias from the command table
    bridge.remote.close()  # the replies are sent from their own thread: wait for them
    assert loop.got == [c.SetVolume(level=55), c.MoodOverride("sad", 5.0), c.Play()]
    got = results(comms, t)
    assert [r["ok"] for r in got].count(True) == 3
    bad = {r["command"]: r["error"] for r in got if not r["ok"]}
    assert "not 0-100" in bad["volume"] and "not JSON" in bad[None]
    assert any(r["id"] == 7 and r["ok"] for r in got)


def test_oversized_and_non_utf8_payloads_and_floods_are_refused(wired):
    bridge, comms, loop, t = wired
    comms.deliver(t.set("user"), "x" * 65)
    comms.deliver(t.set("user"), b"\xff\xfe")
    comms.deliver(f"{t.root}/set/nonsense", "")
    comms.deliver(t.command, b"not json")
    for _ in range(3):
        comms.deliver(t.set("next"), "")
    bridge.remote.close()
    # the rate limit (5 a minute here) counts every message on the command topics, bad
    # ones included: 4 refused for what they held, 1 next, then 2 refused by the limit
    assert loop.got == [c.Next()]
    errors = [r["error"] for r in results(comms, t) if not r["ok"]]
    assert any("exceeds 64" in e for e in errors)
    assert any("not UTF-8" in e for e in errors)
    assert any("unknown command" in e for e in errors)
    assert sum("rate limit" in e for e in errors) == 2


def test_a_retained_command_is_ignored_and_reported_once(wired, caplog):
    bridge, comms, loop, t = wired
    for _ in range(3):  # as the broker replays it at each reconnect
        comms.deliver(t.set("next"), "", retain=True)
    comms.deliver(t.command, json.dumps({"command": "volume", "value": 80}), retain=True)
    comms.deliver(t.set("pause"), "")
    bridge.remote.close()
    assert loop.got == [c.Pause()]
    assert caplog.text.count("ignored a retained command on") == 2  # once per topic
    assert [r["command"] for r in results(comms, t)] == ["pause"]


def test_state_is_retained_only_while_connected_and_the_newest_comes_back(wired):
    bridge, comms, _loop, t = wired
    bridge.state.on_event(StateChanged(status(volume=40), what="state"))
    states = [(p, r) for topic, p, r in comms.published if topic == t.state]
    assert len(states) == 1 and states[0][1] is True
    comms.drop()
    bridge.state.on_event(StateChanged(status(volume=50), what="volume"))
    bridge.state.on_event(MoodChanged(status(volume=50), mood="sad", confidence=0.7))
    assert [p for topic, p, _ in comms.published if topic == t.state] == [states[0][0]]
    comms.connect()  # after a reconnect: availability, discovery, then the newest state
    after = [(topic, p) for topic, p, _ in comms.published][-3:]
    assert after[0] == (t.availability, b"online")
    assert after[1][0] == "homeassistant/device/kitchen/config"
    assert after[2][0] == t.state and json.loads(after[2][1])["volume"] == 50


def test_home_assistant_coming_online_gets_the_discovery_again_after_a_random_delay(wired):
    bridge, comms, _loop, _t = wired

    def announced() -> int:
        return sum(topic.endswith("/config") for topic, _p, _r in comms.published)

    before = announced()
    comms.deliver("homeassistant/status", "online")
    comms.deliver("homeassistant/status", "offline")
    assert announced() == before  # not at once: spread over discovery_spread_s
    assert bridge._announce is not None
    bridge._announce.join(2.0)
    assert announced() == before + 1


def test_a_bad_message_on_a_routed_topic_is_logged_not_raised(wired, caplog):
    _bridge, comms, _loop, t = wired
    assert comms.deliver(t.listens_ack, b"{not json")
    assert "ignored a message" in caplog.text
    assert not comms.deliver("elsewhere/topic", b"x")  # no route: not taken


def test_an_oversized_acknowledgement_is_dropped_before_it_is_decoded(wired, caplog):
    from device.shared.mqtt_protocol import MAX_ACK_BYTES

    bridge, comms, _loop, t = wired
    seen: list[object] = []
    bridge.outbox.acked = seen.append  # type: ignore[method-assign]
    assert comms.deliver(t.listens_ack, b"{" + b" " * MAX_ACK_BYTES + b"}")
    assert seen == [] and "the limit is" in caplog.text
