"""The listening journal: one row per play, written so that a power cut loses nothing.

SQLite in WAL mode with ``synchronous=FULL``: a listen is inserted (and fsynced) when it
starts, its position is updated every few seconds, and it is closed with an end reason
when it ends. A listen still open when the speaker starts again was cut off by a crash or
power loss: ``recover()`` closes it as ``interrupted`` at its last recorded position, and
the speaker may resume there. The column names are a contract: the taste trainer imports
this table (``user, track_id, genre, started_at, ended_at, duration_s`` ...).

The same database holds ``genre_feedback``, the on-device learning counts (see
``device.learning``), updated in the same transaction as the listen that caused them.

The journal is also the outbox of the sync to the trainer (``device.mqtt.outbox``): each
listen gets the next ``sync_seq`` when it is closed, and ``synced`` turns 1 only when the
trainer's ingest acknowledged storing it. Each thread opens its own ``Journal`` (its own
connection); SQLite's WAL and its busy timeout order the writers.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .db import DatabaseDamaged, SqliteFile, open_db
from .errors import UserError

END_REASONS = ("completed", "skipped", "stopped", "error", "interrupted")

SCHEMA = """
CREATE TABLE IF NOT EXISTS listens (
    event_id        TEXT PRIMARY KEY,          -- UUID4
    user            TEXT NOT NULL,
    track_id        TEXT NOT NULL,
    path            TEXT NOT NULL,
    genre           TEXT,
    mood            TEXT NOT NULL,             -- happy/sad/angry/neutral/unknown at start
    mood_confidence REAL NOT NULL,
    started_at      REAL NOT NULL,             -- epoch seconds
    ended_at        REAL,                      -- NULL while playing
    position_s      REAL NOT NULL DEFAULT 0,   -- last known position in the track
    duration_s      REAL,
    end_reason      TEXT CHECK (end_reason IS NULL OR end_reason IN
                        ('completed','skipped','stopped','error','interrupted')),
    synced          INTEGER NOT NULL DEFAULT 0,
    start_offset_s  REAL NOT NULL DEFAULT 0,   -- > 0 when a listen resumed mid-track
    explanation     TEXT,
    error           TEXT,
    ended_by        TEXT,                      -- end | user | mood | shutdown | crash
    sync_seq        INTEGER                    -- order of sending; set when the listen closes
);
CREATE INDEX IF NOT EXISTS listens_started ON listens (started_at);
CREATE INDEX IF NOT EXISTS listens_open ON listens (ended_at) WHERE ended_at IS NULL;
CREATE TABLE IF NOT EXISTS genre_feedback (
    user       TEXT NOT NULL,
    mood       TEXT NOT NULL,
    genre      TEXT NOT NULL,
    completed  INTEGER NOT NULL DEFAULT 0,
    skipped    INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user, mood, genre)
);
"""


_MIGRATE_SYNC_SEQ = """
ALTER TABLE listens ADD COLUMN sync_seq INTEGER;
UPDATE listens SET sync_seq = r.n FROM (
    SELECT rowid AS id, ROW_NUMBER() OVER (ORDER BY ended_at, rowid) AS n
      FROM listens WHERE ended_at IS NOT NULL) AS r
 WHERE listens.rowid = r.id;
"""
_SYNC_INDEX = """
CREATE INDEX IF NOT EXISTS listens_unsynced ON listens (sync_seq)
    WHERE synced = 0 AND sync_seq IS NOT NULL;
