"""Read posts and listens from the files people actually have; report bad rows by line.

Posts: CSV/JSONL ``user,time,text``; Mastodon ``outbox.json``; X/Twitter ``tweets.js``.
Listens: CSV/JSONL ``user,track_id,genre,started_at,ended_at,duration_s``; the speaker's
``journal.sqlite3``; Spotify extended streaming history JSON; Last.fm scrobble CSV. The
last two carry no genre or length: they come from a track table (CSV ``track_id,genre,
duration_s`` keyed by track id or by ``artist - title``) or from the speaker's library index
(SQLite ``tracks`` table, matched by ``artist - title``).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from device.errors import UserError
from device.genres import GenreMapper

from .records import ImportReport, Listen, Post

LISTEN_KEYS = ("user", "track_id", "genre", "started_at", "ended_at", "duration_s")


def parse_time(value: object) -> float:
    """Epoch seconds (number or numeric string) or ISO 8601 (``Z`` or offset; naive = UTC)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in ("%a %b %d %H:%M:%S %z %Y", "%d %b %Y %H:%M", "%d %b %Y, %H:%M"):
            try:
                stamp = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"not a time: {text!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _rows(path: Path, report: ImportReport) -> Iterator[tuple[int, dict]]:
    """(line, row) from CSV (header) or JSONL; unreadable lines are reported and skipped."""
    try:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        report.skip(str(path), f"cannot open: {exc}")
        return
    with fh:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    report.skip(f"{path}:{line}", f"invalid JSON: {exc.msg}")
                    continue
                if not isinstance(row, dict):
                    report.skip(f"{path}:{line}", "not a JSON object")
                    continue
                yield line, row
        else:
            reader = csv.DictReader(fh)
            try:
                for row in reader:
                    yield reader.line_num, row
            except (csv.Error, UnicodeDecodeError) as exc:
                report.skip(f"{path}:{reader.line_num}", f"unreadable CSV: {exc}")


def _posts_table(path: Path, report: ImportReport) -> Iterator[Post]:
    for line, row in _rows(path, report):
        try:
            user, text = str(row["user"]).strip(), str(row["text"])
            when = parse_time(row["time"])
        except KeyError as exc:
            report.skip(f"{path}:{line}", f"missing column {exc}")
            continue
        except (TypeError, ValueError) as exc:
            report.skip(f"{path}:{line}", str(exc))
            continue
        if not user:
            report.skip(f"{path}:{line}", "empty user")
            continue
        yield Post(user, when, text)


def _load_json(path: Path, report: ImportReport, strip_js: bool = False) -> object | None:
    try:
        text = path.read_text(encoding="utf-8-sig")
        if strip_js:  # tweets.js: "window.YTD.tweets.part0 = [...]"
            text = text[text.index("=") + 1 :] if "=" in text.split("[", 1)[0] else text
        return json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        report.skip(str(path), f"cannot read as JSON: {exc}")
        return None


def _strip_html(html: str) -> str:
    from html.parser import HTMLParser

    parts: list[str] = []
    parser = HTMLParser()
    parser.handle_data = parts.append  # type: ignore[method-assign]
    parser.feed(html.replace("<br>", "\n").replace("</p>", "\n"))
    return "".join(parts).strip()


def _mastodon(path: Path, report: ImportReport, user: str) -> Iterator[Post]:
    data = _load_json(path, report)
    if data is None:
        return
    items = data.get("orderedItems", []) if isinstance(data, dict) else []
    for i, item in enumerate(items):
        obj = item.get("object") if isinstance(item, dict) else None
        if item.get("type") != "Create" or not isinstance(obj, dict):
            continue  # boosts and deletions carry no text of the user's own
        try:
            yield Post(user, parse_time(obj["published"]), _strip_html(obj.get("content", "")))
        except (KeyError, ValueError) as exc:
            report.skip(f"{path}: orderedItems[{i}]", f"bad status: {exc}")


