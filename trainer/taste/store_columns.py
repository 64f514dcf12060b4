"""A listen store read straight into columns: the taste build's reader for the ingest
store (SQLite or PostgreSQL) and for journals, at any size.

One scan in bounded chunks (``trainer.sync.store.open_scan``: ``fetchmany`` in SQLite, a
server-side cursor in PostgreSQL), so memory holds the columns and never the rows. Per row
only six values cross into Python (the person and the track as one string each); names are
trimmed, named and mapped once per distinct value. A row's person is the importer's
(``records.listener``: ``user@device`` in an ingest store, then the people file's merge).
Rows without an end, a length, a user or a track are skipped and counted, as the importer
skips them. Speaker listens with a mood seen (evidence by themselves, few) are read again
as records. The store's key dedupes (device, event_id); event ids are not compared across
inputs (80M ids would not fit): the rows whose ids a journal read before gave
(``seen``) are left out, and counted.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from device.shared.genres import GENRES
from device.shared.moods import MOODS
from trainer.sync.store import ListenScan, StoreError, open_scan
from trainer.sync.store_sqlite import SqliteScan

from .columns import ListenColumns, Names, genre_codes
from .records import Listen, listener

FETCH_ROWS = 100_000  # store rows per chunk

_COLUMNS = ("user", "track_id", "genre", "started_at", "ended_at", "duration_s")
_SPEAKER = ("mood", "end_reason", "ended_by", "mood_confidence", "position_s",
            "start_offset_s", "device")  # fmt: skip
_SEP = "\x1f"


def is_listen_store(path: Path) -> bool:
    """An SQLite file whose table ``listens`` has a ``device`` column: the ingest store (a
    speaker's own journal has none; anything else, the importer names what it is)."""
    if not path.is_file():
        return False
    try:
        scan = SqliteScan(path)
    except StoreError:
        return False
    try:
        return "device" in scan.columns()
    finally:
        scan.close()


def read_store(db: str | Path, users: Names, mapper: Callable[[str | None], str | None] | None
               = None, listeners: dict[str, str] | None = None, chunk: int = FETCH_ROWS,
               owner: str | None = None, seen: set[str] | None = None
               ) -> ListenColumns:  # fmt: skip
    """Table ``listens`` of ``db`` (a journal or SQLite store path, or a ``postgresql://``
    URL) into columns coded with ``users`` (new people added), ``chunk`` rows at a time.
    ``owner`` (``--user``): every row is that person's, as the importer reads it; rows
    whose ``event_id`` is in ``seen`` (read from a journal already) are left out."""
    scan = open_scan(db)
    collecting = gc.isenabled()
    gc.disable()  # millions of row tuples, none in a cycle: the collector would only rescan
    try:
        has = scan.columns()
        missing = [c for c in _COLUMNS if c not in has]
        if missing:
            raise StoreError(f"{scan.where}: listens table lacks column(s) {', '.join(missing)}")
        device = "COALESCE(device, '')" if "device" in has else "''"
        kind = "0"  # 0 streamed, 1 journalled without a mood seen, 2 speaker evidence
        if {"mood", "end_reason"} <= has:
            moods = ", ".join(f"'{m}'" for m in MOODS)
            kind = (f"CASE WHEN end_reason IS NULL OR mood IS NULL THEN 0 "
                    f"WHEN mood IN ({moods}) THEN 2 ELSE 1 END")  # fmt: skip
        seen = seen if seen and "event_id" in has else None
        cols = _Columns(scan.estimate(), seen)
        raw_users, raw_tracks = Names(), Names()
        event = ", COALESCE(event_id, '')" if seen else ""
        for rows in scan.chunks(
            f"COALESCE(\"user\", '') || '{_SEP}' || {device}, COALESCE(track_id, '') || "
            f"'{_SEP}' || COALESCE(genre, ''), started_at, ended_at, duration_s, {kind}{event}",
            chunk,
        ):  # fmt: skip
            cols.add(rows, raw_users, raw_tracks)
        speaker = _speaker_records(scan, has, kind, chunk, mapper, listeners, owner, seen) if (
            cols.count(2)) else []  # fmt: skip
    finally:
        scan.close()
        if collecting:
            gc.enable()
    return cols.finish(users, raw_users, raw_tracks, mapper, listeners, speaker, owner)


class _Columns:
    """The columns of one scan, coded against the raw (untrimmed) names, grown as needed."""

    def __init__(self, estimate: int, seen: set[str] | None) -> None:
        self.seen = seen
        size = max(estimate, 1)
        self.user = np.empty(size, np.int32)
        self.track = np.empty(size, np.int32)
        self.start = np.empty(size, np.float64)
        self.end = np.empty(size, np.float64)
        self.heard = np.empty(size, np.float64)
        self.kind = np.empty(size, np.int8)
        self.n = 0

    def _fit(self, m: int) -> None:
        if self.n + m <= len(self.user):
            return
        size = max(2 * len(self.user), self.n + m)  # the estimate was short: rows added
        for name in ("user", "track", "start", "end", "heard", "kind"):
            col = getattr(self, name)
            grown = np.empty(size, col.dtype)
            grown[: self.n] = col[: self.n]
            setattr(self, name, grown)

    def add(self, rows: list[tuple], raw_users: Names, raw_tracks: Names) -> None:
        """One chunk in (the fraction heard NaN where a row has no usable end or length;
        kind -1 where a journal gave its event already)."""
        user_s, track_s, start_s, end_s, dur_s, kind_s, *event_s = zip(*rows, strict=True)
        m = len(rows)
        self._fit(m)
        at = slice(self.n, self.n + m)
        self.user[at] = raw_users.code(user_s)
        self.track[at] = raw_tracks.code(track_s)
        s = self.start[at]
        s[:] = np.array(start_s, dtype=np.float64)  # None -> NaN
        e = self.end[at]
        e[:] = np.array(end_s, dtype=np.float64)
        d = np.array(dur_s, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            usable = (d > 0) & (e >= s)
            self.heard[at] = np.where(usable, (e - s) / np.where(usable, d, 1.0), np.nan)
        self.kind[at] = np.fromiter(kind_s, np.int8, m)
        if self.seen is not None:
            seen = self.seen
            self.kind[at][np.fromiter((ev in seen for ev in event_s[0]), bool, m)] = -1
        self.n += m

    def count(self, kind: int) -> int:
        """Rows of ``kind`` (-1: given by a journal before; 2: speaker evidence)."""
        return int((self.kind[: self.n] == kind).sum())

    def finish(self, users: Names, raw_users: Names, raw_tracks: Names, mapper,
               listeners: dict[str, str] | None, speaker: list[Listen], owner: str | None
               ) -> ListenColumns:  # fmt: skip
        """People named and merged, tracks trimmed and sorted, genres mapped, bad rows out."""
        n = self.n
        user, track, start, heard, end, kinds = (c[:n] for c in (
            self.user, self.track, self.start, self.heard, self.end, self.kind))  # fmt: skip
        duplicates = self.count(-1)
        persons = [_person(key, listeners, owner) for key in raw_users.codes]
        to_user = users.code(persons)
        track_ids, genre_of = [], []
        for key in raw_tracks.codes:
            tid, _, g = key.partition(_SEP)
            track_ids.append(tid.strip())
            genre_of.append(g or None)
        ids = Names(track_ids)
        track_names, remap = ids.sorted_remap()
        to_track = remap[ids.code(track_ids)] if track_ids else np.zeros(0, np.int32)
        to_genre = genre_codes(genre_of, mapper)
        empty_user = np.array([not p for p in persons], dtype=bool)
        empty_track = np.array([not t for t in track_ids], dtype=bool)
        new = kinds >= 0
        ok = ~np.isnan(heard) & (heard >= 0) & ~empty_user[user] & ~empty_track[track] & new
        if not ok.all():
            user, track, start, heard, end, kinds = (c[ok] for c in (
                user, track, start, heard, end, kinds))  # fmt: skip
        genre = to_genre[track]
        user, track = to_user[user], to_track[track]
        return ListenColumns(user, track, genre, start, heard, kinds < 2, track_names, speaker,
                             n - duplicates - len(user), _until(users, user, end, kinds >= 1),
                             unseen=int((kinds == 1).sum()),
                             duplicates=duplicates)  # fmt: skip


def _person(key: str, listeners: dict[str, str] | None, owner: str | None) -> str:
    """Who a raw ``user<SEP>device`` is (empty: nobody, the row is skipped)."""
    if owner:
        return owner
    name, _, dev = key.partition(_SEP)
    who = listener(name.strip(), dev.strip() or None)
    return listeners.get(who, who) if listeners and who else who


def _until(users: Names, user: np.ndarray, end: np.ndarray, journalled: np.ndarray
           ) -> dict[str, float]:  # fmt: skip
    """``build.listens_until`` per person: the end of the last listen the speaker
    journalled (any mood seen)."""
    if not journalled.any():
        return {}
    last = np.full(len(users.codes), -np.inf)
    np.maximum.at(last, user[journalled], end[journalled])
    return dict(sorted((users.names[i], round(float(last[i]), 3))
                       for i in np.flatnonzero(last > -np.inf)))  # fmt: skip


def _speaker_records(scan: ListenScan, has: set[str], kind: str, chunk: int, mapper,
                     listeners: dict[str, str] | None, owner: str | None,
                     seen: set[str] | None) -> list[Listen]:  # fmt: skip
    """The speaker's listens with a mood seen, read again as records (those a journal gave
    before left out)."""
    extra = [c for c in (*_SPEAKER, "event_id") if c in has]
    names = (*_COLUMNS, *extra)
    out: list[Listen] = []
    select = ", ".join(f'"{c}"' for c in names)
    for rows in scan.chunks(select, chunk, condition=f"{kind} = 2"):
        for r in rows:
            row = dict(zip(names, r, strict=True))
            if seen and row.get("event_id") in seen:
                continue
            row["user"] = _person(f"{row['user'] or ''}{_SEP}{row.get('device') or ''}",
                                  listeners, owner)  # fmt: skip
            if _usable(row):
                out.append(_speaker_listen(row, mapper))
    return out


def _usable(row: dict) -> bool:
    end, dur, start = row.get("ended_at"), row.get("duration_s"), row.get("started_at")
    return (end is not None and dur is not None and start is not None and dur > 0
            and end >= start and bool(str(row.get("track_id") or "").strip())
            and bool(row["user"]))  # fmt: skip


def _speaker_listen(row: dict, mapper) -> Listen:
    genre = mapper(row["genre"]) if mapper is not None else row["genre"]
    position, offset = row.get("position_s"), row.get("start_offset_s") or 0.0
    heard = max(0.0, position - offset) if position is not None and position > 0 else None
    return Listen(str(row["user"]).strip(), str(row["track_id"]).strip(),
                  genre if genre in GENRES else None, float(row["started_at"]),
                  float(row["ended_at"]), float(row["duration_s"]), row["mood"],
                  row.get("mood_confidence"), row["end_reason"], row.get("ended_by"), heard,
                  _text(row.get("device")))  # fmt: skip


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