"""
_NEXT_SEQ = "(SELECT COALESCE(MAX(sync_seq), 0) + 1 FROM listens)"


class JournalError(UserError):
    """The journal file cannot be opened or is not a journal."""


@dataclass(frozen=True)
class Listen:
    event_id: str
    user: str
    track_id: str
    path: str
    genre: str | None
    mood: str
    mood_confidence: float
    started_at: float
    ended_at: float | None
    position_s: float
    duration_s: float | None
    end_reason: str | None
    synced: bool
    start_offset_s: float = 0.0
    explanation: str | None = None
    error: str | None = None
    ended_by: str | None = None
    sync_seq: int | None = None


_COLUMNS = [
    "event_id", "user", "track_id", "path", "genre", "mood", "mood_confidence",
    "started_at", "ended_at", "position_s", "duration_s", "end_reason", "synced",
    "start_offset_s", "explanation", "error", "ended_by", "sync_seq",
]
_SELECT = "SELECT " + ", ".join(_COLUMNS) + " FROM listens"


def _row(r: tuple) -> Listen:
    d = dict(zip(_COLUMNS, r, strict=True))
    d["synced"] = bool(d["synced"])
    return Listen(**d)


class Journal(SqliteFile):
    """Owns one SQLite connection: open one Journal per thread (loop, sync, CLI).

    A damaged journal is never replaced or repaired behind the owner's back: it holds
    listens recorded nowhere else. Opening it fails with a message that says so."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._clock = clock
        try:
            self.db = open_db(self.path, SCHEMA, synchronous="FULL",
                              isolation_level="IMMEDIATE")
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(listens)")}
            if "sync_seq" not in columns:  # a journal from before the sync existed
                with self.db:
                    for statement in _MIGRATE_SYNC_SEQ.split(";")[:-1]:
                        self.db.execute(statement)
            self.db.executescript(_SYNC_INDEX)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot open the journal: {exc}") from None
        except DatabaseDamaged as exc:
            raise JournalError(
                f"{self.path}: cannot open the journal ({exc}). It is left untouched; to"
                f" salvage its rows: sqlite3 {self.path} .recover | sqlite3 recovered.sqlite3,"
                " then move recovered.sqlite3 in its place"
            ) from None

    @property
    def connection(self) -> sqlite3.Connection:
        return self.db

    # --- writing -------------------------------------------------------------------

    def start(
        self,
        *,
        user: str,
        track_id: str,
        path: str,
        genre: str | None,
        mood: str,
        mood_confidence: float,
        duration_s: float | None,
        start_offset_s: float = 0.0,
        explanation: str | None = None,
    ) -> str:
        """Record that a play began; durable when this returns. Returns the event id."""
        event_id = str(uuid.uuid4())
        with self.db:
            self.db.execute(
                "INSERT INTO listens (event_id, user, track_id, path, genre, mood,"
                " mood_confidence, started_at, position_s, duration_s, start_offset_s,"
                " explanation) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (event_id, user, track_id, path, genre, mood, float(mood_confidence),
                 self._clock(), float(start_offset_s), duration_s, float(start_offset_s),
                 explanation),
            )
        return event_id

    def update_position(self, event_id: str, position_s: float) -> None:
        with self.db:
            self.db.execute(
                "UPDATE listens SET position_s = ? WHERE event_id = ? AND ended_at IS NULL",
                (float(position_s), event_id),
            )

    def end(
        self,
        event_id: str,
        reason: str,
        position_s: float | None = None,
        *,
        error: str | None = None,
        ended_by: str | None = None,
        feedback: tuple[str, str, str, str] | None = None,
    ) -> None:
        """Close a listen; ``feedback`` = (user, mood, genre, 'completed'|'skipped') is
        counted in the same transaction, so learning and journal never disagree."""
        if reason not in END_REASONS:
            raise ValueError(f"end_reason {reason!r} not in {END_REASONS}")
        now = self._clock()
        with self.db:
            self.db.execute(
                "UPDATE listens SET ended_at = ?, end_reason = ?, ended_by = ?,"
                " position_s = COALESCE(?, position_s), error = COALESCE(?, error),"
                f" sync_seq = {_NEXT_SEQ}"
                " WHERE event_id = ? AND ended_at IS NULL",
                (now, reason, ended_by, None if position_s is None else float(position_s),
                 error, event_id),
            )
            if feedback is not None:
                user, mood, genre, outcome = feedback
                col = {"completed": "completed", "skipped": "skipped"}[outcome]
                self.db.execute(
                    f"INSERT INTO genre_feedback (user, mood, genre, {col}, updated_at)"
                    f" VALUES (?,?,?,1,?) ON CONFLICT (user, mood, genre) DO UPDATE SET"
                    f" {col} = {col} + 1, updated_at = excluded.updated_at",
                    (user, mood, genre, now),
                )

    def recover(self) -> list[Listen]:
        """Close listens left open by a crash as ``interrupted`` at their last position.

        ``ended_at`` is the last moment we can vouch for: start + played position."""
        open_rows = [
            _row(r) for r in self.db.execute(_SELECT + " WHERE ended_at IS NULL")
        ]
        with self.db:
            for r in open_rows:
                ended = r.started_at + max(0.0, r.position_s - r.start_offset_s)
                self.db.execute(
                    "UPDATE listens SET ended_at = ?, end_reason = 'interrupted',"
                    f" ended_by = 'crash', sync_seq = {_NEXT_SEQ}"
                    " WHERE event_id = ? AND ended_at IS NULL",
                    (ended, r.event_id),
                )
        return [self.get(r.event_id) for r in open_rows]  # type: ignore[misc]

    def mark_synced(self, event_ids: list[str]) -> int:
        """The trainer acknowledged these; returns how many rows changed."""
        with self.db:
            cur = self.db.executemany(
                "UPDATE listens SET synced = 1 WHERE event_id = ? AND synced = 0",
                [(e,) for e in event_ids],
            )
        return cur.rowcount

    def unsynced(self, limit: int, *, after_seq: int = 0) -> list[Listen]:
        """Closed listens not yet acknowledged, oldest first (by ``sync_seq``)."""
        rows = self.db.execute(
            _SELECT + " WHERE synced = 0 AND sync_seq IS NOT NULL AND sync_seq > ?"
            " ORDER BY sync_seq LIMIT ?",
            (after_seq, limit),
        )
        return [_row(r) for r in rows]

    def unsynced_count(self) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM listens WHERE synced = 0 AND sync_seq IS NOT NULL"
        ).fetchone()[0]

    # --- reading -------------------------------------------------------------------

    def get(self, event_id: str) -> Listen | None:
        r = self.db.execute(_SELECT + " WHERE event_id = ?", (event_id,)).fetchone()
        return _row(r) if r else None

    def tail(self, n: int = 20) -> list[Listen]:
        rows = self.db.execute(_SELECT + " ORDER BY started_at DESC, rowid DESC LIMIT ?", (n,))
        return [_row(r) for r in rows][::-1]

    def all(self) -> list[Listen]:
        return [_row(r) for r in self.db.execute(_SELECT + " ORDER BY started_at, rowid")]

    def last_closed(self) -> Listen | None:
        r = self.db.execute(
            _SELECT + " WHERE ended_at IS NOT NULL ORDER BY ended_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return _row(r) if r else None

    def recent_track_ids(self, user: str, n: int) -> list[str]:
        """Newest first: the no-repeat window survives a restart."""
        rows = self.db.execute(
            "SELECT track_id FROM listens WHERE user = ? ORDER BY started_at DESC, rowid DESC"
            " LIMIT ?",
            (user, n),
        )
        return [r[0] for r in rows]

    def feedback_counts(self, user: str) -> dict[tuple[str, str], tuple[int, int]]:
        """(mood, genre) -> (completed, skipped) for one user."""
        rows = self.db.execute(
            "SELECT mood, genre, completed, skipped FROM genre_feedback WHERE user = ?", (user,)
        )
        return {(m, g): (c, s) for m, g, c, s in rows}
