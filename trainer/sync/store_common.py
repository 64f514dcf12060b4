"""What both listen-store backends share: the stored columns, a batch's validation, the
outcome of one batch and the store's error type (``trainer.sync.store`` re-exports them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from device.shared.errors import UserError
from device.shared.listens import LISTEN_COLUMNS
from device.shared.mqtt_protocol import ProtocolError, check_listen

# The journal's columns (not the speaker's own ``synced`` flag) plus where and when.
STORED = ("device", *LISTEN_COLUMNS, "seq", "received_at")
REJECTED = ("device", "event_id", "raw", "error", "received_at")


class StoreError(UserError):
    """The store cannot be opened, is damaged, or is newer than this code."""


class ListenScan(Protocol):
    """One read of table ``listens`` in chunks (a journal, an SQLite or a PostgreSQL
    store): what a columnar reader needs, with no rows held beyond one chunk."""

    where: str  # the path, or the URL without its password

    def columns(self) -> set[str]:
        """The table's column names."""
        ...

    def estimate(self) -> int:
        """About how many rows (to size arrays; a reader grows them when it is short)."""
        ...

    def chunks(self, select: str, chunk_rows: int, condition: str = "TRUE"
               ) -> Iterator[list[tuple]]:  # fmt: skip
        """``SELECT {select} FROM listens WHERE {condition}`` (SQL both engines take:
        COALESCE, ||, CASE), ``chunk_rows`` rows at a time, in one snapshot."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What one batch did: ``event_ids`` are stored now or were already."""

    event_ids: list[str]
    rejected: list[dict[str, Any]]  # {"event_id": str | None, "error": str}
    new_rows: int


@dataclass
class Checked:
    """A batch split into rows to store and rows to keep in ``rejected``."""

    good: list[tuple] = field(default_factory=list)      # in STORED order
    ids: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple] = field(default_factory=list)       # in REJECTED order


def check_batch(device: str, rows: list[Any], now: float) -> Checked:
    out = Checked()
    for row in rows:
        try:
            r = check_listen(row)
        except ProtocolError as exc:
            eid = row.get("event_id") if isinstance(row, dict) else None
            eid = eid if isinstance(eid, str) else None
            out.rejected.append({"event_id": eid, "error": str(exc)})
            raw = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
            out.bad.append((device, eid, raw, str(exc), now))
            continue
        out.good.append((device, *(r[c] for c in LISTEN_COLUMNS), r["seq"], now))
        out.ids.append(r["event_id"])
    return out
