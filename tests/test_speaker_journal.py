"""Journal: schema contract, durable start/end, crash recovery, feedback counts."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from device.shared.sqlite import open_db
from device.storage.journal import Journal, JournalError


def test_schema_has_the_contract_columns(tmp_path):
    with Journal(tmp_path / "journal.sqlite3") as j:
        cols = {r[1]: r[2] for r in j.connection.execute("PRAGMA table_info(listens)")}
        mode = j.connection.execute("PRAGMA journal_mode").fetchone()[0]
        sync = j.connection.execute("PRAGMA synchronous").fetchone()[0]
    for name in ("event_id", "user", "track_id", "path", "genre", "mood", "mood_confidence",
                 "started_at", "ended_at", "position_s", "duration_s", "end_reason", "synced"):
        assert name in cols
    assert cols["started_at"] == "REAL" and cols["ended_at"] == "REAL"
    assert mode == "wal" and sync == 2  # FULL


def _start(j, track="a.mp3"):
    return j.start(user="ann", track_id=track, path=f"/m/{track}", genre="pop", mood="happy",
                   mood_confidence=0.8, duration_s=60.0)


def test_start_update_end_and_a_second_connection_sees_it(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        e = _start(j)
        j.update_position(e, 12.5)
        # another process (the trainer's importer) sees the open listen right away
        other = sqlite3.connect(path)
        assert other.execute("SELECT position_s, ended_at FROM listens").fetchone() == (12.5, None)
        j.end(e, "skipped", 13.0, ended_by="user", feedback=("ann", "happy", "pop", "skipped"))
        row = j.get(e)
        assert row.end_reason == "skipped" and row.position_s == 13.0 and row.ended_at
        assert j.feedback_counts("ann") == {("happy", "pop"): (0, 1)}
        other.close()
    with pytest.raises(ValueError):
        Journal(path).end(e, "bored")


def test_recover_closes_open_listens_as_interrupted(tmp_path):
    path = tmp_path / "journal.sqlite3"
    j = Journal(path, clock=lambda: 1000.0)
    e = _start(j)
    j.update_position(e, 20.0)
    j.db.close()  # a crash: nothing closed the listen
    with Journal(path, clock=lambda: 5000.0) as j2:
        (listen,) = j2.recover()
        assert listen.end_reason == "interrupted" and listen.ended_by == "crash"
        assert listen.position_s == 20.0 and listen.ended_at == 1020.0
        assert j2.recover() == []


def test_a_non_database_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "journal.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match=r"journal\.sqlite3: cannot open the journal"):
        Journal(bad)
    assert bad.read_bytes().startswith(b"this is not sqlite")  # nothing overwritten


def test_a_fresh_file_opened_by_four_connections_at_once_opens_for_all(tmp_path):
    """SQLite answers "locked" to all but one connection switching a fresh file to WAL,
    without waiting (13 of 200 rounds failed before open_db asked again)."""
    errors: list[BaseException] = []

    def open_it(path):
        try:
            open_db(path, "CREATE TABLE IF NOT EXISTS t (x)", synchronous="FULL").close()
        except BaseException as exc:
            errors.append(exc)

    for k in range(100):
        threads = [threading.Thread(target=open_it, args=(tmp_path / f"{k}.db",))
                   for _ in range(4)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors, errors[:3]