def _tweets(path: Path, report: ImportReport, user: str) -> Iterator[Post]:
    data = _load_json(path, report, strip_js=True)
    if not isinstance(data, list):
        if data is not None:
            report.skip(str(path), "expected a list of tweets")
        return
    for i, item in enumerate(data):
        tweet = item.get("tweet", item) if isinstance(item, dict) else {}
        try:
            yield Post(user, parse_time(tweet["created_at"]), tweet.get("full_text", ""))
        except (KeyError, ValueError, AttributeError) as exc:
            report.skip(f"{path}: [{i}]", f"bad tweet: {exc}")


def read_posts(paths: list[Path], report: ImportReport, user: str | None = None) -> list[Post]:
    """Posts from every file; archives (outbox.json, tweets.js) need ``user`` or the stem."""
    posts: list[Post] = []
    for path in map(Path, paths):
        if not path.exists():
            raise UserError(f"{path}: posts file not found")
        owner = user or path.parent.name or path.stem
        if path.name.endswith("outbox.json"):
            found = list(_mastodon(path, report, owner))
        elif path.suffix == ".js":
            found = list(_tweets(path, report, owner))
        else:
            found = list(_posts_table(path, report))
        report.rows["posts"] += len(found)
        posts.extend(found)
    return posts


# ---- listens -------------------------------------------------------------------------


def _listen(row: dict, mapper: GenreMapper) -> Listen:
    user, track = str(row["user"]).strip(), str(row["track_id"]).strip()
    if not user or not track:
        raise ValueError("empty user or track_id")
    start, end = parse_time(row["started_at"]), parse_time(row["ended_at"])
    duration = float(row["duration_s"])
    if not (duration > 0) or end < start:
        raise ValueError(f"duration_s {duration} or ended_at before started_at")
    return Listen(user, track, mapper.map(row.get("genre")), start, end, duration)


def _listens_table(path: Path, report: ImportReport, mapper: GenreMapper) -> Iterator[Listen]:
    for line, row in _rows(path, report):
        try:
            yield _listen(row, mapper)
        except KeyError as exc:
            report.skip(f"{path}:{line}", f"missing column {exc}")
        except (TypeError, ValueError) as exc:
            report.skip(f"{path}:{line}", str(exc))


def _journal(path: Path, report: ImportReport, mapper: GenreMapper) -> Iterator[Listen]:
    """The speaker's journal: table ``listens``, epoch-second timestamps."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        cursor = db.execute(
            "SELECT rowid, user, track_id, genre, started_at, ended_at, duration_s FROM listens"
        )
        rows = cursor.fetchall()
        db.close()
    except sqlite3.Error as exc:
        report.skip(str(path), f"cannot read journal: {exc}")
        return
    for rowid, *values in rows:
        row = dict(zip(LISTEN_KEYS, values, strict=True))
        if row["user"] is None:
            report.skip(f"{path}: listens rowid {rowid}", "no user (nobody recognised)")
            continue
        try:
            yield _listen(row, mapper)
        except (TypeError, ValueError) as exc:
            report.skip(f"{path}: listens rowid {rowid}", str(exc))


def read_library_index(path: Path) -> dict[str, tuple[str | None, float | None]]:
    """The speaker's library index: ``artist - title`` (and the track id) -> raw genre tag
    (the mapper maps it again, so user alias overrides apply) and duration."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = db.execute(
            "SELECT track_id, artist, title, COALESCE(genre_raw, genre), duration_s FROM tracks"
        ).fetchall()
        db.close()
    except sqlite3.Error as exc:
        raise UserError(f"{path}: cannot read the library index: {exc}") from None
    table: dict[str, tuple[str | None, float | None]] = {}
    for track_id, artist, title, genre, duration in rows:
        entry = (genre, float(duration) if duration else None)
        table[str(track_id).casefold()] = entry
        if artist and title:
            table[f"{artist} - {title}".casefold()] = entry
    return table


