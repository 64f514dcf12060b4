"""Inputs as downloaded: a file, an unpacked folder, a ``.zip`` or a ``.tar(.gz)``.

Each file inside is recognised by its content, never by its name: services rename their
files between export versions, and people rename what they download.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from device.shared.errors import UserError

from .times import parse_time

HEAD = 65536  # enough to see the first records of any format
SQLITE_MAGIC = b"SQLite format 3\x00"

POST_KINDS = {
    "mastodon": "Mastodon outbox",
    "x": "X/Twitter tweets",
    "weibo": "Weibo crawler CSV",
    "posts_table": "posts table",
}
LISTEN_KINDS = {
    "sqlite": "speaker journal / ingest store",
    "spotify_extended": "Spotify Extended Streaming History",
    "spotify_account": "Spotify Account Data",
    "lastfm": "Last.fm CSV",
    "listens_table": "listens table",
}
OTHER_KINDS = {
    "spotify_podcast": "Spotify podcast history",
    "track_table": "track table",
}


@dataclass
class Member:
    """One file of an input. ``data()`` must be called before the next member is taken
    (a ``.tar.gz`` is read front to back, once)."""

    label: str  # "export.zip:Spotify Extended Streaming History/Streaming_History_Audio_2024.json"
    head: bytes
    data: Callable[[], bytes]


def _file_member(path: Path, label: str) -> Member:
    with open(path, "rb") as fh:
        head = fh.read(HEAD)
    return Member(label, head, path.read_bytes)


def members(path: Path) -> Iterator[Member]:
    """Every regular file of ``path`` (itself, or inside the folder or archive)."""
    path = Path(path)
    try:
        if path.is_dir():
            for sub in sorted(p for p in path.rglob("*") if p.is_file()):
                yield _file_member(sub, f"{path}/{sub.relative_to(path).as_posix()}")
            return
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    with zf.open(info) as fh:
                        head = fh.read(HEAD)
                    yield Member(f"{path}:{info.filename}", head, partial(zf.read, info))
            return
        if _is_tar(path):
            with tarfile.open(path, "r:*") as tf:
                for entry in tf:
                    if not entry.isfile():
                        continue
                    member = tf.extractfile(entry)
                    if member is None:
                        continue
                    head = member.read(HEAD)
                    yield Member(f"{path}:{entry.name}", head, partial(_rest, head, member))
            return
        yield _file_member(path, str(path))
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None


def _rest(head: bytes, fh: IO[bytes]) -> bytes:
    return head + fh.read()


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _text(head: bytes) -> str | None:
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a multi-byte character cut by the head's end
            return head[: exc.start].decode("utf-8-sig")
        return None


_YTD = re.compile(r"^\s*window\.YTD\.(\w+)\.part\d+\s*=")


def sniff(head: bytes) -> str | None:
    """The kind of a file from its first bytes, or None for anything else."""
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    text = _text(head)
    if text is None or not text.strip():
        return None
    stripped = text.lstrip()
    ytd = _YTD.match(stripped)
    if ytd:
        return "x" if ytd.group(1) in ("tweets", "tweet") else None
    if stripped.startswith("{") or stripped.startswith("["):
        return _sniff_json(stripped)
    return _sniff_csv(stripped)


def _sniff_json(text: str) -> str | None:
    first = text.split("\n", 1)[0].strip()
    if first.startswith("{") and first.endswith("}"):  # JSON lines?
        try:
            row = json.loads(first)
        except ValueError:
            row = None
        if isinstance(row, dict) and "orderedItems" not in row:
            return _table_kind(set(row))
    if '"orderedItems"' in text and re.search(r'"type"\s*:\s*"(Create|Announce)"', text):
        return "mastodon"
    if '"ms_played"' in text and '"ts"' in text:
        return "spotify_extended"
    if '"msPlayed"' in text and '"endTime"' in text:
        return "spotify_podcast" if '"podcastName"' in text else "spotify_account"
    return None


def _table_kind(columns: set[str]) -> str | None:
    if {"user", "time", "text"} <= columns:
        return "posts_table"
    if {"user", "track_id", "started_at"} <= columns:
        return "listens_table"
    if {"track_id", "genre"} <= columns:
        return "track_table"
    return None


def _sniff_csv(text: str) -> str | None:
    lines = text.split("\n", 3)
    fields = _csv_fields(lines[0])
    if fields is None:
        return None
    names = {f.strip().lower() for f in fields}
    kind = _table_kind(names)
    if kind:
        return kind
    if "正文" in names:
        return "weibo"
    if {"artist", "track"} <= names:
        return "lastfm"
    if _scrobble(fields):  # headerless lastfm-to-csv: artist,album,track,date
        return "lastfm"
    if now_playing(fields) and len(lines) > 1:  # the track playing at export: no date
        following = _csv_fields(lines[1])
        if following is not None and _scrobble(following):
            return "lastfm"
    return None


def _csv_fields(line: str) -> list[str] | None:
    try:
        return next(csv.reader(io.StringIO(line.strip("\r"))))
    except (csv.Error, StopIteration):
        return None


def _scrobble(fields: list[str]) -> bool:
    if len(fields) != 4:
        return False
    try:
        parse_time(fields[3])
    except ValueError:
        return False
    return True


def now_playing(fields: list[str]) -> bool:
    """A headerless Last.fm row without a date: the track playing when it was exported."""
    return len(fields) == 4 and not fields[3].strip() and bool(fields[0].strip())


def describe(kind: str) -> str:
    return {**POST_KINDS, **LISTEN_KINDS, **OTHER_KINDS}.get(kind, kind)
