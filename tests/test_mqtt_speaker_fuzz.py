"""Fuzzing the speaker's command topics and payloads on a real broker (hypothesis), and the
speaker's own login: password and TLS from ``[mqtt]``. The camera is absent (FixedMood)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.shared.mqtt_protocol import Topics
from tests.harness.fuzz import json_bodies, names, payloads
from tests.harness.libvlc import require_libvlc
from tests.mqtt_speaker import Remote, running, speaker_config

require_libvlc()

def test_fuzzed_commands_are_all_answered_and_the_music_plays_on(tmp_path, mqtt_broker):
    cfg = speaker_config(tmp_path, mqtt_broker.settings())
    topics = Topics("spk1")
    with running(cfg) as parts:
        remote = Remote(mqtt_broker.settings(), topics)
        answered = []

        @settings(max_examples=80, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(st.one_of(st.tuples(st.just("set"), names, payloads),
                         st.tuples(st.just("json"), st.just(""), json_bodies)))
        def one(case):
            kind, name, payload = case
            if kind == "set":
                r = remote.set(name, payload)
                assert r["command"] == name
            else:
                r = remote.command(payload)
            assert isinstance(r["ok"], bool) and (r["ok"] or r["error"])
            answered.append(r["ok"])

        try:
            one()
            # whatever the fuzzer did, the speaker still obeys and plays
            for cmd in (("mute", "false"), ("mood", "auto"), ("play", ""), ("volume", "50")):
                assert remote.set(*cmd)["ok"]
            remote.state(lambda s: s["state"] == "playing" and s["volume"] == 50, timeout=20)
        finally:
            remote.close()
        assert len(answered) >= 60 and not all(answered) and any(answered)
        assert parts.speaker.stats.played >= 1


def test_the_speaker_logs_in_with_a_password(tmp_path, mqtt_broker_factory):
    broker = mqtt_broker_factory(users={"spk1": "s3cret", "admin": "adm1n"})
    cfg = speaker_config(tmp_path, broker.settings(username="spk1", password="s3cret"))
    with running(cfg):
        remote = Remote(broker.settings(username="admin", password="adm1n"), Topics("spk1"))
        try:
            remote.state(lambda s: s["state"] == "playing")
            assert remote.set("volume", "20")["ok"]
        finally:
            remote.close()


def test_the_speaker_talks_tls(tmp_path, mqtt_broker_factory, mqtt_certs):
    broker = mqtt_broker_factory(certs=mqtt_certs)
    cfg = speaker_config(tmp_path, broker.settings())
    assert cfg.mqtt.tls_ca is not None
    with running(cfg):
        remote = Remote(broker.settings(), Topics("spk1"))
        try:
            remote.state(lambda s: s["state"] == "playing")
            assert remote.set("next")["ok"]
        finally:
            remote.close()
