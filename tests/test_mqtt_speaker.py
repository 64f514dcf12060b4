"""The speaker over MQTT, end to end, on a real Mosquitto (tests/mqtt_broker.py) with real
libvlc; the camera is absent (FixedMood).

These stay on the real player and real time: they test the whole ``run_speaker`` (the
bridge, its reconnects, the retained topics) and ``run_speaker`` takes no player or clock.
What costs time here is starting a speaker and a broker per test, not the audio; the
synthesised library is made once per module and copied. The loop's own logic runs on the
in-memory ``FakePlayer`` in tests/test_speaker_loop.py."""

from __future__ import annotations

import shutil
import time

import pytest

from device.shared.mqtt_protocol import Topics
from device.system.demo import make_library
from tests.harness.libvlc import require_libvlc
from tests.mqtt_speaker import Remote, running, speaker_config

require_libvlc()


@pytest.fixture
def topics():
    return Topics("spk1")


@pytest.fixture(scope="module")
def library_once(tmp_path_factory):
    """The library ``speaker_config`` makes (2 per genre, 30 s tracks), synthesised once."""
    return make_library(tmp_path_factory.mktemp("library") / "lib", per_genre=2,
                        seconds=30.0)


@pytest.fixture(autouse=True)
def _library(tmp_path, library_once):
    """Copied where ``speaker_config`` looks (it keeps the files already there)."""
    for where in (tmp_path, tmp_path / "again"):
        shutil.copytree(library_once, where / "lib")


def test_every_command_round_trips_and_state_follows(tmp_path, mqtt_broker, topics):
    cfg = speaker_config(tmp_path, mqtt_broker.settings())
    with running(cfg) as parts:
        remote = Remote(mqtt_broker.settings(), topics)
        try:
            assert remote.wait_for(lambda m: m.topic == topics.availability).payload == b"online"
            remote.state(lambda s: s["state"] == "playing")
            ok = [
                ("volume", "55"), ("volume", "+5"), ("volume", "-10"), ("mute", "true"),
                ("mute", "toggle"), ("mute", "false"), ("pause", ""), ("play", ""),
                ("toggle", ""), ("toggle", ""), ("next", ""), ("previous", ""),
                ("mood", "sad 5"), ("user", "bob"), ("rescan", ""), ("reload", ""),
                ("stop", ""), ("play", ""),
            ]
            for name, payload in ok:
                # rescan and reload answer when their job is done: slower on a busy machine
                r = remote.set(name, payload, timeout=30.0)
                assert r == {"id": None, "command": name, "ok": True, "error": None}, (name, r)
            s = remote.state(lambda s: s["user"] == "bob" and s["override"] == "sad")
            assert s["volume"] == 50 and s["muted"] is False and s["override_until"] > time.time()
            assert s["music_mood"] == "sad"
            r = remote.command({"id": "a1", "command": "mood", "value": "auto"})
            assert r == {"id": "a1", "command": "mood", "ok": True, "error": None}
            remote.state(lambda s: s["override"] is None and s["state"] == "playing")
            assert (tmp_path / "state" / "active_user").read_text().strip() == "bob"
        finally:
            remote.close()
    assert parts.speaker.user == "bob"


@pytest.mark.parametrize("send, reason", [
    (("set", "volume", "loud"), "volume"),
    (("set", "volume", "101"), "out of range"),
    (("set", "mood", "ecstatic"), "mood"),
    (("set", "mood", "sad -3"), "minutes"),
    (("set", "user", "../etc"), "user"),
    (("set", "mute", "maybe"), "mute"),
    (("set", "explode", ""), "unknown command"),
    (("set", "volume", "9" * 5000), "exceeds"),
    (("set", "volume", b"\xff\xfe"), "UTF-8"),
    (("command", b"{not json"), "not JSON"),
    (("command", b"[1, 2]"), "JSON object"),
    (("command", {"id": 7, "command": "volume", "value": [1]}), "plain value"),
    (("command", {"id": 8, "command": None}), "unknown command"),
])
def test_bad_commands_are_refused_with_a_reason_and_change_nothing(
        tmp_path, mqtt_broker, topics, send, reason):
    cfg = speaker_config(tmp_path, mqtt_broker.settings())
    with running(cfg) as parts:
        remote = Remote(mqtt_broker.settings(), topics)
        try:
            before = remote.state(lambda s: s["state"] == "playing")
            r = remote.set(send[1], send[2]) if send[0] == "set" else remote.command(send[1])
            assert r["ok"] is False and reason in r["error"], r
            time.sleep(0.3)
            st = parts.speaker.status()
            assert st.state == "playing" and st.volume == before["volume"]
            assert st.override is None and st.user == before["user"]
        finally:
            remote.close()


