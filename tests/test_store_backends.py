"""The listen store on both backends (SQLite file, real PostgreSQL): idempotent batches,
rejected rows, versioned migrations, one-line errors for a store that cannot be opened,
and ``moodspeaker-train ingest --db postgresql://...`` end to end with a real Mosquitto.

PostgreSQL tests skip, saying that ``bash bootstrap.sh test`` installs it, when the server
binaries or psycopg are missing (``tests/harness/postgres.py``)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from device.shared.errors import UserError
from tests.test_mqtt_sync import Speaker, row
from trainer.sync import migrations
from trainer.sync.ingest import Ingest
from trainer.sync.store import ListenStore, StoreError, open_store
from trainer.sync.store_postgres import PostgresStore, redact
from trainer.sync.store_sqlite import migrate as sqlite_migrate


def pg_rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def raw_rows(factory, sql: str, params: tuple = ()) -> list[tuple]:
    """A query on the store as its own backend sees it (``?`` placeholders)."""
    if factory.kind == "sqlite":
        with sqlite3.connect(factory.db) as db:
            return db.execute(sql, params).fetchall()
    return pg_rows(factory.db, sql.replace("?", "%s").replace(" user", ' "user"'), params)


def columns(factory, table: str) -> list[str]:
    if factory.kind == "sqlite":
        with sqlite3.connect(factory.db) as db:
            return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
    return [r[0] for r in pg_rows(
        factory.db, "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = %s ORDER BY ordinal_position", (table,))]


# --- both backends ----------------------------------------------------------------------


def test_batches_are_stored_once(store_factory):
    store = store_factory.open(clock=lambda: 1234.5)
    assert store.kind == store_factory.kind and store.version == migrations.LATEST
    rows = [row(i) for i in range(50)]
    first = store.add_batch("dev1", rows[:30])
    assert first.new_rows == 30 and first.event_ids == [r["event_id"] for r in rows[:30]]
    again = store.add_batch("dev1", rows[:30])  # the same batch again: a lost ack
    assert again.new_rows == 0 and again.event_ids == first.event_ids
    overlap = store.add_batch("dev1", rows[20:] + rows[45:])  # overlapping, and twice in one
    assert overlap.new_rows == 20 and len(overlap.event_ids) == 35
    assert store.add_batch("dev2", rows[:5]).new_rows == 5  # the key is (device, event_id)
    assert store.add_batch("dev1", []).new_rows == 0
    assert store.count() == 55 and store.count("dev1") == 50 and store.count("nobody") == 0
    assert store.event_ids("dev1") == [r["event_id"] for r in rows]
    # Every journal column round-trips, plus device and the ingest's clock.
    names = columns(store_factory, "listens")
    assert names[:2] == ["device", "event_id"] and names[-2:] == ["seq", "received_at"]
    got = raw_rows(store_factory, "SELECT * FROM listens WHERE device = ? AND event_id = ?",
                   ("dev1", rows[3]["event_id"]))
    stored = dict(zip(names, got[0], strict=True))
    assert {k: stored[k] for k in rows[3]} == rows[3]
    assert stored["device"] == "dev1" and stored["received_at"] == 1234.5


@pytest.mark.parametrize("size", [1, 63, 64, 200])  # PostgreSQL: unnest below 64, COPY from
def test_every_batch_size_is_stored_once_with_or_without_bad_rows(store_factory, size):
    store = store_factory.open()
    rows = [row(i, position_s=i if i % 2 else float(i), genre=None if i % 3 else "pop")
            for i in range(size)]
    assert store.add_batch("dev1", rows).new_rows == size
    again = store.add_batch("dev1", [*rows, {"event_id": "x"}])  # resent, with a bad row
    assert again.new_rows == 0 and len(again.event_ids) == size and len(again.rejected) == 1
    more = [row(i) for i in range(size, 2 * size)]
    assert store.add_batch("dev1", ["junk", *rows[size // 2:], *more]).new_rows == size
    assert store.count("dev1") == 2 * size and len(store.rejected()) == 2
    assert store.event_ids("dev1") == [r["event_id"] for r in rows + more]
    got = raw_rows(store_factory, "SELECT position_s, genre FROM listens WHERE device = ?"
                   " ORDER BY seq", ("dev1",))
    assert got[:size] == [(float(r["position_s"]), r["genre"]) for r in rows]


def test_rejected_rows_are_kept_once(store_factory):
    store = store_factory.open()
    bad_mood = row(1, mood="joyful")
    long_bad = row(3, mood="x" * 5000)  # longer than a PostgreSQL index entry may be
    batch = [row(0), bad_mood, "not a row", long_bad, row(2)]
    for _ in range(2):
        out = store.add_batch("dev1", batch)
        assert out.event_ids == [row(0)["event_id"], row(2)["event_id"]]
        assert [r["event_id"] for r in out.rejected] == [bad_mood["event_id"], None,
                                                         long_bad["event_id"]]
        assert "mood 'joyful'" in out.rejected[0]["error"]
    assert store.count() == 2
    kept = store.rejected()
    assert len(kept) == 3  # stored once, though received twice
    assert json.loads(kept[0]["raw"]) == bad_mood and kept[0]["device"] == "dev1"
    assert kept[0]["event_id"] == bad_mood["event_id"]
    assert json.loads(kept[1]["raw"]) == "not a row" and kept[1]["event_id"] is None
    assert json.loads(kept[2]["raw"]) == long_bad
    store.add_batch("dev2", [bad_mood])  # another device's bad row is its own
    assert len(store.rejected()) == 4


def test_a_store_is_migrated_once_and_reopens(store_factory):
    store_factory.open().close()
    again = store_factory.open()
    assert again.version == migrations.LATEST
    versions = raw_rows(store_factory, "SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, migrations.LATEST + 1))


def test_a_store_newer_than_the_code_is_refused(store_factory):
    store_factory.open().add_batch("dev1", [row(0)])
    newer = migrations.LATEST + 1
    if store_factory.kind == "sqlite":
        with sqlite3.connect(store_factory.db) as db:
            db.execute("INSERT INTO schema_version VALUES (?, 0)", (newer,))
    else:
        pg_rows(store_factory.db, "INSERT INTO schema_version VALUES (%s, 0)", (newer,))
    with pytest.raises(StoreError) as err:
        store_factory.open()
    msg = str(err.value)
    assert f"schema version {newer}" in msg and f"up to {migrations.LATEST}" in msg
    assert "upgrade Moodspeaker" in msg and "\n" not in msg
    assert "s3cret" not in msg
    assert raw_rows(store_factory, "SELECT COUNT(*) FROM listens") == [(1,)]  # untouched


def test_many_stores_opening_a_fresh_store_at_once_migrate_it_once(store_factory):
    errors: list[BaseException] = []
    opened: list = []

    def worker():
        try:
            opened.append(open_store(store_factory.db))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in opened:
        s.close()
    assert not errors and len(opened) == 4
    versions = raw_rows(store_factory, "SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, migrations.LATEST + 1))


# --- migrations, per backend ------------------------------------------------------------


def test_an_unversioned_v1_sqlite_file_is_upgraded(tmp_path):
    """A store made before versioning (the old schema, no schema_version) keeps its rows,
    tables and columns, and gains only the new steps."""
    path = tmp_path / "old.db"
    with ListenStore(tmp_path / "source.db") as src:
        src.add_batch("dev1", [row(i) for i in range(3)])
        src.add_batch("dev1", ["junk"])
        dump = src.db.execute("SELECT * FROM listens").fetchall()
    db = sqlite3.connect(path)
    for sql in migrations.SQLITE_V1:
        db.execute(sql)
    db.executemany(f"INSERT INTO listens VALUES ({','.join('?' * len(dump[0]))})", dump)
    db.execute("INSERT INTO rejected (device, raw, error, received_at) VALUES"
               " ('dev1', '\"junk\"', 'bad', 1)")
    db.commit()
    old_columns = {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
                   for t in ("listens", "rejected")}
    db.close()
    with ListenStore(path) as store:
        assert store.version == migrations.LATEST
        assert store.count("dev1") == 3 and len(store.rejected()) == 1
        assert store.add_batch("dev1", [row(i) for i in range(5)]).new_rows == 2
        versions = [v for (v,) in store.db.execute("SELECT version FROM schema_version")]
        indexes = {r[0] for r in store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        for t, cols in old_columns.items():
            assert [r[1] for r in store.db.execute(f"PRAGMA table_info({t})")] == cols
    assert versions == list(range(1, migrations.LATEST + 1))
    assert "listens_device_seq" in indexes


def test_a_v1_sqlite_store_with_a_version_table_is_upgraded(tmp_path):
    db = sqlite3.connect(tmp_path / "v1.db", isolation_level=None)
    assert sqlite_migrate(db, "v1.db", 0.0, upto=1) == 1
    db.close()
    with ListenStore(tmp_path / "v1.db") as store:
        assert store.version == migrations.LATEST


def test_a_v1_postgres_store_is_upgraded(postgres_url):
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn, conn.transaction():
        conn.execute(migrations.VERSION_TABLE["postgres"])
        migrations.apply(conn.execute, 0, migrations.POSTGRES, 0.0, "%s", upto=1)
    assert pg_rows(postgres_url, "SELECT MAX(version) FROM schema_version") == [(1,)]
    with PostgresStore(postgres_url) as store:
        assert store.version == migrations.LATEST
        assert store.add_batch("dev1", [row(0)]).new_rows == 1
    assert pg_rows(postgres_url, "SELECT indexname FROM pg_indexes WHERE indexname ="
                   " 'listens_device_seq'") == [("listens_device_seq",)]


def test_a_failed_migration_step_leaves_the_previous_version(tmp_path, monkeypatch):
    with ListenStore(tmp_path / "s.db") as store:
        store.add_batch("dev1", [row(0)])
    broken = (*migrations.SQLITE, ("CREATE TABLE extra (x)", "NOT SQL AT ALL"))
    monkeypatch.setattr(migrations, "SQLITE", broken)
    monkeypatch.setattr(migrations, "LATEST", len(broken))
    with pytest.raises(StoreError, match="cannot bring the listen store up to date"):
        ListenStore(tmp_path / "s.db")
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == \
            len(broken) - 1
        assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'extra'"
                              ).fetchall()


def test_an_up_to_date_sqlite_store_opens_while_a_writer_holds_the_lock(tmp_path):
    """Opening only reads the version when nothing is to migrate: readers never wait for
    (or need) the write lock."""
    ListenStore(tmp_path / "s.db").close()
    writer = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        t = time.monotonic()
        with ListenStore(tmp_path / "s.db") as reader:
            assert reader.count() == 0 and reader.version == migrations.LATEST
        assert time.monotonic() - t < 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_read_only_postgres_role_may_open_an_up_to_date_store(postgres_server,
                                                                 postgres_url):
    with PostgresStore(postgres_url) as owner:
        owner.add_batch("dev1", [row(0)])
    role = f"reader_{os.getpid()}_{int(time.monotonic() * 1000)}"
    pg_rows(postgres_url, f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    pg_rows(postgres_url, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    url = postgres_url.replace(f"{postgres_server.user}:{postgres_server.password}@",
                               f"{role}:pw@")
    with PostgresStore(url) as reader:
        assert reader.count() == 1 and reader.version == migrations.LATEST
        with pytest.raises(Exception, match="permission denied"):
            reader.add_batch("dev1", [row(1)])


# --- choosing the backend, and errors ---------------------------------------------------


def test_a_path_is_sqlite_and_a_foreign_url_is_refused(tmp_path):
    store = open_store(str(tmp_path / "sub" / "s.db"))
    assert isinstance(store, ListenStore) and store.kind == "sqlite"
    store.close()
    for url in ("mysql://u:pw@h/db", "sqlite:///x.db", "http://h/x"):
        with pytest.raises(StoreError, match=r"give a path \(SQLite\) or a postgresql://") as e:
            open_store(url)
        assert "pw" not in str(e.value)


def test_a_postgres_url_without_psycopg_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    with pytest.raises(StoreError) as err:
        open_store("postgresql://ana:hunter2@db.lan/fleet")
    assert str(err.value) == ("postgresql://ana:***@db.lan/fleet: a PostgreSQL store needs"
                              " psycopg 3 (pip install 'psycopg[binary]'; the trainer extra"
                              " installs it)")


def test_redact_hides_the_password_only():
    assert redact("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact("postgresql://u@h:5/db") == "postgresql://u@h:5/db"
    assert redact("postgres://h/db?password=pw&sslmode=require") == \
        "postgres://h/db?password=***&sslmode=require"


def test_an_unreachable_server_or_a_bad_url_is_one_line_without_the_password(
        postgres_server):
    from tests.harness.broker import free_port

    cases = {
        f"postgresql://ana:hunter2@127.0.0.1:{free_port()}/db": "refused",
        "postgresql://ana:hunter2@127.0.0.1:notaport/db": "port",
        "postgres://ana:hunter2@127.0.0.1:1/db?nonsense=1": "nonsense",
        postgres_server.url(password="hunter2"): "password authentication failed",
        postgres_server.url("no_such_db"): "does not exist",
    }
    for url, cause in cases.items():
        with pytest.raises(StoreError) as err:
            open_store(url)
        msg = str(err.value)
        assert isinstance(err.value, UserError)
        assert msg.startswith(redact(url) + ": cannot open the listen store"), msg
        assert cause in msg.lower() and "\n" not in msg, msg
        assert "hunter2" not in msg and postgres_server.password not in msg, msg


def test_a_dropped_connection_is_opened_again(postgres_url):
    with PostgresStore(postgres_url) as store:
        assert store.add_batch("dev1", [row(0)]).new_rows == 1
        pid = store.conn.info.backend_pid
        pg_rows(postgres_url, "SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(Exception):  # noqa: B017 - this batch fails, unacknowledged
            store.add_batch("dev1", [row(1)])
        assert store.add_batch("dev1", [row(1)]).new_rows == 1  # the resend is stored
        assert store.count() == 2


# --- the ingest on both backends, and the command on PostgreSQL --------------------------


@pytest.fixture
def speakers():
    made: list[Speaker] = []

    def make(broker, device="dev1") -> Speaker:
        made.append(Speaker(broker, device))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_ingest_stores_idempotently_on_both_backends(mqtt_broker, store_factory, speakers):
    ingest = Ingest(mqtt_broker.settings(), store_factory.db, client_id="ingest-b")
    ingest.start(timeout=5)
    try:
        assert ingest.subscribed.wait(5)
        speaker = speakers(mqtt_broker)
        rows = [row(i) for i in range(40)]
        b1 = speaker.send(rows[:30])
        assert speaker.ack().batch == b1
        assert store_factory.open().count("dev1") == 30  # the ack came after the commit
        speaker.send(rows[:30], batch=b1)
        speaker.send([*rows[20:], row(99, mood="joyful")])
        assert speaker.ack().batch == b1
        last = speaker.ack()
        assert len(last.event_ids) == 20 and len(last.rejected) == 1
    finally:
        ingest.stop()
    assert ingest.stats.new_rows == 40 and ingest.stats.rejected == 1
    reader = store_factory.open()
    assert reader.event_ids("dev1") == [r["event_id"] for r in rows]
    assert len(reader.rejected()) == 1


def test_ingest_command_into_postgres(mqtt_broker, postgres_server, speakers):
    """The fixed interface: ``moodspeaker-train ingest --db postgresql://USER@HOST:PORT/DB``
    stores into table ``listens`` with columns ``device`` and ``event_id``."""
    database = postgres_server.new_database()
    url = (f"postgresql://{postgres_server.user}@{postgres_server.host}:"
           f"{postgres_server.port}/{database}")
    env = {k: v for k, v in os.environ.items() if k != "MOODSPEAKER_MQTT_PASSWORD"}
    env["PGPASSWORD"] = postgres_server.password  # libpq's own way, out of the URL
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.cli", "ingest", "--host", mqtt_broker.host,
         "--port", str(mqtt_broker.port), "--db", url, "--client-id", "pg-ingest",
         "--share", "g"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=os.getcwd())
    try:
        speaker = speakers(mqtt_broker, "kitchen")
        deadline = time.monotonic() + 30
        ack = None
        while ack is None and time.monotonic() < deadline:
            speaker.send([row(0), row(1)])  # until the ingest is subscribed
            with contextlib.suppress(queue.Empty):
                ack = speaker.ack(timeout=1)
        assert ack is not None and len(ack.event_ids) == 2
        speaker.send([row(i) for i in range(10)])
        assert len(speaker.ack().event_ids) == 10
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "ingest: stopped after" in out
    admin = postgres_server.url(database)
    got = pg_rows(admin, "SELECT device, event_id FROM listens ORDER BY seq")
    assert got == [("kitchen", row(i)["event_id"]) for i in range(10)]
    assert not (os.path.exists("postgresql:") or os.path.exists("postgres:"))


def test_ingest_command_with_a_bad_store_url_says_so_in_one_line(tmp_path):
    from tests.harness.broker import free_port

    url = f"postgresql://ana:hunter2@127.0.0.1:{free_port()}/fleet"
    out = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "ingest", "--host", "127.0.0.1", "--db", url],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert redact(url) in out.stderr and "hunter2" not in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "postgresql:").exists()  # once, a folder of that name was made


def test_taste_build_reads_either_store_in_chunks_with_one_listener_per_speaker(
        store_factory, tmp_path):
    """``taste build --listens`` takes the store's path or its postgresql:// URL; both are
    read as columns in chunks (100,000 rows at a time; here 3 to cross chunk boundaries),
    user@device per speaker."""
    from trainer.taste.columns import Names
    from trainer.taste.importers import Input, read_inputs
    from trainer.taste.store_columns import read_store

    store = store_factory.open()
    store.add_batch("kitchen", [row(i) for i in range(7)])
    store.add_batch("bedroom", [row(i + 100) for i in range(5)])
    path = store_factory.db if store_factory.kind == "postgres" else Path(store_factory.db)
    names = Names()
    small, whole = read_store(path, names, chunk=3), read_store(path, names, chunk=1000)
    assert len(small) == 12 and sorted(names.names) == ["ana@bedroom", "ana@kitchen"]
    assert sorted(small.started_at.tolist()) == sorted(whole.started_at.tolist())
    got = read_inputs([Input(path, "listens", None)])
    assert not got.listens and [len(c) for c in got.stored] == [12]
    assert got.people == ("ana@bedroom", "ana@kitchen")


def test_taste_build_db_reads_the_store_as_columns(store_factory, tmp_path, capsys):
    """``taste build --user ann --posts ARCHIVE --db STORE``: Ann's Mastodon posts and the
    plays her speaker synced to the ingest store (SQLite or PostgreSQL) make her model; the
    store's rows are hers by --user, read as columns, and the overlap report counts them."""
    from device.shared.taste import load_taste
    from tests.test_taste_imports import ANGRY, HAPPY, SAD
    from tests.test_taste_people import ann_exports, run

    mastodon, _ = ann_exports(tmp_path)
    start = 1709251200.0  # 2024-03-01 00:00 UTC, as ann_exports
    genre = {HAPPY: "pop", SAD: "classical", ANGRY: "rock"}
    rows = []
    for d in range(12):
        for hour, text in ((8, HAPPY), (14, SAD), (20, ANGRY)):
            t = start + d * 86400 + hour * 3600
            for k in range(3):
                i = len(rows)
                rows.append(row(i, user="ann", track_id=f"{genre[text]}-{k}",
                                genre=genre[text], mood="unknown", started_at=t + 240 * k + 180,
                                ended_at=t + 240 * k + 350, position_s=170.0,
                                duration_s=170.0))  # fmt: skip
    store = store_factory.open()
    assert not store.add_batch("kitchen", rows).rejected
    code, text = run(capsys, "build", "--user", "ann", "--posts", mastodon, "--db",
                     store_factory.db, "--out", tmp_path / "models")  # fmt: skip
    assert code == 0, text
    assert "Moodspeaker ingest store" in text
    assert "ann: 36 of 36 posts have a listen within 30 minutes" in text
    model = load_taste(tmp_path / "models")
    genres = list(model.genres)
    happy, sad = model.preferences[0, 0], model.preferences[0, 1]
    assert model.users == ("ann",)
    assert happy[genres.index("pop")] > happy[genres.index("classical")]
    assert sad[genres.index("classical")] > sad[genres.index("pop")]
    code, text = run(capsys, "build", "--user", "ann", "--posts", mastodon, "--db",
                     tmp_path / "models", "--out", tmp_path / "again")  # fmt: skip
    assert code == 2 and "not an ingest store" in text
