"""The trainer's side of the listening-log sync against a real Mosquitto: ingest stores
idempotently, acks after committing, keeps rejected rows, survives its own and the broker's
restart, splits work over a shared subscription; the taste importer reads its store."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from device.shared.errors import UserError
from device.shared.mqtt_client import connect, make_client
from device.shared.mqtt_protocol import Topics, decode_ack, encode_listens, new_id
from trainer.sync.ingest import Ingest
from trainer.sync.store import ListenStore


def row(i: int, **over) -> dict:
    r = {
        "event_id": str(uuid.UUID(int=i + 1)), "user": "ana", "track_id": f"t{i}",
        "path": f"music/{i}.mp3", "genre": "pop", "mood": "happy", "mood_confidence": 0.9,
        "started_at": 1_700_000_000.0 + 300 * i, "ended_at": 1_700_000_200.0 + 300 * i,
        "position_s": 200.0, "duration_s": 210.0, "end_reason": "completed",
        "start_offset_s": 0.0, "explanation": None, "error": None, "ended_by": "end",
        "seq": i + 1,
    }
    r.update(over)
    return r


class Speaker:
    """The device side of the sync, as bare MQTT: publishes batches, collects acks."""

    def __init__(self, broker, device: str = "dev1", **settings):
        self.topics = Topics(device)
        self.acks: queue.Queue = queue.Queue()
        self.settings = broker.settings(**settings)

        def build():
            c = make_client(self.settings, f"speaker-{device}")
            c.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topics.listens_ack, 1)
            c.on_subscribe = lambda *_: self.ready.set()
            c.on_message = lambda c, u, m: self.acks.put(decode_ack(m.payload))
            return c

        self.ready = threading.Event()
        self.client = connect(build(), self.settings, timeout=5)
        assert self.ready.wait(5)

    def send(self, rows: list[dict], batch: str | None = None) -> str:
        batch = batch or new_id()
        self.send_raw(encode_listens(self.topics.device_id, batch, rows))
        return batch

    def send_raw(self, payload: bytes | str) -> None:
        self.client.publish(self.topics.listens, payload, qos=1).wait_for_publish(5)

    def ack(self, timeout: float = 10):
        return self.acks.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def speaker_factory():
    made: list[Speaker] = []

    def make(broker, device="dev1", **settings) -> Speaker:
        made.append(Speaker(broker, device, **settings))
        return made[-1]

    yield make
    for s in made:
        s.close()


@pytest.fixture
def ingest_factory(tmp_path):
    made: list[Ingest] = []

    def make(broker, db=None, **kw) -> Ingest:
        ingest = Ingest(broker.settings(**kw.pop("settings", {})), db or tmp_path / "store.db",
                        **kw)
        ingest.start(timeout=5)
        assert ingest.subscribed.wait(5)
        made.append(ingest)
        return ingest

    yield make
    for ingest in made:
        ingest.stop()


def test_ingest_is_idempotent_and_acks_after_commit(mqtt_broker, tmp_path, ingest_factory,
                                                   speaker_factory):
    ingest = ingest_factory(mqtt_broker)
    speaker = speaker_factory(mqtt_broker)
    rows = [row(i) for i in range(50)]
    b1 = speaker.send(rows[:30])
    ack = speaker.ack()
    assert ack.batch == b1 and ack.event_ids == [r["event_id"] for r in rows[:30]]
    # The ack is published after the commit: the rows are already in the file.
    with ListenStore(tmp_path / "store.db") as reader:
        assert reader.count("dev1") == 30
    # Redelivery (same batch), and a resend overlapping it under a new batch id.
    speaker.send(rows[:30], batch=b1)
    speaker.send(rows[20:])
    assert speaker.ack().batch == b1
    assert len(speaker.ack().event_ids) == 30
    assert ingest.stats.new_rows == 50 and ingest.stats.rows == 90
    with ListenStore(tmp_path / "store.db") as reader:
        assert reader.count() == 50
        assert reader.event_ids("dev1") == [r["event_id"] for r in rows]
        stored = reader.db.execute("SELECT * FROM listens WHERE event_id = ?",
                                   (rows[3]["event_id"],)).fetchone()
        names = [d[0] for d in reader.db.execute("SELECT * FROM listens").description]
    got = dict(zip(names, stored, strict=True))
    assert {k: got[k] for k in rows[3]} == rows[3]
    assert got["device"] == "dev1" and got["received_at"] > 0


def test_rejected_rows_are_kept_and_acknowledged(mqtt_broker, tmp_path, ingest_factory,
                                                 speaker_factory):
    ingest_factory(mqtt_broker)
    speaker = speaker_factory(mqtt_broker)
    bad_mood = row(1, mood="joyful")
    payload = json.dumps({"v": 1, "device": "dev1", "batch": new_id(),
                          "listens": [row(0), bad_mood, "not a row", row(2)]})
    for _ in range(2):  # the speaker missed the first ack and sends again
        speaker.send_raw(payload)
        ack = speaker.ack()
        assert ack.event_ids == [row(0)["event_id"], row(2)["event_id"]]
        assert [r["event_id"] for r in ack.rejected] == [bad_mood["event_id"], None]
        assert "mood 'joyful'" in ack.rejected[0]["error"]
    with ListenStore(tmp_path / "store.db") as reader:
        assert reader.count() == 2
        kept = reader.rejected()
    assert len(kept) == 2  # stored once, though received twice
    assert json.loads(kept[0]["raw"]) == bad_mood and kept[0]["device"] == "dev1"
    assert json.loads(kept[1]["raw"]) == "not a row"


def test_malformed_messages_are_skipped(mqtt_broker, ingest_factory, speaker_factory, caplog):
    ingest = ingest_factory(mqtt_broker)
    speaker = speaker_factory(mqtt_broker)
    speaker.send_raw(b"\xff not json")
    speaker.send_raw(json.dumps({"v": 1, "device": "other", "batch": new_id(),
                                 "listens": [row(0)]}))  # payload and topic disagree
    speaker.send_raw(json.dumps({"v": 99, "device": "dev1", "batch": new_id(),
                                 "listens": [row(0)]}))
    speaker.send([row(5)])
    assert speaker.ack().event_ids == [row(5)["event_id"]]
    assert ingest.stats.malformed == 3
    assert speaker.acks.empty()
    assert "moodspeaker/dev1/listens: malformed message skipped" in caplog.text


def test_ingest_and_broker_restart_lose_nothing(mqtt_broker, tmp_path, ingest_factory,
                                                speaker_factory):
    ingest = ingest_factory(mqtt_broker, client_id="ingest-a")
    speaker = speaker_factory(mqtt_broker)
    speaker.send([row(i) for i in range(10)])
    speaker.ack()
    ingest.stop()
    # While the ingest is away its persistent session queues the batch on the broker,
    # and the broker's persistence keeps it across a broker restart.
    batch = speaker.send([row(i) for i in range(5, 25)])
    speaker.close()
    time.sleep(1.2)  # autosave_interval 1: the queued message reaches the file
    mqtt_broker.stop()
    mqtt_broker.start()
    speaker = speaker_factory(mqtt_broker)
    again = ingest_factory(mqtt_broker, client_id="ingest-a")
    ack = speaker.ack()
    assert ack.batch == batch and len(ack.event_ids) == 20
    assert again.stats.new_rows == 15
    with ListenStore(tmp_path / "store.db") as reader:
        assert reader.count() == 25


def test_two_workers_on_a_shared_subscription_store_exactly_n(mqtt_broker, tmp_path,
                                                              ingest_factory, speaker_factory):
    workers = [ingest_factory(mqtt_broker, share="g", client_id=f"w{i}") for i in range(2)]
    assert workers[0].subscription == "$share/g/moodspeaker/+/listens"
    speakers = [speaker_factory(mqtt_broker, f"dev{i}") for i in range(2)]
    n = 400
    for s in speakers:
        for start in range(0, n, 20):
            s.send([row(i) for i in range(start, start + 20)])
        for start in range(0, n, 40):  # every row twice on the wire
            s.send([row(i) for i in range(start, start + 40)])
    for s in speakers:
        acked = set()
        for _ in range(n // 20 + n // 40):
            acked.update(s.ack().event_ids)
        assert len(acked) == n
    assert all(w.stats.batches > 0 for w in workers), [w.stats for w in workers]
    assert sum(w.stats.batches for w in workers) == 2 * (n // 20 + n // 40)
    with ListenStore(tmp_path / "store.db") as reader:
        assert reader.count("dev0") == n and reader.count("dev1") == n
        dupes = reader.db.execute("SELECT COUNT(*) FROM (SELECT event_id FROM listens GROUP BY"
                                  " device, event_id HAVING COUNT(*) > 1)").fetchone()[0]
    assert dupes == 0


def test_ingest_command_runs_until_sigterm(mqtt_broker, tmp_path, speaker_factory):
    db = tmp_path / "cli.db"
    env = {k: v for k, v in os.environ.items() if k != "MOODSPEAKER_MQTT_PASSWORD"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.cli", "ingest", "--host", mqtt_broker.host,
         "--port", str(mqtt_broker.port), "--db", str(db), "--client-id", "cli-ingest"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        speaker = speaker_factory(mqtt_broker)
        deadline = time.monotonic() + 20
        ack = None
        while ack is None and time.monotonic() < deadline:
            speaker.send([row(0), row(1)])  # until the ingest is subscribed
            with contextlib.suppress(queue.Empty):
                ack = speaker.ack(timeout=1)
        assert ack is not None and len(ack.event_ids) == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "ingest: stopped after" in out
    with ListenStore(db) as reader:
        assert reader.count() == 2


def test_ingest_command_bad_arguments(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "ingest", "--host", "h", "--db",
         str(tmp_path / "x.db"), "--tls-ca", str(tmp_path / "nope.pem")],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "tls_ca" in out.stderr and "nope.pem" in out.stderr
    assert "Traceback" not in out.stderr


def test_taste_importer_reads_the_store(tmp_path):
    from device.shared.genres import GENRES
    from trainer.taste.importers import Input, read_inputs

    with ListenStore(tmp_path / "store.db") as store:
        store.add_batch("dev1", [row(i) for i in range(5)])
        store.add_batch("dev2", [row(i + 10, user="bo", genre="rock") for i in range(3)])
    got = read_inputs([Input(tmp_path / "store.db", "listens", None)])
    [cols] = got.stored  # the store as columns
    assert len(cols) == 8 and not got.listens
    # a listener is the user on a speaker: the same name on two speakers is two people
    assert sorted({(got.names.name(int(u)), GENRES[int(g)]) for u, g in zip(
        cols.user, cols.genre, strict=True)}) == [("ana@dev1", "pop"), ("bo@dev2", "rock")]


def test_one_name_on_two_speakers_is_two_people_unless_the_people_file_merges_them(
        tmp_path):
    from trainer.taste.importers import Input, read_inputs, read_listeners

    with ListenStore(tmp_path / "store.db") as store:
        store.add_batch("kitchen", [row(i) for i in range(4)])
        store.add_batch("bedroom", [row(i + 10) for i in range(3)])
    listens = [Input(tmp_path / "store.db", "listens", None)]
    apart = read_inputs(listens)
    assert apart.people == ("ana@bedroom", "ana@kitchen")
    people = tmp_path / "people.toml"
    people.write_text('[ana]\nlisteners = ["ana@kitchen", "ana@bedroom"]\n')
    merged = read_inputs(listens, listeners=read_listeners(people))
    assert merged.people == ("ana",) and sum(len(c) for c in merged.stored) == 7
    people.write_text('[ana]\nlisteners = ["ana@kitchen"]\n[bo]\nlisteners = ["ana@kitchen"]\n')
    with pytest.raises(UserError, match="both ana's and bo's"):
        read_listeners(people)


def test_ingest_on_a_311_broker_keeps_its_session(mqtt_broker, tmp_path, speaker_factory):
    """Through a front that refuses MQTT 5, the ingest falls back to 3.1.1 and still asks
    for a persistent session, so batches sent while it is down reach it afterwards."""
    from device.shared.mqtt_client import MqttSettings, MQTTv311
    from tests.harness.broker import V311Front

    front = V311Front(mqtt_broker.port)
    settings = MqttSettings("127.0.0.1", front.port)
    try:
        ingest = Ingest(settings, tmp_path / "store.db", client_id="old-broker")
        ingest.start(timeout=5)
        assert ingest.subscribed.wait(5)
        assert ingest._client.protocol == MQTTv311
        ingest.stop()
        speaker = speaker_factory(mqtt_broker)
        batch = speaker.send([row(i) for i in range(3)])
        again = Ingest(settings, tmp_path / "store.db", client_id="old-broker")
        again.start(timeout=5)
        try:
            assert speaker.ack().batch == batch
            assert again.stats.new_rows == 3
        finally:
            again.stop()
    finally:
        front.close()


def test_ingest_command_waits_for_an_absent_broker_and_stops_cleanly(tmp_path):
    from tests.harness.broker import free_port

    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.cli", "ingest", "--host", "127.0.0.1", "--port",
         str(free_port()), "--db", str(tmp_path / "x.db")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2.5)
        assert proc.poll() is None  # still waiting for the broker, not failed
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