def test_a_flood_beyond_the_rate_limit_is_refused(tmp_path, mqtt_broker, topics):
    cfg = speaker_config(tmp_path, mqtt_broker.settings(), mqtt={"commands_per_minute": 5})
    with running(cfg) as parts:
        remote = Remote(mqtt_broker.settings(), topics)
        try:  # online: subscribed to its commands (one sent before that would be lost)
            remote.wait_for(lambda m: m.topic == topics.availability and m.payload == b"online")
            results = [remote.set("volume", str(40 + i)) for i in range(8)]
        finally:
            remote.close()
        assert [r["ok"] for r in results] == [True] * 5 + [False] * 3
        assert "rate limit" in results[-1]["error"]
        assert parts.speaker.volume_target == 44  # the refused ones changed nothing


def test_offline_is_published_on_a_clean_stop_and_online_again_after_a_broker_restart(
        tmp_path, mqtt_broker, topics):
    cfg = speaker_config(tmp_path, mqtt_broker.settings())
    remote = None
    try:
        with running(cfg):
            remote = Remote(mqtt_broker.settings(), topics)
            remote.wait_for(lambda m: m.topic == topics.availability and m.payload == b"online")
            remote.state(lambda s: s["state"] == "playing")
            remote.close()
            mqtt_broker.stop()
            time.sleep(1.0)  # the speaker plays on while the broker is away
            mqtt_broker.start()
            remote = Remote(mqtt_broker.settings(), topics)
            # retained state and availability come back after the reconnect
            remote.wait_for(lambda m: m.topic == topics.availability and m.payload == b"online",
                            timeout=20)
            remote.state(lambda s: s["state"] == "playing", timeout=20)
        remote.wait_for(lambda m: m.topic == topics.availability and m.payload == b"offline")
    finally:
        if remote is not None:
            remote.close()


def test_the_loop_keeps_ticking_through_fades_and_answers_commands_during_them(
        tmp_path, mqtt_broker, topics):
    """A 'next' with a 4 s fade: commands sent during the fade-out are answered at once
    (before, the loop slept through the whole fade)."""
    cfg = speaker_config(tmp_path, mqtt_broker.settings(), audio={"fade_s": 4.0})
    with running(cfg) as parts:
        remote = Remote(mqtt_broker.settings(), topics)
        try:
            remote.state(lambda s: s["state"] == "playing")
            first = parts.speaker.now.event_id
            remote.set("next")
            r = remote.set("volume", "33")
            # answered while the first track is still fading out (2 s)
            assert r["ok"] and parts.speaker.now.event_id == first
            remote.state(lambda s: s["state"] == "playing" and s["volume"] == 33)
        finally:
            remote.close()



def test_discovery_is_retained_resent_when_home_assistant_comes_online_and_removable(
        tmp_path, mqtt_broker, topics):
    cfg = speaker_config(tmp_path, mqtt_broker.settings())
    disc = "homeassistant/device/spk1/config"
    with running(cfg):
        ha = Remote(mqtt_broker.settings(), topics, subscribe="homeassistant/#")
        try:
            first = ha.wait_for(lambda m: m.topic == disc)
            assert first.json()["dev"]["identifiers"]
            late = Remote(mqtt_broker.settings(), topics, subscribe="homeassistant/#")
            try:
                assert late.wait_for(lambda m: m.topic == disc).retain
            finally:
                late.close()
            ha.client.publish("homeassistant/status", "online", qos=1)
            again = ha.wait_for(lambda m: m.topic == disc and not m.retain)
            assert again.json() == first.json()
        finally:
            ha.close()
    off = speaker_config(tmp_path / "again", mqtt_broker.settings(), mqtt={"discovery": False})
    with running(off):  # discovery off: an empty retained payload removes the device
        remote = Remote(mqtt_broker.settings(), topics)
        try:  # answered after the connect that published the removal
            assert remote.set("volume", "41")["ok"]
        finally:
            remote.close()
    late = Remote(mqtt_broker.settings(), topics, subscribe="homeassistant/#")
    try:
        with pytest.raises(AssertionError):
            late.wait_for(lambda m: m.topic == disc, timeout=1.5)
    finally:
        late.close()


def test_a_command_that_fails_while_it_runs_is_answered_and_the_loop_goes_on(
        tmp_path, mqtt_broker, topics):
    cfg = speaker_config(tmp_path, mqtt_broker.settings())
    with running(cfg) as parts:
        def broken():
            raise RuntimeError("the sound card went away")

        parts.player.pause = broken  # the real player, with one call failing
        remote = Remote(mqtt_broker.settings(), topics)
        try:
            remote.state(lambda s: s["state"] == "playing")
            r = remote.set("pause")
            assert r["ok"] is False and "sound card went away" in r["error"]
            assert remote.set("volume", "22")["ok"]  # the loop still obeys
            st = parts.speaker.status()
            assert st.state == "playing" and st.volume == 22
        finally:
            remote.close()
    assert parts.speaker.stats.command_errors == 1
