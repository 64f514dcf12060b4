"""The ingest store: every speaker's listens in one SQLite file, stored idempotently.

Table ``listens`` has the journal's columns (``device.shared.mqtt_protocol.LISTEN_COLUMNS``; not
the speaker's own ``synced`` flag) plus ``device``, ``seq`` and ``received_at``, keyed by
(device, event_id): a batch sent twice (a lost ack, a restart on either side, a broker
restart) adds nothing the second time. ``taste build --listens STORE`` reads it by column
name. Rows that fail validation go to ``rejected`` (raw JSON and the reason), so nothing a
speaker sent is lost and the speaker, told so in the ack, stops sending them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.shared.errors import UserError
from device.shared.listens import LISTEN_COLUMNS
from device.shared.mqtt_protocol import ProtocolError, check_listen
from device.shared.sqlite import DatabaseDamaged, SqliteFile, open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS listens (
    device          TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    user            TEXT NOT NULL,
    track_id        TEXT NOT NULL,
    path            TEXT NOT NULL,
    genre           TEXT,
    mood            TEXT NOT NULL,
    mood_confidence REAL NOT NULL,
    started_at      REAL NOT NULL,
    ended_at        REAL,
    position_s      REAL NOT NULL DEFAULT 0,
    duration_s      REAL,
    end_reason      TEXT,
    start_offset_s  REAL NOT NULL DEFAULT 0,
    explanation     TEXT,
    error           TEXT,
    ended_by        TEXT,
    seq             INTEGER NOT NULL,          -- the speaker's per-row sync sequence
    received_at     REAL NOT NULL,             -- epoch seconds, the ingest's clock
    PRIMARY KEY (device, event_id)
);
CREATE INDEX IF NOT EXISTS listens_started ON listens (started_at);
CREATE TABLE IF NOT EXISTS rejected (
    id          INTEGER PRIMARY KEY,
    device      TEXT NOT NULL,
    event_id    TEXT,
    raw         TEXT NOT NULL,                 -- the row as sent (JSON)
    error       TEXT NOT NULL,
    received_at REAL NOT NULL,
    UNIQUE (device, raw)
);
"""

_STORED = ("device", *LISTEN_COLUMNS, "seq", "received_at")
_INSERT = (f"INSERT INTO listens ({', '.join(_STORED)}) VALUES ({', '.join('?' * len(_STORED))})"
           " ON CONFLICT (device, event_id) DO NOTHING")


class StoreError(UserError):
    """The store file cannot be opened or is damaged."""


@dataclass(frozen=True)
class Outcome:
    """What one batch did: ``event_ids`` are stored now or were already."""

    event_ids: list[str]
    rejected: list[dict[str, Any]]  # {"event_id": str | None, "error": str}
    new_rows: int


class ListenStore(SqliteFile):
    """One connection; use it from one thread (the ingest's network thread)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._clock = clock
        try:
            # FULL: an ack tells the speaker it may stop sending; a power cut here after
            # the ack must not lose what was acknowledged.
            self.db = open_db(self.path, SCHEMA, synchronous="FULL")
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the listen store: {exc}") from None
        except DatabaseDamaged as exc:
            raise StoreError(f"{self.path}: cannot open the listen store ({exc}); it is left"
                             " untouched") from None

    def add_batch(self, device: str, rows: list[Any]) -> Outcome:
        """Store a batch's valid rows and keep its invalid ones, in one transaction."""
        now = self._clock()
        good: list[tuple] = []
        ids: list[str] = []
        rejected: list[dict[str, Any]] = []
        bad: list[tuple] = []
        for row in rows:
            try:
                r = check_listen(row)
            except ProtocolError as exc:
                eid = row.get("event_id") if isinstance(row, dict) else None
                eid = eid if isinstance(eid, str) else None
                rejected.append({"event_id": eid, "error": str(exc)})
                raw = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
                bad.append((device, eid, raw, str(exc), now))
                continue
            good.append((device, *(r[c] for c in LISTEN_COLUMNS), r["seq"], now))
            ids.append(r["event_id"])
        self.db.execute("BEGIN IMMEDIATE")
        try:
            before = self.db.total_changes
            self.db.executemany(_INSERT, good)
            new_rows = self.db.total_changes - before
            self.db.executemany(
                "INSERT INTO rejected (device, event_id, raw, error, received_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (device, raw) DO NOTHING", bad)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return Outcome(ids, rejected, new_rows)

    # --- reading (tests, reports) ----------------------------------------------------

    def count(self, device: str | None = None) -> int:
        if device is None:
            return self.db.execute("SELECT COUNT(*) FROM listens").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM listens WHERE device = ?",
                               (device,)).fetchone()[0]

    def event_ids(self, device: str) -> list[str]:
        rows = self.db.execute("SELECT event_id FROM listens WHERE device = ? ORDER BY seq",
                               (device,))
        return [r[0] for r in rows]

    def rejected(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT device, event_id, raw, error, received_at FROM rejected"
                              " ORDER BY id")
        return [dict(zip(("device", "event_id", "raw", "error", "received_at"), r, strict=True))
                for r in cur]
