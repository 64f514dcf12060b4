"""The ingest store: every speaker's listens, stored idempotently, in SQLite or PostgreSQL.

``open_store(db)`` takes the text of ``--db``: a ``postgresql://`` (or ``postgres://``) URL
opens the fleet store in PostgreSQL (``store_postgres``), anything else is a path to an
SQLite file (``store_sqlite``, the default: a household needs no database server). Both
have table ``listens`` with the journal's columns (``device.shared.listens.LISTEN_COLUMNS``;
not the speaker's own ``synced`` flag) plus ``device``, ``seq`` and ``received_at``, keyed
by (device, event_id): a batch sent twice (a lost ack, a restart on either side, a broker
restart, two workers) adds nothing the second time. Rows that fail validation go to
``rejected`` (raw JSON and the reason), so nothing a speaker sent is lost and the speaker,
told so in the ack, stops sending them. Schemas are versioned (``migrations``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .store_common import STORED, ListenScan, Outcome, StoreError
from .store_postgres import PostgresStore, redact
from .store_sqlite import ListenStore, SqliteScan

__all__ = ["STORED", "ListenScan", "ListenStore", "Outcome", "Store", "StoreError", "is_url",
           "open_scan", "open_store"]

POSTGRES_SCHEMES = ("postgresql", "postgres")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class Store(Protocol):
    """What the ingest and the reports need of a listen store, whichever the backend."""

    kind: str    # "sqlite" or "postgres"
    where: str   # the path, or the URL without its password: for messages
    version: int  # the schema version (``migrations.LATEST`` once open)

    def add_batch(self, device: str, rows: list[Any]) -> Outcome: ...
    def count(self, device: str | None = None) -> int: ...
    def event_ids(self, device: str) -> list[str]: ...
    def rejected(self) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


def is_url(db: str | Path) -> bool:
    return isinstance(db, str) and _URL.match(db) is not None


def _postgres_url(db: str | Path) -> str | None:
    """``db`` when it is a PostgreSQL URL; None for a path; any other URL refused."""
    m = _URL.match(db) if isinstance(db, str) else None
    if m is None:
        return None
    if m.group(1).lower() not in POSTGRES_SCHEMES:
        raise StoreError(f"{redact(str(db))}: not a listen store: give a path (SQLite) or"
                         " a postgresql://USER@HOST:PORT/DB URL")
    return str(db)


def open_scan(db: str | Path) -> ListenScan:
    """A chunked read of ``db``'s listens: a PostgreSQL URL (the store, brought up to date),
    or a journal or SQLite store, read-only."""
    url = _postgres_url(db)
    return PostgresStore(url) if url else SqliteScan(db)


def open_store(db: str | Path, *, clock: Callable[[], float] = time.time) -> Store:
    """The store ``db`` names: a PostgreSQL URL or an SQLite path (created if missing)."""
    url = _postgres_url(db)
    return PostgresStore(url, clock=clock) if url else ListenStore(db, clock=clock)
