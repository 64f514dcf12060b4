"""The library index: one SQLite row per playable track, plus the files that failed.

The speaker never walks the music folder while playing; it reads this index. ``track_id``
is the file's path relative to the library root (POSIX separators): stable across rescans
and readable in the journal.

Each row also caches the track's valence and arousal (``device.shared.music_mood``). A rescan
replaces the row of a file whose size or mtime changed, which clears its scores, so the
cache is valid exactly as long as the tags are; a new model rescores every row.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.shared.errors import UserError
from device.shared.sqlite import DatabaseDamaged, SqliteFile, disk_full, free_bytes, open_db

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    track_id     TEXT PRIMARY KEY,
    path         TEXT NOT NULL UNIQUE,
    title        TEXT,
    artist       TEXT,
    album        TEXT,
    genre_raw    TEXT,
    genre        TEXT,               -- one of the seven genres, NULL when unmapped
    genre_source TEXT,               -- 'tag' | 'folder' | NULL
    duration_s   REAL NOT NULL,
    mtime        REAL NOT NULL,
    size         INTEGER NOT NULL,
    valence      REAL,               -- -1..1 from the music-mood model, NULL until scored
    arousal      REAL,
    va_model     TEXT,               -- the model (sha256 prefix) that scored this row
    va_error     TEXT                -- why the audio could not be scored (row stays playable)
);
CREATE INDEX IF NOT EXISTS tracks_genre ON tracks (genre);
CREATE TABLE IF NOT EXISTS scan_errors (
    path  TEXT PRIMARY KEY,
    error TEXT NOT NULL,
    mtime REAL NOT NULL,
    size  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


@dataclass(frozen=True)
class Track:
    track_id: str
    path: str
    title: str | None
    artist: str | None
    album: str | None
    genre_raw: str | None
    genre: str | None
    genre_source: str | None
    duration_s: float
    mtime: float = 0.0
    size: int = 0
    valence: float | None = None  # -1..1; None until scored, or when the audio is undecodable
    arousal: float | None = None

    @property
    def label(self) -> str:
        """'Artist - Title' for the status line, falling back to the file name."""
        title = self.title or Path(self.path).stem
        return f"{self.artist} - {title}" if self.artist else title


_COLS = (
    "track_id, path, title, artist, album, genre_raw, genre, genre_source, duration_s, "
    "mtime, size, valence, arousal"
)
#: Columns added after the first release: an older index gains them on open.
_ADDED = {"valence": "REAL", "arousal": "REAL", "va_model": "TEXT", "va_error": "TEXT"}


@dataclass(frozen=True)
class ToScore:
    track_id: str
    path: str
    mtime: float
    size: int


@dataclass(frozen=True)
class Scored:
    """One scoring result; ``error`` set (and no values) when the audio is undecodable."""

    track_id: str
    mtime: float
    size: int
    valence: float | None
    arousal: float | None
    error: str | None = None


class LibraryIndex(SqliteFile):
    """The index file. It only caches what the music folder says, so a damaged one is
    moved aside (kept for inspection, never deleted) and rebuilt by the next scan."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.read_only = False
        try:
            try:
                self.db = open_db(self.path, SCHEMA)
            except DatabaseDamaged as exc:
                if disk_full(exc, self.path.parent):  # no room for the WAL: not damage
                    self._open_read_only(exc)
                    return
                aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
                for suffix in ("", "-wal", "-shm"):
                    src = Path(str(self.path) + suffix)
                    if src.exists():
                        src.rename(Path(str(aside) + suffix))
                log.warning("%s: library index is damaged (%s); moved to %s, rebuilding"
                            " it from the music folder", self.path, exc, aside)
                self.db = open_db(self.path, SCHEMA)
        except (DatabaseDamaged, OSError) as exc:
            raise UserError(f"{self.path}: cannot open the library index: {exc}") from None
        self._migrate()

    def _open_read_only(self, exc: Exception) -> None:
        """A full disk at start: play from the index as it was (read-only, no WAL needed)
        rather than not at all; rescans and scoring wait for space."""
        if not self.path.is_file():
            raise UserError(f"{self.path}: cannot create the library index: the disk is full "
                            f"({free_bytes(self.path.parent) // 1024} KiB free)") from None
        log.warning("%s: the disk is full (%s); using the library index read-only until"
                    " there is space", self.path, exc)
        self.db = sqlite3.connect(f"file:{self.path}?immutable=1", uri=True,
                                  check_same_thread=False)
        self.read_only = True

    def _migrate(self) -> None:
        have = {r[1] for r in self.db.execute("PRAGMA table_info(tracks)")}
        for column, kind in _ADDED.items():
            if column not in have:
                self.db.execute(f"ALTER TABLE tracks ADD COLUMN {column} {kind}")

    # --- valence / arousal cache ------------------------------------------------------

    def to_score(self, model: str, limit: int | None = None) -> list[ToScore]:
        """Playable rows not yet scored by ``model`` (undecodable ones are not retried
        until the file changes and the scan replaces the row)."""
        sql = ("SELECT track_id, path, mtime, size FROM tracks WHERE genre IS NOT NULL"
               " AND (va_model IS NULL OR va_model != ?) ORDER BY track_id")
        args: tuple = (model,)
        if limit is not None:
            sql += " LIMIT ?"
            args = (model, limit)
        return [ToScore(*r) for r in self.db.execute(sql, args)]

    def save_scores(self, model: str, results: list[Scored]) -> int:
        """Store scores where the row still has the stamp it was scored at; returns the
        number stored (a file replaced meanwhile waits for its own scoring)."""
        self.db.execute("BEGIN")
        cur = self.db.executemany(
            "UPDATE tracks SET valence = ?, arousal = ?, va_model = ?, va_error = ?"
            " WHERE track_id = ? AND mtime = ? AND size = ?",
            [(r.valence, r.arousal, model, r.error, r.track_id, r.mtime, r.size)
             for r in results],
        )
        self.db.execute("COMMIT")
        return cur.rowcount

    def score_counts(self, model: str) -> tuple[int, int, int]:
        """(scored, undecodable, playable total) for ``model``."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(va_model = ? AND va_error IS NULL), 0),"
            " COALESCE(SUM(va_model = ? AND va_error IS NOT NULL), 0), COUNT(*)"
            " FROM tracks WHERE genre IS NOT NULL", (model, model)).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def tracks(self, *, playable_only: bool = True) -> list[Track]:
        where = " WHERE genre IS NOT NULL" if playable_only else ""
        rows = self.db.execute(f"SELECT {_COLS} FROM tracks{where} ORDER BY track_id")
        return [Track(*r) for r in rows]

    def rows(self, *, playable_only: bool = True) -> list[dict[str, object]]:
        """Every track as a plain dict (``library list --json``); valence and arousal are
        None while unknown, ``mood_error`` says why when the audio could not be read."""
        where = " WHERE genre IS NOT NULL" if playable_only else ""
        cur = self.db.execute(
            "SELECT path, track_id, genre, duration_s, valence, arousal, title, artist, album,"
            f" genre_raw, genre_source, va_error, size, mtime FROM tracks{where}"
            " ORDER BY track_id")
        names = [d[0] for d in cur.description]
        out = []
        for r in cur:
            row = dict(zip(names, r, strict=True))
            row["mood_error"] = row.pop("va_error")
            out.append(row)
        return out

    def get(self, track_id: str) -> Track | None:
        r = self.db.execute(f"SELECT {_COLS} FROM tracks WHERE track_id = ?", (track_id,))
        row = r.fetchone()
        return Track(*row) if row else None

    def stamps(self) -> dict[str, tuple[float, int]]:
        """path -> (mtime, size) of everything already looked at, good or broken."""
        out = {p: (m, s) for p, m, s in self.db.execute("SELECT path, mtime, size FROM tracks")}
        out.update(
            {p: (m, s) for p, m, s in self.db.execute("SELECT path, mtime, size FROM scan_errors")}
        )
        return out

    def errors(self) -> list[tuple[str, str]]:
        return list(self.db.execute("SELECT path, error FROM scan_errors ORDER BY path"))

    def stats(self) -> dict[str, Any]:
        q = self.db.execute
        total, hours = q(
            "SELECT COUNT(*), COALESCE(SUM(duration_s), 0) / 3600 FROM tracks"
        ).fetchone()
        by_genre = dict(q("SELECT COALESCE(genre, '(unmapped)'), COUNT(*) FROM tracks GROUP BY 1"))
        by_source = dict(
            q("SELECT COALESCE(genre_source, '(none)'), COUNT(*) FROM tracks GROUP BY 1")
        )
        unmapped = dict(
            q(
                "SELECT COALESCE(genre_raw, '(no tag)'), COUNT(*) FROM tracks WHERE genre IS NULL"
                " GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
            )
        )
        broken = q("SELECT COUNT(*) FROM scan_errors").fetchone()[0]
        scored, undecodable = q(
            "SELECT COUNT(valence), COUNT(va_error) FROM tracks WHERE genre IS NOT NULL"
        ).fetchone()
        return {
            "tracks": total,
            "hours": round(hours, 2),
            "by_genre": by_genre,
            "genre_source": by_source,
            "unmapped_tags": unmapped,
            "broken": broken,
            "mood_scored": scored,
            "mood_undecodable": undecodable,
            "root": self.get_meta("root"),
            "last_scan": self.get_meta("last_scan"),
        }

    def forget(self, track_id: str, error: str) -> None:
        """A track failed to play: a vanished file leaves the index; a file still there
        becomes a scan error, not offered again until its mtime or size changes."""
        row = self.db.execute("SELECT path FROM tracks WHERE track_id = ?",
                              (track_id,)).fetchone()
        if row is None:
            return
        path = row[0]
        try:
            st = Path(path).stat()
        except OSError:
            st = None
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM tracks WHERE track_id = ?", (track_id,))
        if st is not None:
            self.db.execute(
                "INSERT OR REPLACE INTO scan_errors (path, error, mtime, size) VALUES (?,?,?,?)",
                (path, f"failed to play: {error}", st.st_mtime, st.st_size),
            )
        self.db.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        r = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return r[0] if r else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
