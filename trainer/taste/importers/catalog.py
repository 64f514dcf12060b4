"""Genre and length of streamed plays, from ``--tracks`` or the speaker's library index.

Spotify and Last.fm name a track by artist and title only. The match is normalised
(case-folded, accents and punctuation ignored), because the Last.fm tools strip commas and
services spell accents differently; the speaker's library track id is kept so that the
taste file's track ranking refers to the speaker's own files.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from device.shared.errors import UserError

from ..records import SourceReport
from .posts import decode, table_rows

_NOT_WORD = re.compile(r"[\W_]+")


@lru_cache(maxsize=1 << 16)  # a history repeats its favourite tracks thousands of times
def match_key(*parts: str) -> str:
    """``"Beyoncé - Halo, Live"`` -> ``"beyonce halo live"``."""
    text = unicodedata.normalize("NFKD", " ".join(p for p in parts if p))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(_NOT_WORD.sub(" ", text).split())


@dataclass(frozen=True)
class TrackInfo:
    track_id: str
    genre: str | None  # the raw tag: the mapper maps it (user aliases apply)
    duration_s: float | None


class Catalog:
    """Normalised ``artist title`` (and track id / Spotify URI) -> track."""

    def __init__(self) -> None:
        self.by_key: dict[str, TrackInfo] = {}

    def add(self, info: TrackInfo, *names: str | tuple[str, ...]) -> None:
        for name in names:
            key = match_key(*name) if isinstance(name, tuple) else match_key(str(name))
            if key:
                self.by_key.setdefault(key, info)

    def find(self, artist: str, title: str, uri: str = "") -> TrackInfo | None:
        for key in (match_key(uri), match_key(artist, title)):
            if key and key in self.by_key:
                return self.by_key[key]
        return None

    def __len__(self) -> int:
        return len(self.by_key)


def read_library_index(path: Path, catalog: Catalog) -> None:
    """The speaker's ``library.sqlite3`` (``device/music/library/index.py``), read only."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT track_id, artist, title, COALESCE(genre_raw, genre), duration_s "
                "FROM tracks"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise UserError(f"{path}: cannot read the library index: {exc}") from None
    for track_id, artist, title, genre, duration in rows:
        info = TrackInfo(str(track_id), genre, float(duration) if duration else None)
        catalog.add(info, str(track_id))
        if artist and title:
            catalog.add(info, (str(artist), str(title)))


def read_track_csv(path: Path, catalog: Catalog) -> None:
    """CSV ``track_id,genre[,duration_s][,artist,title]``; ``track_id`` may be ``Artist -
    Title`` or a Spotify URI."""
    src = SourceReport(str(path), "track table", "tracks")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the track table: {exc}") from None
    text = decode(data, str(path), src)
    text = text or ""
    rows = table_rows(text, text.lstrip().startswith("{"), str(path), src)
    for line, row in rows:
        try:
            duration = float(row["duration_s"]) if row.get("duration_s") else None
            track_id = str(row["track_id"]).strip()
            genre = row["genre"]
        except (KeyError, ValueError) as exc:
            raise UserError(f"{path}:{line}: bad track table row: {exc}") from None
        if duration is not None and not duration > 0:
            raise UserError(f"{path}:{line}: bad track table row: duration_s {duration}")
        if not str(genre or "").strip():
            continue  # a row of unmatched_tracks.csv not filled in yet
        info = TrackInfo(track_id, genre, duration)
        catalog.add(info, track_id)
        if row.get("artist") and row.get("title"):
            catalog.add(info, (str(row["artist"]), str(row["title"])))
    if src.details:
        raise UserError(src.details[0])


def read_track_table(*paths: Path) -> Catalog:
    """Track tables (CSV) and/or library indexes (SQLite, recognised by content)."""
    catalog = Catalog()
    for path in map(Path, paths):
        if not path.is_file():
            raise UserError(f"{path}: track table not found")
        with open(path, "rb") as fh:
            magic = fh.read(16)
        if magic == b"SQLite format 3\x00":
            read_library_index(path, catalog)
        else:
            read_track_csv(path, catalog)
    return catalog
