"""The listen store in one SQLite file (the default: a household needs no database server).

Table ``listens`` has the journal's columns plus ``device``, ``seq`` and ``received_at``,
keyed by (device, event_id); ``rejected`` keeps rows that failed validation (raw JSON and
the reason); ``schema_version`` records the migrations applied (``trainer.sync.migrations``).
``taste build --listens STORE`` reads the file by column name.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from device.shared.sqlite import DatabaseDamaged, SqliteFile, open_db

from . import migrations
from .store_common import REJECTED, STORED, Outcome, StoreError, check_batch

_INSERT = (f"INSERT INTO listens ({', '.join(STORED)}) VALUES ({', '.join('?' * len(STORED))})"
           " ON CONFLICT (device, event_id) DO NOTHING")
_INSERT_REJECTED = (f"INSERT INTO rejected ({', '.join(REJECTED)}) VALUES (?,?,?,?,?)"
                    " ON CONFLICT (device, raw) DO NOTHING")


def schema_version(db: sqlite3.Connection) -> int:
    """0 for an empty file, 1 for a store made before versioning."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" in tables:
        return db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
    return 1 if "listens" in tables else 0


def migrate(db: sqlite3.Connection, where: str, now: float, upto: int | None = None) -> int:
    """Bring an autocommit connection's file to ``upto`` (default: the latest) in one
    write transaction; refuse a newer file. Returns the version. A store already up to
    date is only read (a reader without write access may open it)."""
    target = upto or migrations.LATEST
    current = schema_version(db)
    migrations.check_version(where, current)
    if current >= target:
        return current
    db.execute("BEGIN IMMEDIATE")  # a second worker opening the same file waits here
    try:
        current = schema_version(db)
        migrations.check_version(where, current)
        if current < target:
            db.execute(migrations.VERSION_TABLE["sqlite"])
            if current == 1 and not db.execute("SELECT 1 FROM schema_version").fetchone():
                db.execute("INSERT INTO schema_version VALUES (1, ?)", (now,))
            current = migrations.apply(db.execute, current, migrations.SQLITE, now, "?",
                                       upto)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return current


class ListenStore(SqliteFile):
    """One connection; use it from one thread (the ingest's network thread)."""

    kind = "sqlite"

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.where = str(self.path)
        self._clock = clock
        try:
            # FULL: an ack tells the speaker it may stop sending; a power cut here after
            # the ack must not lose what was acknowledged.
            self.db = open_db(self.path, "", synchronous="FULL")
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot open the listen store: {exc}") from None
        except DatabaseDamaged as exc:
            raise StoreError(f"{self.path}: cannot open the listen store ({exc}); it is left"
                             " untouched") from None
        try:
            self.version = migrate(self.db, self.where, clock())
        except migrations.SchemaTooNew as exc:
            self.db.close()
            raise StoreError(str(exc)) from None
        except sqlite3.Error as exc:
            self.db.close()
            raise StoreError(f"{self.path}: cannot bring the listen store up to date: {exc}"
                             ) from None

    def add_batch(self, device: str, rows: list[Any]) -> Outcome:
        """Store a batch's valid rows and keep its invalid ones, in one transaction."""
        batch = check_batch(device, rows, self._clock())
        self.db.execute("BEGIN IMMEDIATE")
        try:
            before = self.db.total_changes
            self.db.executemany(_INSERT, batch.good)
            new_rows = self.db.total_changes - before
            self.db.executemany(_INSERT_REJECTED, batch.bad)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return Outcome(batch.ids, batch.rejected, new_rows)

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
        cur = self.db.execute(f"SELECT {', '.join(REJECTED)} FROM rejected ORDER BY id")
        return [dict(zip(REJECTED, r, strict=True)) for r in cur]


class SqliteScan:
    """A journal or an SQLite store read without writing to it (no migration: a speaker's
    journal is read as it is)."""

    def __init__(self, path: str | Path) -> None:
        self.where = str(path)
        if not Path(path).is_file():
            raise StoreError(f"{path}: listen store not found")
        try:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot read the listens: {exc}") from None
        try:
            self.columns()  # not a database, or no listens table: fail here, naming the file
        except sqlite3.Error as exc:
            self.db.close()
            raise StoreError(f"{path}: cannot read the listens: {exc}") from None
        except StoreError:
            self.db.close()
            raise

    def columns(self) -> set[str]:
        names = {r[1] for r in self.db.execute("PRAGMA table_info(listens)")}
        if not names:
            raise StoreError(f"{self.where}: no listens table, not a journal or listen store")
        return names

    def estimate(self) -> int:
        return int(self.db.execute("SELECT MAX(rowid) FROM listens").fetchone()[0] or 0)

    def chunks(self, select: str, chunk_rows: int, condition: str = "TRUE"
               ) -> Iterator[list[tuple]]:  # fmt: skip
        try:
            cursor = self.db.execute(f"SELECT {select} FROM listens WHERE {condition}")
            while chunk := cursor.fetchmany(chunk_rows):
                yield chunk
        except sqlite3.Error as exc:
            raise StoreError(f"{self.where}: cannot read the listens: {exc}") from None

    def close(self) -> None:
        self.db.close()
