"""Incremental library scan: walk the music folder, read only new or changed files.

A file whose (mtime, size) matches the index is not reopened, so a rescan of 10k tracks
is a directory walk. Broken files are recorded in ``scan_errors`` (and not retried until
they change); files that disappeared are dropped from the index. A track's genre comes
from its tag through the alias table, else from the nearest folder name that maps (e.g.
``Music/Jazz/...``); a track with neither stays in the index as unmapped (counted and
reported, not played).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from device.music.library.index import LibraryIndex
from device.music.library.tags import AUDIO_EXTENSIONS, TagError, read_tags
from device.shared.errors import UserError
from device.shared.genres import GenreMapper, normalise_tag

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class ScanReport:
    root: str
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    broken: list[tuple[str, str]] = field(default_factory=list)
    #: files skipped because their names are not valid UTF-8 (SQLite text, libvlc MRLs
    #: and the journal need UTF-8), shown with the bad bytes escaped
    bad_names: list[str] = field(default_factory=list)
    unmapped: Counter = field(default_factory=Counter)
    from_folder: int = 0
    seconds: float = 0.0

    @property
    def read(self) -> int:
        return self.added + self.updated + len(self.broken)

    def summary(self) -> str:
        rate = self.seen / self.seconds if self.seconds > 0 else 0.0
        parts = [
            f"{self.seen} audio files in {self.seconds:.2f} s ({rate:.0f}/s): "
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.broken)} broken",
        ]
        if self.bad_names:
            shown = ", ".join(self.bad_names[:5]) + (" ..." if len(self.bad_names) > 5 else "")
            parts.append(f"{len(self.bad_names)} skipped: file name not valid UTF-8 ({shown};"
                         " rename them)")
        if self.from_folder:
            parts.append(f"{self.from_folder} genres from folder names")
        if self.unmapped:
            top = ", ".join(f"{t!r} x{n}" for t, n in self.unmapped.most_common(8))
            parts.append(f"{sum(self.unmapped.values())} tracks with unmapped genre ({top})")
        return "; ".join(parts)


def printable(path: str) -> str:
    """A path whose name is not valid UTF-8, with the undecodable bytes as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def valid_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode kept the bad bytes as surrogates
        return False
    return True


def walk_audio(root: Path) -> Iterator[os.DirEntry]:
    """Every audio file under root (os.scandir: no per-file stat beyond the entry's)."""
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=True):
                        stack.append(entry.path)
                    elif os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS:
                        yield entry
        except OSError as exc:
            log.warning("library: cannot list %s: %s", folder, exc)


class GenreResolver:
    """Tag through the alias table, then folder names from the nearest up to the root."""

    def __init__(self, mapper):
        self.mapper = mapper
        self._norm = normalise_tag
        self._folder_cache: dict[str, str | None] = {}

    def _folder_genre(self, rel_parent: str) -> str | None:
        if rel_parent not in self._folder_cache:
            genre = None
            for part in reversed(Path(rel_parent).parts):
                genre = self.mapper.aliases.get(self._norm(part))
                if genre:
                    break
            self._folder_cache[rel_parent] = genre
        return self._folder_cache[rel_parent]

    def resolve(self, raw: str | None, rel_path: str) -> tuple[str | None, str | None]:
        if raw:
            genre = self.mapper.map(raw)
            if genre:
                return genre, "tag"
        genre = self._folder_genre(os.path.dirname(rel_path))
        return (genre, "folder") if genre else (None, None)


def scan_library(
    root: str | Path,
    index: LibraryIndex,
    *,
    genre_overrides: Path | None = None,
    progress: Callable[[ScanReport], None] | None = None,
) -> ScanReport:
    """Bring ``index`` up to date with the files under ``root``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"library.path: {root} is not a folder")
    resolver = GenreResolver(GenreMapper(genre_overrides))
    report = ScanReport(root=str(root))
    t0 = time.perf_counter()
    known = index.stamps()
    present: set[str] = set()
    rows: list[tuple] = []
    errors: list[tuple] = []
    db = index.db

    def flush() -> None:
        if not rows and not errors:
            return
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR REPLACE INTO tracks (track_id, path, title, artist, album, genre_raw,"
            " genre, genre_source, duration_s, mtime, size) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.executemany("DELETE FROM scan_errors WHERE path = ?", [(r[1],) for r in rows])
        db.executemany(
            "INSERT OR REPLACE INTO scan_errors (path, error, mtime, size) VALUES (?,?,?,?)",
            errors,
        )
        db.executemany("DELETE FROM tracks WHERE path = ?", [(e[0],) for e in errors])
        db.execute("COMMIT")
        rows.clear()
        errors.clear()

    for entry in walk_audio(root):
        path = entry.path
        report.seen += 1
        if not valid_utf8(path):
            report.bad_names.append(printable(path))
            log.warning("library: skipped %s: the file name is not valid UTF-8",
                        printable(path))
            continue
        present.add(path)
        try:
            st = entry.stat()
        except OSError as exc:
            report.broken.append((path, f"cannot stat: {exc}"))
            continue
        stamp = known.get(path)
        if stamp is not None and stamp[0] == st.st_mtime and stamp[1] == st.st_size:
            report.unchanged += 1
            continue
        try:
            tags = read_tags(path)
        except TagError as exc:
            report.broken.append((path, str(exc)))
            errors.append((path, str(exc), st.st_mtime, st.st_size))
            log.warning("library: skipped %s: %s", path, exc)
            continue
        rel = Path(os.path.relpath(path, root)).as_posix()
        genre, source = resolver.resolve(tags.genre, rel)
        if genre is None:
            report.unmapped[tags.genre or "(no tag)"] += 1
        elif source == "folder":
            report.from_folder += 1
        if stamp is None:
            report.added += 1
        else:
            report.updated += 1
        rows.append((rel, path, tags.title, tags.artist, tags.album, tags.genre, genre, source,
                     tags.duration_s, st.st_mtime, st.st_size))
        if len(rows) + len(errors) >= BATCH:
            flush()
            if progress:
                progress(report)
    flush()
    gone = [p for p in known if p not in present]
    if gone:
        db.execute("BEGIN")
        db.executemany("DELETE FROM tracks WHERE path = ?", [(p,) for p in gone])
        db.executemany("DELETE FROM scan_errors WHERE path = ?", [(p,) for p in gone])
        db.execute("COMMIT")
        report.removed = len(gone)
    index.set_meta("root", str(root))
    index.set_meta("last_scan", f"{time.time():.0f}")
    report.seconds = time.perf_counter() - t0
    return report