def read_track_table(path: Path) -> dict[str, tuple[str | None, float | None]]:
    """CSV ``track_id,genre,duration_s`` (``track_id`` may be ``artist - title``), or the
    speaker's library index (``.sqlite3``/``.sqlite``/``.db``)."""
    if Path(path).suffix in (".sqlite3", ".sqlite", ".db"):
        return read_library_index(Path(path))
    table: dict[str, tuple[str | None, float | None]] = {}
    report = ImportReport()
    for line, row in _rows(Path(path), report):
        try:
            duration = float(row["duration_s"]) if row.get("duration_s") else None
            table[str(row["track_id"]).strip().casefold()] = (row.get("genre"), duration)
        except (KeyError, ValueError) as exc:
            raise UserError(f"{path}:{line}: bad track table row: {exc}") from None
    if report.skipped:
        raise UserError(report.skipped[0])
    return table


def _lookup(tracks: dict, keys: list[str]) -> tuple[str, str | None, float | None] | None:
    for key in keys:
        hit = tracks.get(key.casefold())
        if hit:
            return key, hit[0], hit[1]
    return None


def _spotify(path, report, mapper, tracks, user) -> Iterator[Listen]:
    data = _load_json(path, report)
    if not isinstance(data, list):
        return
    for i, item in enumerate(data):
        try:
            end = parse_time(item["ts"])
            played = float(item["ms_played"]) / 1000.0
            name = f"{item.get('master_metadata_album_artist_name')} - " + str(
                item.get("master_metadata_track_name")
            )
            uri = item.get("spotify_track_uri") or ""
        except (KeyError, TypeError, ValueError) as exc:
            report.skip(f"{path}: [{i}]", f"bad stream entry: {exc}")
            continue
        hit = _lookup(tracks, [uri, name])
        if hit is None:
            report.skip(f"{path}: [{i}]", f"track {name!r} not in the track table")
            continue
        key, genre, duration = hit
        yield Listen(
            str(item.get("username") or user), key, mapper.map(genre), end - played, end,
            duration or max(played, 1.0),
        )  # fmt: skip


def _lastfm(path, report, mapper, tracks, user) -> Iterator[Listen]:
    """Last.fm export CSV: ``uts,utc_time,artist,...,track`` header, or headerless
    ``artist,album,track,date`` (lastfm-to-csv). Plays are assumed complete."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        report.skip(str(path), f"cannot read: {exc}")
        return
    header = lines[0].lower().split(",") if lines else []
    has_header = "artist" in header and ("uts" in header or "date" in header)
    reader = csv.reader(lines[1:] if has_header else lines)
    for line, cols in enumerate(reader, start=2 if has_header else 1):
        try:
            if has_header:
                row = dict(zip(header, cols, strict=False))
                artist, title = row["artist"], row["track"]
                start = parse_time(row.get("uts") or row["date"])
            else:
                artist, _album, title, date = cols[:4]
                start = parse_time(date)
        except (KeyError, ValueError) as exc:
            report.skip(f"{path}:{line}", f"bad scrobble: {exc}")
            continue
        hit = _lookup(tracks, [f"{artist} - {title}"])
        if hit is None:
            report.skip(f"{path}:{line}", f"track {artist} - {title!r} not in the track table")
            continue
        key, genre, duration = hit
        duration = duration or 210.0
        yield Listen(user, key, mapper.map(genre), start, start + duration, duration)


def read_listens(
    paths: list[Path],
    report: ImportReport,
    mapper: GenreMapper,
    tracks: dict | None = None,
    user: str | None = None,
) -> list[Listen]:
    """Listens from every file, dispatching on the file type."""
    listens: list[Listen] = []
    for path in map(Path, paths):
        if not path.exists():
            raise UserError(f"{path}: listens file not found")
        owner = user or path.stem
        name = path.name.lower()
        if path.suffix in (".sqlite3", ".sqlite", ".db"):
            found = list(_journal(path, report, mapper))
        elif path.suffix == ".json":  # Spotify extended streaming history
            found = list(_spotify(path, report, mapper, _need(tracks, path), owner))
        elif "scrobble" in name or "lastfm" in name:
            found = list(_lastfm(path, report, mapper, _need(tracks, path), owner))
        else:
            found = list(_listens_table(path, report, mapper))
        report.rows["listens"] += len(found)
        listens.extend(found)
    return listens


def _need(tracks: dict | None, path: Path) -> dict:
    if tracks is None:
        raise UserError(f"{path}: needs --tracks (a track table with genre and duration_s)")
    return tracks
