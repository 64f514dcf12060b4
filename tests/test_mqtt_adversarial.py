"""Attacks on the provisioned broker (``moodspeaker-train speakers``; Mosquitto started from
its own ``moodspeaker.conf``): what a stolen credential can and cannot do
(docs/mqtt.md, "Threat model"), and a fuzz of the command and receipt topics, sent with the
Home Assistant and ingest credentials, to a real speaker while the real ingest runs."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.shared.mqtt_client import ConnectError
from device.shared.mqtt_protocol import Topics, listens_subscription
from tests.harness.broker import (
    MOSQUITTO,
    SKIP_REASON,
    Peer,
    credentials,
    provision,
    provision_broker,
)
from tests.harness.fuzz import json_bodies, names, payloads

A, B = Topics("devA"), Topics("devB")


@pytest.fixture
def broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip(SKIP_REASON)
    b = provision_broker(tmp_path / "broker", ["devA", "devB"])
    yield b
    b.stop()


@pytest.fixture
def peer(broker):
    made: list[Peer] = []

    def make(user: str, subscribe=(), *, client_id: str | None = None,
             persistent: bool = False) -> Peer:
        username, password = credentials(broker.folder, user)
        made.append(Peer(broker.settings(username=username, password=password),
                         client_id or user, list(subscribe), persistent=persistent))
        return made[-1]

    yield make
    for p in made:
        p.close()


def refused(reason) -> bool:
    return reason is not None and reason.is_failure


def models_begin() -> str:
    return json.dumps({"v": 1, "transfer": uuid.uuid4().hex, "chunk_size": 65536,
                       "files": []})


def test_a_speaker_cannot_take_another_speakers_session(broker, peer):
    dev_b = peer("devB", [B.set_filter, B.command], persistent=True)
    # A logs in with its own password but asks for B's client id: the broker makes it devA.
    thief = peer("devA", [B.set_filter, "#"], client_id="devB", persistent=True)
    ha = peer("homeassistant")
    time.sleep(0.3)
    assert dev_b.connected.is_set() and dev_b.disconnects == []  # B was not thrown off
    assert refused(thief.publish(B.state, '{"state": "stopped"}'))
    ha.publish(B.set("next"), "")
    assert dev_b.received() == [(B.set("next"), b"")]
    assert thief.received(0.1) == []  # nor did A get B's queue or subscriptions
    log = broker.log_text()
    assert re.search(r"as devA \([^)]*u'devA'\)", log)  # forced to its user name
    assert not re.search(r"as devB \([^)]*u'devA'\)", log)


def test_a_speaker_cannot_read_another_speakers_topics(peer):
    spy = peer("devA", [B.state, B.set_filter, B.command, B.listens, B.listens_ack,
                        f"{B.root}/models/#", "moodspeaker/+/state", "#"])
    dev_b = peer("devB")
    ha, ingest, publisher = peer("homeassistant"), peer("ingest"), peer("publisher")
    dev_b.publish(B.state, '{"state": "playing"}')
    dev_b.publish(B.listens, "batch")
    ha.publish(B.set("volume"), "10")
    ha.publish(B.command, '{"id": 1, "command": "stop"}')
    ingest.publish(B.listens_ack, "{}")
    publisher.publish(B.models_begin, models_begin())
    assert spy.received() == []


def test_a_speaker_cannot_command_ack_or_deliver_to_another(peer):
    dev_b = peer("devB", [B.set_filter, B.command, B.listens_ack, f"{B.root}/models/#"])
    dev_a = peer("devA")
    for topic, payload in ((B.set("next"), ""), (B.command, '{"id": 1, "command": "next"}'),
                           (B.listens_ack, json.dumps({"v": 1, "batch": "x",
                                                       "event_ids": ["e"]})),
                           (B.models_begin, models_begin()),
                           (f"{B.root}/models/chunk/t/0/0", b"\0" * 100),
                           (B.models_commit, '{"v": 1, "transfer": "t"}')):
        assert refused(dev_a.publish(topic, payload)), topic
    assert dev_b.received() == []  # B's loop would see nothing
    # nor can A speak for B: its state, results, listens, discovery
    for topic in (B.state, B.availability, B.command_result, B.listens, B.models_result,
                  "homeassistant/device/devB/config"):
        assert refused(dev_a.publish(topic, "x")), topic


def test_home_assistant_commands_and_reads_but_cannot_deliver_or_ack(peer):
    dev_b = peer("devB", [B.set_filter, B.command, B.listens_ack, f"{B.root}/models/#"])
    ha = peer("homeassistant", [B.state, B.command_result, B.availability, B.listens,
                                B.models_result])
    assert refused(ha.publish(B.models_begin, models_begin()))
    assert refused(ha.publish(f"{B.root}/models/chunk/t/0/0", b"x"))
    assert refused(ha.publish(B.models_commit, "{}"))
    assert refused(ha.publish(B.listens_ack, "{}"))
    assert refused(ha.publish(B.state, "{}"))  # nor fake a speaker's state
    assert dev_b.received() == []
    assert not refused(ha.publish(B.set("pause"), ""))
    assert not refused(ha.publish(B.command, '{"id": 2, "command": "play"}'))
    assert dev_b.received() == [(B.set("pause"), b""),
                                (B.command, b'{"id": 2, "command": "play"}')]
    for topic in (B.state, B.command_result, B.availability, B.listens, B.models_result):
        dev_b.publish(topic, "x")
    got = [t for t, _ in ha.received()]
    assert got == [B.state, B.command_result, B.availability]  # not listens, not models


def test_ingest_reads_every_listen_plain_and_shared_and_acks(peer, broker):
    provision(broker.folder, "add", "worker2", "--role", "ingest")
    broker.reload()
    time.sleep(0.3)
    plain = peer("ingest", ["moodspeaker/+/listens"])
    shared = peer("worker2", [listens_subscription(share="g")])
    dev_a, dev_b = peer("devA", [A.listens_ack]), peer("devB", [B.listens_ack])
    dev_a.publish(A.listens, "a")
    dev_b.publish(B.listens, "b")
    assert sorted(plain.received()) == [(A.listens, b"a"), (B.listens, b"b")]
    assert sorted(shared.received()) == [(A.listens, b"a"), (B.listens, b"b")]
    assert not refused(shared.publish(B.listens_ack, "ack"))
    assert dev_b.received() == [(B.listens_ack, b"ack")] and dev_a.received(0.1) == []
    # and nothing else: no commands, no models, no state
    for topic in (B.set("next"), B.command, B.models_begin, B.state):
        assert refused(plain.publish(topic, "x")), topic
    spy = peer("ingest", [B.state, B.set_filter], client_id="ingest-spy")
    assert plain.disconnects  # one user, one client id: the second login took over
    dev_b.publish(B.state, "s")
    assert spy.received() == []


def test_publisher_delivers_and_reads_results_only(peer):
    dev_b = peer("devB", [f"{B.root}/models/#", B.set_filter])
    dev_b.publish(B.availability, "online", retain=True)
    pub = peer("publisher", [B.models_result, B.availability, B.listens, B.state])
    chunk = f"{B.root}/models/chunk/{'t' * 32}/0/0"
    for topic in (B.models_begin, chunk, B.models_commit):
        assert not refused(pub.publish(topic, "x")), topic
    assert [t for t, _ in dev_b.received()] == [B.models_begin, chunk, B.models_commit]
    dev_b.publish(B.models_result, "r")
    dev_b.publish(B.listens, "l")
    dev_b.publish(B.state, "s")
    assert sorted(pub.received()) == [(B.availability, b"online"), (B.models_result, b"r")]
    for topic in (B.set("next"), B.command, B.listens_ack, B.models_result):
        assert refused(pub.publish(topic, "x")), topic


def test_unknown_users_and_wrong_passwords_are_refused(broker):
    _, password = credentials(broker.folder, "devA")
    for user, pw in (("devC", password), ("devA", "x" * 32), ("devB", password),
                     ("homeassistant", password), ("", "")):
        with pytest.raises(ConnectError):
            Peer(broker.settings(username=user, password=pw), user or "anon")
    with pytest.raises(ConnectError):
        Peer(broker.settings(), "anonymous")


# --- the fuzz: Home Assistant's and an ingest's credentials against a real speaker -------

acks = st.one_of(
    st.binary(max_size=300),
    st.fixed_dictionaries({
        "v": st.one_of(st.just(1), st.integers(), st.none()),
        "batch": st.one_of(st.uuids().map(lambda u: u.hex), st.text(max_size=40)),
        "event_ids": st.lists(st.one_of(st.uuids().map(lambda u: u.hex), st.text(max_size=20)),
                              max_size=5),
        "rejected": st.lists(st.fixed_dictionaries({"event_id": st.text(max_size=20),
                                                    "error": st.text(max_size=20)}),
                             max_size=2),
    }).map(lambda d: json.dumps(d).encode()),
)


def journal_rows(path) -> list[tuple[str, int, float | None]]:
    """(event_id, synced, ended_at) read-only, beside the running speaker."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT event_id, synced, ended_at FROM listens").fetchall()
    finally:
        db.close()


