"""Opening the speaker's SQLite files (journal, library index) the same careful way.

WAL mode so readers (``journal tail``, the trainer's importer) never block the speaker,
and a ``quick_check`` at open so a damaged file is reported at start, naming the file,
instead of failing in the middle of a song with "database disk image is malformed".
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Literal, TypeVar

IsolationLevel = Literal["DEFERRED", "EXCLUSIVE", "IMMEDIATE"]  # None: autocommit

LOW_SPACE_BYTES = 1 << 20  # below this, an I/O error is taken for a full disk


class DatabaseDamaged(Exception):
    """The file is not an SQLite database, or its pages fail ``PRAGMA quick_check``."""


def open_db(path: Path, schema: str, *, synchronous: str = "NORMAL",
            isolation_level: IsolationLevel | None = None) -> sqlite3.Connection:
    """Connect (creating the folder and the schema), in WAL mode, checked for damage.

    A connection for one thread at a time, whichever thread that is (the loop may run on
    another thread than the one that built it); each thread that writes opens its own.
    ``isolation_level=None`` is autocommit; "IMMEDIATE" makes ``with db:`` a write
    transaction that takes the lock up front. Raises ``DatabaseDamaged`` or ``OSError``;
    the caller words the message for its file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), isolation_level=isolation_level, timeout=10.0,
                         check_same_thread=False)
    try:
        _wal(db)
        db.execute(f"PRAGMA synchronous={synchronous}")
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise DatabaseDamaged(f"damaged: {verdict}")
        db.executescript(schema)
    except sqlite3.OperationalError as exc:
        db.close()
        if "locked" in str(exc):  # busy, not damaged
            raise OSError(f"in use by another program ({exc})") from None
        raise DatabaseDamaged(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        db.close()
        raise DatabaseDamaged(str(exc)) from None
    except BaseException:
        db.close()
        raise
    return db


def _wal(db: sqlite3.Connection, attempts: int = 40) -> None:
    """WAL mode. A fresh file opened by several connections at once answers "locked" to
    all but one of them without waiting: the busy timeout does not cover the switch
    (measured: 13 of 200 rounds of four threads). Asked again, it finds WAL on, or takes
    its turn; about 8 s in all before giving up."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


_C = TypeVar("_C", bound="Closing")


class Closing:
    """``with`` support for an object that has a ``close()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteFile(Closing):
    """Base of the objects that own one open connection: ``close()`` and ``with`` support."""

    db: sqlite3.Connection

    def close(self) -> None:
        self.db.close()


def disk_full(exc: BaseException, directory: Path) -> bool:
    """SQLite's "database or disk is full", or an I/O error on a disk with no room left
    (opening a WAL journal on a full disk fails that way, and is not corruption)."""
    if getattr(exc, "sqlite_errorcode", None) == 13 or "disk is full" in str(exc):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return ("disk I/O error" in str(exc) or isinstance(exc, OSError)) and free_bytes(
        directory) < LOW_SPACE_BYTES


def free_bytes(directory: Path) -> int:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return 0
