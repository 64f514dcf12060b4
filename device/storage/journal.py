"""The listening journal: one row per play, written so that a power cut loses nothing.

SQLite in WAL mode with ``synchronous=FULL``: a listen is inserted (and fsynced) when it
starts, its position is updated every few seconds, and it is closed with an end reason
when it ends. A listen still open when the speaker starts again was cut off by a crash or
power loss: ``recover()`` closes it as ``interrupted`` at its last recorded position, and
the speaker may resume there. The column names are a contract: the taste trainer imports
this table (``user, track_id, genre, started_at, ended_at, duration_s`` ...).

The same database holds ``genre_feedback``, the on-device learning counts (see
``device.music.learning``), updated in the same transaction as the listen that caused them.

The journal is also the outbox of the sync to the trainer (``device.mqtt.outbox``): each
listen gets the next ``sync_seq`` when it is closed, and ``synced`` turns 1 only when the
trainer's ingest acknowledged storing it. Each thread opens its own ``Journal`` (its own
connection); SQLite's WAL and its busy timeout order the writers.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from device.shared.errors import UserError
from device.shared.listens import END_REASONS, JOURNAL_COLUMNS, Listen
from device.shared.sqlite import Closing, DatabaseDamaged, disk_full, free_bytes, open_db

log = logging.getLogger(__name__)
_T = TypeVar("_T")

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

    def __init__(self, message: str, *, disk_full: bool = False):
        super().__init__(message)
        self.disk_full = disk_full


_SELECT = "SELECT " + ", ".join(JOURNAL_COLUMNS) + " FROM listens"


def _row(r: tuple) -> Listen:
    d = dict(zip(JOURNAL_COLUMNS, r, strict=True))
    d["synced"] = bool(d["synced"])
    return Listen(**d)


class JournalQueries(Closing):
    """What the journal's readers ask (the loop, the outbox, the CLI): what is on disk now,
    or an empty answer while a full disk kept the journal from opening."""

    db: sqlite3.Connection | None

    def _read(self, fn: Callable[[sqlite3.Connection], _T], default: _T) -> _T:
        return default if self.db is None else fn(self.db)

    def unsynced(self, limit: int, *, after_seq: int = 0) -> list[Listen]:
        """Closed listens not yet acknowledged, oldest first (by ``sync_seq``)."""
        return self._read(lambda db: [_row(r) for r in db.execute(
            _SELECT + " WHERE synced = 0 AND sync_seq IS NOT NULL AND sync_seq > ?"
            " ORDER BY sync_seq LIMIT ?", (after_seq, limit))], [])

    def unsynced_count(self) -> int:
        return self._read(lambda db: db.execute(
            "SELECT COUNT(*) FROM listens WHERE synced = 0 AND sync_seq IS NOT NULL"
        ).fetchone()[0], 0)

    def get(self, event_id: str) -> Listen | None:
        r = self._read(lambda db: db.execute(
            _SELECT + " WHERE event_id = ?", (event_id,)).fetchone(), None)
        return _row(r) if r else None

    def tail(self, n: int = 20) -> list[Listen]:
        return self._read(lambda db: [_row(r) for r in db.execute(
            _SELECT + " ORDER BY started_at DESC, rowid DESC LIMIT ?", (n,))][::-1], [])

    def all(self) -> list[Listen]:
        return self._read(lambda db: [_row(r) for r in db.execute(
            _SELECT + " ORDER BY started_at, rowid")], [])

    def last_closed(self) -> Listen | None:
        r = self._read(lambda db: db.execute(
            _SELECT + " WHERE ended_at IS NOT NULL ORDER BY ended_at DESC, rowid DESC LIMIT 1"
        ).fetchone(), None)
        return _row(r) if r else None

    def recent_track_ids(self, user: str, n: int) -> list[str]:
        """Newest first: the no-repeat window survives a restart."""
        return self._read(lambda db: [r[0] for r in db.execute(
            "SELECT track_id FROM listens WHERE user = ? ORDER BY started_at DESC, rowid DESC"
            " LIMIT ?", (user, n))], [])

    def feedback_counts(self, user: str) -> dict[tuple[str, str], tuple[int, int]]:
        """(mood, genre) -> (completed, skipped) for one user."""
        rows: list[tuple[str, str, int, int]] = self._read(lambda db: db.execute(
            "SELECT mood, genre, completed, skipped FROM genre_feedback WHERE user = ?",
            (user,)).fetchall(), [])
        return {(m, g): (c, s) for m, g, c, s in rows}


class Journal(JournalQueries):
    """Owns one SQLite connection: open one Journal per thread (loop, sync, CLI).

    A damaged journal is never replaced or repaired behind the owner's back: it holds
    listens recorded nowhere else. Opening it fails with a message that says so.

    With ``hold_when_full`` (the speaker), a full disk does not stop the music: writes that
    fail for lack of space wait in memory, in order (at most ``MAX_PENDING``; position
    updates are merged), and ``flush_pending()`` retries them every few seconds, opening the
    journal first if the disk was already full at start. Reads meanwhile see what is on
    disk. Everything already recorded stays as it was."""

    MAX_PENDING = 10_000
    RETRY_S = 5.0

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time,
                 hold_when_full: bool = False, monotonic: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self._clock = clock
        self._mono = monotonic
        self.hold_when_full = hold_when_full
        self.db: sqlite3.Connection | None = None
        self._pending: deque[Callable[[sqlite3.Connection], None]] = deque()
        self._positions: dict[str, float] = {}  # merged position updates while waiting
        self._next_try = 0.0
        self.held = 0  # writes that waited for space, ever
        try:
            self._open()
        except JournalError as exc:
            if not (hold_when_full and exc.disk_full):
                raise
            self._full(exc)

    def _open(self) -> None:
        try:
            self.db = open_db(self.path, SCHEMA, synchronous="FULL",
                              isolation_level="IMMEDIATE")
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(listens)")}
            if "sync_seq" not in columns:  # a journal from before the sync existed
                with self.db:
                    for statement in _MIGRATE_SYNC_SEQ.split(";")[:-1]:
                        self.db.execute(statement)
            self.db.executescript(_SYNC_INDEX)
        except (OSError, DatabaseDamaged, sqlite3.Error) as exc:
            if self.db is not None:
                self.db.close()
                self.db = None
            if disk_full(exc, self.path.parent):
                raise JournalError(
                    f"{self.path}: cannot open the journal: the disk is full "
                    f"({free_bytes(self.path.parent) // 1024} KiB free in {self.path.parent})."
                    " The journal is intact; free some space", disk_full=True) from None
            if isinstance(exc, OSError):
                raise JournalError(f"{self.path}: cannot open the journal: {exc}") from None
            raise JournalError(
                f"{self.path}: cannot open the journal ({exc}). It is left untouched; to"
                f" salvage its rows: sqlite3 {self.path} .recover | sqlite3 recovered.sqlite3,"
                " then move recovered.sqlite3 in its place"
            ) from None

    @property
    def connection(self) -> sqlite3.Connection:
        assert self.db is not None, "the journal is not open (disk full)"
        return self.db

    def close(self) -> None:
        if self._pending and self.db is not None:
            self._next_try = 0.0
            self.flush_pending()
        if self._pending:
            log.error("journal: %d writes could not be saved: the disk is still full",
                      len(self._pending))
        if self.db is not None:
            self.db.close()

    # --- writing through a full disk ------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _write(self, op: Callable[[sqlite3.Connection], None]) -> None:
        if not self._pending and self.db is not None:
            try:
                op(self.db)
                return
            except sqlite3.OperationalError as exc:
                if not (self.hold_when_full and disk_full(exc, self.path.parent)):
                    raise
                self._full(exc)
        elif not self.hold_when_full:
            raise JournalError(f"{self.path}: the journal is not open")
        if len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft()
            log.error("journal: more than %d writes waiting for disk space; the oldest is"
                      " lost", self.MAX_PENDING)
        self._pending.append(op)
        self.held += 1

    def _full(self, exc: BaseException) -> None:
        if not self._pending:
            log.warning(
                "journal: the disk holding %s is full (%d KiB free): %s. The music goes on;"
                " journal writes wait in memory and are retried every %.0f s",
                self.path.parent, free_bytes(self.path.parent) // 1024, exc, self.RETRY_S)
        self._next_try = self._mono() + self.RETRY_S

    def flush_pending(self) -> bool:
        """Retry the writes that waited for space (at most every ``RETRY_S``); True when
        nothing is waiting any more. Cheap when nothing waits: the loop calls it each tick."""
        if not self._pending and self.db is not None:
            return True
        if self._mono() < self._next_try:
            return False
        try:
            if self.db is None:
                self._open()
            assert self.db is not None
            n = len(self._pending)
            while self._pending:
                self._pending[0](self.db)
                self._pending.popleft()
        except (JournalError, sqlite3.OperationalError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and not disk_full(
                    exc, self.path.parent):
                raise
            self._next_try = self._mono() + self.RETRY_S
            return False
        self._positions.clear()
        log.warning("journal: there is disk space again; the %d writes that waited are saved", n)
        return True

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
        """Record that a play began; durable when this returns (unless the disk is full:
        then it waits in memory). Returns the event id."""
        event_id = str(uuid.uuid4())
        row = (event_id, user, track_id, path, genre, mood, float(mood_confidence),
               self._clock(), float(start_offset_s), duration_s, float(start_offset_s),
               explanation)

        def op(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT OR IGNORE INTO listens (event_id, user, track_id, path, genre,"
                    " mood, mood_confidence, started_at, position_s, duration_s,"
                    " start_offset_s, explanation) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)

        self._write(op)
        return event_id

    def update_position(self, event_id: str, position_s: float) -> None:
        if self._pending:  # merge: one waiting update per listen, with the newest value
            queued = event_id in self._positions
            self._positions[event_id] = float(position_s)
            if queued:
                return

        def op(db: sqlite3.Connection) -> None:
            pos = self._positions.pop(event_id, float(position_s))
            with db:
                db.execute(
                    "UPDATE listens SET position_s = ? WHERE event_id = ? AND ended_at IS NULL",
                    (pos, event_id))

        self._write(op)

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
        pos = None if position_s is None else float(position_s)

        def op(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "UPDATE listens SET ended_at = ?, end_reason = ?, ended_by = ?,"
                    " position_s = COALESCE(?, position_s), error = COALESCE(?, error),"
                    f" sync_seq = {_NEXT_SEQ}"
                    " WHERE event_id = ? AND ended_at IS NULL",
                    (now, reason, ended_by, pos, error, event_id),
                )
                if feedback is not None:
                    user, mood, genre, outcome = feedback
                    col = {"completed": "completed", "skipped": "skipped"}[outcome]
                    db.execute(
                        f"INSERT INTO genre_feedback (user, mood, genre, {col}, updated_at)"
                        f" VALUES (?,?,?,1,?) ON CONFLICT (user, mood, genre) DO UPDATE SET"
                        f" {col} = {col} + 1, updated_at = excluded.updated_at",
                        (user, mood, genre, now),
                    )

        self._write(op)

    def recover(self) -> list[Listen]:
        """Close listens left open by a crash as ``interrupted`` at their last position.

        ``ended_at`` is the last moment we can vouch for: start + played position."""
        open_rows: list[Listen] = self._read(lambda db: [
            _row(r) for r in db.execute(_SELECT + " WHERE ended_at IS NULL")], [])
        closed = []
        for r in open_rows:
            ended = r.started_at + max(0.0, r.position_s - r.start_offset_s)

            def op(db: sqlite3.Connection, r: Listen = r, ended: float = ended) -> None:
                with db:
                    db.execute(
                        "UPDATE listens SET ended_at = ?, end_reason = 'interrupted',"
                        f" ended_by = 'crash', sync_seq = {_NEXT_SEQ}"
                        " WHERE event_id = ? AND ended_at IS NULL",
                        (ended, r.event_id),
                    )

            self._write(op)
            closed.append(replace(r, ended_at=ended, end_reason="interrupted",
                                  ended_by="crash"))
        return closed

    def mark_synced(self, event_ids: list[str]) -> int:
        """The trainer acknowledged these; returns how many rows changed."""
        db = self.connection
        with db:
            cur = db.executemany(
                "UPDATE listens SET synced = 1 WHERE event_id = ? AND synced = 0",
                [(e,) for e in event_ids],
            )
        return cur.rowcount
