"""The listen store in PostgreSQL (the fleet store), through psycopg 3.

Same tables and columns as the SQLite file (``"user"`` is quoted: a reserved word here), the
same key (device, event_id) and the same migrations by number. Every insert is ``INSERT ...
ON CONFLICT (device, event_id) DO NOTHING``, committed before the ingest acks: a batch sent
twice, or by two workers at once, is stored once. Several ingest workers may share one
database. A batch goes in one of two ways, whichever measured faster for its size
(docs/fleet.md): a small one (a speaker keeping up, a few listens) as one statement over
``unnest`` of one array per column (one round trip, atomic on its own); a large one (a
backlog, up to 200 rows a message) by ``COPY`` into a per-connection staging table and one
``INSERT ... SELECT``, in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import migrations
from .store_common import REJECTED, STORED, Outcome, StoreError, check_batch

if TYPE_CHECKING:
    import psycopg

_COLS = ", ".join('"user"' if c == "user" else c for c in STORED)
_STAGING = "pg_temp.listens_staging"
_CREATE_STAGING = (f"CREATE TEMP TABLE {_STAGING} (LIKE listens)"
                   " ON COMMIT DELETE ROWS")
_MERGE = (f"INSERT INTO listens ({_COLS}) SELECT {_COLS} FROM {_STAGING}"
          " ON CONFLICT (device, event_id) DO NOTHING")
_TYPES = {"seq": "int8", "mood_confidence": "float8", "started_at": "float8",
          "ended_at": "float8", "position_s": "float8", "duration_s": "float8",
          "start_offset_s": "float8", "received_at": "float8"}
_UNNEST = (f"INSERT INTO listens ({_COLS}) SELECT * FROM unnest("
           + ", ".join(f"%s::{_TYPES.get(c, 'text')}[]" for c in STORED)
           + ") ON CONFLICT (device, event_id) DO NOTHING")
# Below this many rows one unnest statement beats COPY's round trips (measured, fleet.md).
COPY_FROM_ROWS = 64
_INSERT_REJECTED = (f"INSERT INTO rejected ({', '.join(REJECTED)}) VALUES (%s,%s,%s,%s,%s)"
                    " ON CONFLICT (device, md5(raw)) DO NOTHING")
# Held while migrating so that workers starting together migrate one after the other.
_MIGRATION_LOCK = 0x6D6F6F64  # "mood"


def redact(url: str) -> str:
    """The URL without its password (in the netloc or as a ``password=`` parameter)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
        query = parts.query
        if query:
            query = urlencode([(k, "***" if k == "password" else v)
                               for k, v in parse_qsl(query, keep_blank_values=True)],
                              safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return url.split("@", 1)[-1] if "@" in url else url


def _password(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        return parts.password or dict(parse_qsl(parts.query)).get("password")
    except ValueError:
        return None


class PostgresStore:
    """One connection; use it from one thread (the ingest's network thread)."""

    kind = "postgres"

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time,
                 connect_timeout: float = 10.0):
        self.url = url
        self.where = redact(url)
        self._clock = clock
        self._connect_timeout = connect_timeout
        self.copy_from_rows = COPY_FROM_ROWS
        try:
            import psycopg
        except ImportError:
            raise StoreError(f"{self.where}: a PostgreSQL store needs psycopg 3 (pip install"
                             " 'psycopg[binary]'; the trainer extra installs it)") from None
        self._psycopg = psycopg
        self.conn = self._connect()
        try:
            self.version = self._migrate(self._clock())
            self._prepare(self.conn)
        except migrations.SchemaTooNew as exc:
            self.conn.close()
            raise StoreError(str(exc)) from None
        except psycopg.Error as exc:
            self.conn.close()
            raise self._error("cannot bring the listen store up to date", exc) from None

    # --- connection and schema -------------------------------------------------------

    def _error(self, what: str, exc: BaseException) -> StoreError:
        """One line naming the URL (not its password)."""
        text = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
        for prefix in ("connection failed: ", "connection is bad: "):
            text = text.removeprefix(prefix)
        text = text or type(exc).__name__
        secret = _password(self.url)
        if secret:
            text = text.replace(secret, "***")
        text = text.replace(self.url, self.where)
        return StoreError(f"{self.where}: {what}: {text}")

    def _connect(self) -> psycopg.Connection:
        psycopg = self._psycopg
        try:
            conn = psycopg.connect(self.url, autocommit=True,
                                   connect_timeout=max(1, round(self._connect_timeout)),
                                   application_name="moodspeaker-ingest")
        except psycopg.Error as exc:
            raise self._error("cannot open the listen store", exc) from None
        except ValueError as exc:  # a port that is not a number, and the like
            raise self._error("cannot open the listen store (bad URL)", exc) from None
        return conn

    def _version(self) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version"
                                ).fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, now: float, upto: int | None = None) -> int:
        """Missing steps under an advisory lock, in one transaction; a store already up to
        date is only read (a role that may not create tables may open it)."""
        with self.conn.transaction():
            row = self.conn.execute("SELECT to_regclass('schema_version')").fetchone()
            current = self._version() if row and row[0] else 0
        migrations.check_version(self.where, current)
        if current >= (upto or migrations.LATEST):
            return current
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self.conn.execute(migrations.VERSION_TABLE["postgres"])
            current = self._version()
            migrations.check_version(self.where, current)
            current = migrations.apply(self.conn.execute, current, migrations.POSTGRES, now,
                                       "%s", upto)
        return current

    @staticmethod
    def _prepare(conn: psycopg.Connection) -> None:
        """The connection's own staging table for COPY (emptied at every commit)."""
        conn.execute(_CREATE_STAGING)

    def _ready(self) -> psycopg.Connection:
        """The connection, opened again if the server dropped it (a restart): the batch
        that found it broken failed unacknowledged and the speaker sends it again."""
        if self.conn.closed or self.conn.broken:
            self.conn = self._connect()
            try:
                self._prepare(self.conn)
            except self._psycopg.Error as exc:
                self.conn.close()
                raise self._error("cannot prepare the listen store", exc) from None
        return self.conn

    # --- writing ---------------------------------------------------------------------

    def add_batch(self, device: str, rows: list[Any]) -> Outcome:
        """Store a batch's valid rows and keep its invalid ones, in one transaction."""
        batch = check_batch(device, rows, self._clock())
        conn = self._ready()
        small = len(batch.good) < self.copy_from_rows
        if small and not batch.bad:  # one statement: its own transaction
            new_rows = self._insert_small(conn, batch.good) if batch.good else 0
            return Outcome(batch.ids, batch.rejected, new_rows)
        new_rows = 0
        with conn.transaction(), conn.cursor() as cur:
            if small:
                new_rows = self._insert_small(conn, batch.good) if batch.good else 0
            else:
                with cur.copy(f"COPY {_STAGING} ({_COLS}) FROM STDIN") as copy:
                    for r in batch.good:
                        copy.write_row(r)
                cur.execute(_MERGE)
                new_rows = max(cur.rowcount, 0)
            if batch.bad:
                cur.executemany(_INSERT_REJECTED, batch.bad)
        return Outcome(batch.ids, batch.rejected, new_rows)

    @staticmethod
    def _insert_small(conn: psycopg.Connection, good: list[tuple]) -> int:
        cur = conn.execute(_UNNEST, [list(column) for column in zip(*good, strict=True)])
        return max(cur.rowcount, 0)

    # --- reading (tests, reports) ----------------------------------------------------

    def _one(self, sql: str, params: tuple = ()) -> Any:
        conn = self._ready()
        with conn.transaction():
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def count(self, device: str | None = None) -> int:
        if device is None:
            return int(self._one("SELECT COUNT(*) FROM listens"))
        return int(self._one("SELECT COUNT(*) FROM listens WHERE device = %s", (device,)))

    def event_ids(self, device: str) -> list[str]:
        conn = self._ready()
        with conn.transaction():
            rows = conn.execute("SELECT event_id FROM listens WHERE device = %s ORDER BY seq",
                                (device,)).fetchall()
        return [r[0] for r in rows]

    def columns(self) -> set[str]:
        conn = self._ready()
        with conn.transaction():
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'listens' AND table_schema = current_schema()").fetchall()
        return {r[0] for r in rows}

    def estimate(self) -> int:
        """The planner's row count (no scan); -1 until the table was first analysed."""
        return max(0, int(self._one("SELECT reltuples FROM pg_class"
                                    " WHERE oid = 'listens'::regclass") or 0))

    def chunks(self, select: str, chunk_rows: int, condition: str = "TRUE"
               ) -> Iterator[list[tuple]]:  # fmt: skip
        conn = self._ready()
        try:
            with conn.transaction(), conn.cursor(name="moodspeaker_scan") as cur:
                cur.itersize = chunk_rows  # a server-side cursor: one chunk in memory
                cur.execute(f"SELECT {select} FROM listens WHERE {condition}")
                while chunk := cur.fetchmany(chunk_rows):
                    yield chunk
        except self._psycopg.Error as exc:
            raise self._error("cannot read the listens", exc) from None

    def rejected(self) -> list[dict[str, Any]]:
        conn = self._ready()
        with conn.transaction():
            rows = conn.execute(f"SELECT {', '.join(REJECTED)} FROM rejected ORDER BY id"
                                ).fetchall()
        return [dict(zip(REJECTED, r, strict=True)) for r in rows]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