def test_fuzzed_commands_and_receipts_lose_no_listen_and_the_music_plays_on(tmp_path):
    from tests.harness.libvlc import require_libvlc

    require_libvlc()
    if MOSQUITTO is None:
        pytest.skip(SKIP_REASON)
    from tests.harness.speaker import until
    from tests.mqtt_speaker import Remote, running, speaker_config
    from trainer.sync.ingest import Ingest
    from trainer.sync.store import ListenStore

    broker = provision_broker(tmp_path / "broker", ["spk1"])
    try:
        provision(broker.folder, "add", "fuzzer", "--role", "ingest")
        broker.reload()

        def login(user):
            username, password = credentials(broker.folder, user)
            return broker.settings(username=username, password=password)

        cfg = speaker_config(tmp_path, login("spk1"), track_s=3.0, audio={"fade_s": 0.0},
                             resume={"enabled": False})
        store = tmp_path / "store.sqlite3"
        ingest = Ingest(login("ingest"), store)
        ingest.start(timeout=10)
        topics = Topics("spk1")
        try:
            with running(cfg) as parts:
                remote = Remote(login("homeassistant"), topics)
                forger = Peer(login("fuzzer"), "fuzzer")
                answered: list[bool] = []
                forged: list[bytes] = []

                def stored() -> set[str]:
                    with ListenStore(store) as s:
                        return set(s.event_ids("spk1"))

                def synced_but_not_stored() -> set[str]:
                    synced = {e for e, s, _ in journal_rows(cfg.journal_path) if s}
                    return synced - stored()

                @settings(max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
                @given(st.one_of(st.tuples(st.just("set"), names, payloads),
                                 st.tuples(st.just("json"), st.just(""), json_bodies),
                                 st.tuples(st.just("ack"), st.just(""), acks)))
                def one(case):
                    kind, name, payload = case
                    if kind == "set":
                        r = remote.set(name, payload)
                        assert r["command"] == name
                        answered.append(r["ok"])
                    elif kind == "json":
                        r = remote.command(payload)
                        answered.append(r["ok"])
                    else:
                        assert not forger.publish(topics.listens_ack, payload).is_failure
                        forged.append(payload)
                    assert synced_but_not_stored() == set()

                try:
                    one()
                    for cmd in (("mute", "false"), ("mood", "auto"), ("user", "ann"),
                                ("play", ""), ("volume", "50")):
                        assert remote.set(*cmd)["ok"], cmd
                    remote.state(lambda s: s["state"] == "playing" and s["volume"] == 50,
                                 timeout=20)
                    until(lambda: parts.speaker.stats.completed >= 1, 30, "a track completed")
                    assert remote.set("stop")["ok"]  # closes the open listen
                finally:
                    forger.close()
                    remote.close()
                assert len(answered) >= 20 and not all(answered) and any(answered)
                assert forged  # hypothesis sent receipts too

                def closed() -> set[str]:
                    return {e for e, _, ended in journal_rows(cfg.journal_path)
                            if ended is not None}

                until(lambda: closed() and closed() <= stored(), 60,
                      "every closed listen in the ingest store")
                assert len(closed()) >= 2
                assert synced_but_not_stored() == set()
        finally:
            ingest.stop()
    finally:
        broker.stop()
