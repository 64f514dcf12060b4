"""Versioned schema migrations for the listen store, one numbered list per backend.

Version N means the same shape on both backends. A store records what it has in table
``schema_version`` (one row per applied step). Opening a store applies the missing steps in
order in one transaction (a crash half-way leaves the previous version), and refuses a store
newer than this code, leaving it untouched. A SQLite store made before versioning (tables
``listens`` and ``rejected``, no ``schema_version``) is version 1.

Add a step by appending to both lists; never edit a step that has shipped. Steps only add
(tables, columns, indexes): the taste importer reads the SQLite file by column name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from device.shared.errors import UserError

# --- SQLite -----------------------------------------------------------------------------

# Version 1 is the store as it was before versioning, statement for statement.
SQLITE_V1 = (
    """CREATE TABLE IF NOT EXISTS listens (
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
)""",
    "CREATE INDEX IF NOT EXISTS listens_started ON listens (started_at)",
    """CREATE TABLE IF NOT EXISTS rejected (
    id          INTEGER PRIMARY KEY,
    device      TEXT NOT NULL,
    event_id    TEXT,
    raw         TEXT NOT NULL,                 -- the row as sent (JSON)
    error       TEXT NOT NULL,
    received_at REAL NOT NULL,
    UNIQUE (device, raw)
)""",
)

SQLITE: tuple[tuple[str, ...], ...] = (
    SQLITE_V1,
    # 2: one device's listens in the speaker's order (event_ids(), a per-device stream)
    ("CREATE INDEX IF NOT EXISTS listens_device_seq ON listens (device, seq)",),
)

# --- PostgreSQL -------------------------------------------------------------------------

POSTGRES: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE listens (
    device          TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    "user"          TEXT NOT NULL,
    track_id        TEXT NOT NULL,
    path            TEXT NOT NULL,
    genre           TEXT,
    mood            TEXT NOT NULL,
    mood_confidence DOUBLE PRECISION NOT NULL,
    started_at      DOUBLE PRECISION NOT NULL,
    ended_at        DOUBLE PRECISION,
    position_s      DOUBLE PRECISION NOT NULL DEFAULT 0,
    duration_s      DOUBLE PRECISION,
    end_reason      TEXT,
    start_offset_s  DOUBLE PRECISION NOT NULL DEFAULT 0,
    explanation     TEXT,
    error           TEXT,
    ended_by        TEXT,
    seq             BIGINT NOT NULL,
    received_at     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device, event_id)
)""",
        "CREATE INDEX listens_started ON listens (started_at)",
        """CREATE TABLE rejected (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device      TEXT NOT NULL,
    event_id    TEXT,
    raw         TEXT NOT NULL,
    error       TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL
)""",
        # md5: a raw row may be longer than a btree entry allows (about 2.7 kB)
        "CREATE UNIQUE INDEX rejected_device_raw ON rejected (device, md5(raw))",
    ),
    ("CREATE INDEX listens_device_seq ON listens (device, seq)",),
)

LATEST = len(SQLITE)
assert len(POSTGRES) == LATEST, "both backends must know the same versions"

VERSION_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_version ("
              " version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)",
    "postgres": "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)",
}


class SchemaTooNew(UserError):
    """The store was written by a newer Moodspeaker."""


def check_version(where: str, current: int, latest: int = LATEST) -> None:
    if current > latest:
        raise SchemaTooNew(
            f"{where}: the listen store is at schema version {current}, newer than this"
            f" Moodspeaker knows (up to {latest}); upgrade Moodspeaker to use it (the store is"
            " left untouched)")


def pending(current: int, steps: Sequence[tuple[str, ...]], upto: int | None = None
            ) -> list[tuple[int, tuple[str, ...]]]:
    """The steps after ``current`` up to ``upto`` (default: all), numbered from 1."""
    last = len(steps) if upto is None else upto
    return [(n, steps[n - 1]) for n in range(current + 1, last + 1)]


def apply(execute: Callable[..., object], current: int, steps: Sequence[tuple[str, ...]],
          now: float, placeholder: str, upto: int | None = None) -> int:
    """Run the missing steps with ``execute(sql[, params])`` (inside the caller's
    transaction) and record each; returns the version reached."""
    version = current
    for n, statements in pending(current, steps, upto):
        for sql in statements:
            execute(sql)
        execute(f"INSERT INTO schema_version (version, applied_at) VALUES"
                f" ({placeholder}, {placeholder})", (n, now))
        version = n
    return version
