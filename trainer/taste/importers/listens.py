"""Listen readers: the speaker's journal (and the MQTT ingest store, same ``listens``
table), Spotify Extended Streaming History and Account Data, Last.fm CSVs, and the
project's own listens CSV/JSONL.

Spotify and Last.fm name tracks but give no genre or length: those come from the catalog
(``--tracks`` or the library index). Unmatched plays are counted per track, so that the
person can add the ones they play most.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from device.shared.errors import UserError
from device.shared.genres import GenreMapper
from device.shared.listens import END_REASONS, ENDED_BY

from ..records import ImportReport, Listen, SourceReport, listener
from .catalog import Catalog
from .context import ReadContext
from .posts import _load_json, decode, table_rows
from .sources import now_playing
from .times import parse_time

LASTFM_PLAY_S = 210.0  # a scrobble's length when the catalog has none (plays are whole)


class NotAJournal(UserError):
    """A SQLite file without a ``listens`` table (in a folder: the library index, ignored)."""


@dataclass
class ListenInput:
    """What listen readers share: the genre mapper, the catalog and the tallies."""

    mapper: GenreMapper
    catalog: Catalog | None
    report: ImportReport

    def need_catalog(self, where: str, kind: str) -> Catalog:
        if self.catalog is None:
            raise UserError(f"{where}: a {kind} has no genres: give --tracks (a CSV "
                            "track_id,genre,duration_s, or the library.sqlite3)")  # fmt: skip
        return self.catalog


def _listen(row: dict, owner: str | None, mapper: GenreMapper) -> Listen:
    user, track = str(row["user"] or "").strip(), str(row["track_id"] or "").strip()
    user = listener(user, _text(row.get("device")))
    if not (owner or user) or not track:
        raise ValueError("empty user or track_id")
    if row.get("ended_at") in (None, ""):
        raise ValueError("no ended_at (still playing)")
    start, end = parse_time(row["started_at"]), parse_time(row["ended_at"])
    duration = float(row["duration_s"]) if row.get("duration_s") not in (None, "") else 0.0
    if not (duration > 0) or end < start:
        raise ValueError(f"duration_s {duration} or ended_at before started_at")
    return Listen(owner or user, track, mapper.map(row.get("genre")), start, end, duration,
                  **_speaker_fields(row))  # fmt: skip


def _speaker_fields(row: dict) -> dict:
    """What the speaker's journal adds (mood seen, confidence, how it ended, how much was
    heard, which speaker); absent columns (older journals, other tables) stay None."""
    mood = _text(row.get("mood"))
    reason = _text(row.get("end_reason"))
    ended_by = _text(row.get("ended_by"))
    if reason is not None and reason not in END_REASONS:
        raise ValueError(f"end_reason {reason!r} is not one of {', '.join(END_REASONS)}")
    if ended_by is not None and ended_by not in ENDED_BY:
        raise ValueError(f"ended_by {ended_by!r} is not one of {', '.join(ENDED_BY)}")
    confidence = _number(row.get("mood_confidence"))
    position = _number(row.get("position_s"))
    heard = None
    if position is not None and position > 0:
        heard = max(0.0, position - (_number(row.get("start_offset_s")) or 0.0))
    return {"mood": mood, "mood_confidence": confidence, "end_reason": reason,
            "ended_by": ended_by, "heard_s": heard, "device": _text(row.get("device"))}


def _text(value) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _number(value) -> float | None:
    if value in (None, ""):
        return None
    number = float(value)
    if number != number:  # NaN
        raise ValueError(f"not a number: {value!r}")
    return number


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "still playing" in text:
        return "still playing"
    if "not a time" in text:
        return "bad time"
    return "bad values"


def listens_table(data: bytes, where: str, src: SourceReport, ctx: ReadContext,
                  inp: ListenInput) -> Iterator[Listen]:  # fmt: skip
    text = decode(data, where, src)
    if text is None:
        return
    for line, row in table_rows(text, text.lstrip().startswith("{"), where, src):
        try:
            listen = _listen(row, ctx.owner, inp.mapper)
        except KeyError as exc:
            src.skip(f"{where}:{line}", f"missing column {exc}", "missing column")
            continue
        except (TypeError, ValueError) as exc:
            src.skip(f"{where}:{line}", str(exc), _reason(exc))
            continue
        if row.get("user"):
            src.names_in_file.add(str(row["user"]).strip())
        yield listen


def journal(data: bytes, where: str, src: SourceReport, ctx: ReadContext,
            inp: ListenInput, path: Path | None = None) -> Iterator[Listen]:  # fmt: skip
    """Table ``listens`` read by column name, so the ingest store's extra columns
    (``device``, ``seq``, ``received_at``) are ignored; one ``event_id`` counts once."""
    tmp = None
    if path is None:  # inside an archive: SQLite needs a file
        fd, tmp = tempfile.mkstemp(suffix=".sqlite3")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        path = Path(tmp)
    try:
        yield from _journal_listens(path, where, src, ctx, inp)
    finally:
        if tmp:
            os.unlink(tmp)


def _journal_listens(path: Path, where: str, src: SourceReport, ctx: ReadContext,
                     inp: ListenInput) -> Iterator[Listen]:
    rows = ((f"{where}: listens rowid {rowid}", dict(zip(names, values, strict=True)))
            for rowid, values, names in _journal_rows(path, where))
    yield from _row_listens(rows, src, ctx, inp)


def _row_listens(rows: Iterator[tuple[str, dict]], src: SourceReport, ctx: ReadContext,
                 inp: ListenInput) -> Iterator[Listen]:
    """Journal or store rows (by column name) -> listens; one ``event_id`` counts once."""
    for place, row in rows:
        event = row.get("event_id")
        if event is not None:
            if event in inp.report.seen_events:
                inp.report.duplicates["listens"] += 1
                continue
            inp.report.seen_events.add(event)
        if row.get("user") is None and not ctx.owner:
            src.skip(place, "no user (nobody recognised)", "no user")
            continue
        try:
            listen = _listen(row, ctx.owner, inp.mapper)
        except (TypeError, ValueError) as exc:
            src.skip(place, str(exc), _reason(exc))
            continue
        if row.get("user"):
            src.names_in_file.add(listener(str(row["user"]), _text(row.get("device"))))
        yield listen


_NEEDED = ("user", "track_id", "genre", "started_at", "ended_at", "duration_s")


CHUNK_ROWS = 10_000  # rows read from a journal or store at a time: memory stays bounded


def _journal_rows(path: Path, where: str) -> Iterator[tuple[int, tuple, list[str]]]:
    """(rowid, values, column names) of every listen, read a chunk at a time."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "listens" not in tables:
                hint = " (a library index? give it to --tracks)" if "tracks" in tables else ""
                raise NotAJournal(f"{where}: no listens table, not a speaker journal{hint}")
            cursor = db.execute("SELECT rowid, * FROM listens")
            names = [d[0] for d in cursor.description][1:]
            missing = [c for c in _NEEDED if c not in names]
            if missing:
                raise UserError(f"{where}: listens table lacks column(s) {', '.join(missing)}")
            while chunk := cursor.fetchmany(CHUNK_ROWS):
                for r in chunk:
                    yield r[0], r[1:], names
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise UserError(f"{where}: cannot read the journal: {exc}") from None


def _streamed(inp: ListenInput, owner: str, artist: str, title: str, uri: str,
              start: float, end: float | None) -> Listen | None:  # fmt: skip
    """A play matched to the catalog; ``end`` None: a whole play (Last.fm)."""
    hit = inp.need_catalog("", "").find(artist, title, uri)
    if hit is None:
        inp.report.unmatched[f"{artist} - {title}"] += 1
        return None
    inp.report.matched += 1
    duration = hit.duration_s or (end - start if end is not None else LASTFM_PLAY_S)
    end = start + duration if end is None else end
    return Listen(owner, hit.track_id, inp.mapper.map(hit.genre), start, end, max(duration, 1.0))


@dataclass(frozen=True)
class _Stream:
    end: float  # when the play ended, epoch seconds
    played: float  # seconds
    artist: str
    title: str
    uri: str = ""
    username: str = ""


def _extended(item: dict) -> _Stream:
    """``Streaming_History_Audio_*.json`` / ``endsong_*.json``: ``ts`` is when the play
    ended (UTC), ``ms_played`` how long it ran; podcasts and videos have no track name."""
    return _Stream(parse_time(item["ts"]), float(item["ms_played"]) / 1000.0,
                   str(item.get("master_metadata_album_artist_name") or ""),
                   str(item.get("master_metadata_track_name") or ""),
                   str(item.get("spotify_track_uri") or ""),
                   str(item.get("username") or ""))  # fmt: skip


def _account(item: dict) -> _Stream:
    """Account Data ``StreamingHistory*.json``: ``endTime`` ("2024-03-15 09:30", UTC),
    ``artistName``, ``trackName``, ``msPlayed``."""
    return _Stream(parse_time(item["endTime"]), float(item["msPlayed"]) / 1000.0,
                   str(item["artistName"] or ""), str(item["trackName"] or ""))  # fmt: skip


def _spotify(entry, data: bytes, where: str, src: SourceReport, ctx: ReadContext,
             inp: ListenInput) -> Iterator[Listen]:  # fmt: skip
    owner = ctx.person(where, "Spotify history")
    inp.need_catalog(where, "Spotify history")
    doc = _load_json(data, where, src)
    if not isinstance(doc, list):
        return
    for i, item in enumerate(doc):
        place = f"{where}: [{i}]"
        try:
            play = entry(item)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            src.skip(place, f"bad stream entry: {exc}", "bad entry")
            continue
        if not play.artist or not play.title:
            src.skip(place, "not a music track (podcast or video)", "not music")
            continue
        if play.username:
            src.names_in_file.add(play.username)
        start = play.end - play.played
        src.add(owner, start)
        listen = _streamed(inp, owner, play.artist, play.title, play.uri, start, play.end)
        if listen:
            yield listen


spotify_extended = partial(_spotify, _extended)
spotify_account = partial(_spotify, _account)


def lastfm(data: bytes, where: str, src: SourceReport, ctx: ReadContext,
           inp: ListenInput) -> Iterator[Listen]:  # fmt: skip
    """Last.fm exports: with a header (``uts,utc_time,artist,...,track``, quoted or not;
    lastfm.ghan.nl) or without (``artist,album,track,date``; lastfm-to-csv, which strips
    commas and quotes from the values, and whose first row is the track playing at export
    time, without a date: skipped with a note). Times are when the play started, UTC; a scrobble
    is a whole play."""
    owner = ctx.person(where, "Last.fm export")
    inp.need_catalog(where, "Last.fm export")
    text = decode(data, where, src)
    if text is None:
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    try:
        for cols in reader:
            line = reader.line_num
            if header is None and line == 1:
                lower = [c.strip().lower() for c in cols]
                if "artist" in lower and "track" in lower:
                    header = lower
                    continue
            if not any(c.strip() for c in cols):
                continue
            if header is None and line == 1 and now_playing(cols):
                src.skip(f"{where}:{line}", "the track playing at export time (no date), "
                         "not a finished scrobble", "playing at export")  # fmt: skip
                continue
            try:
                if header:
                    row = dict(zip(header, cols, strict=False))
                    artist, title = row["artist"], row["track"]
                    stamp = row.get("uts") or row.get("utc_time") or row.get("date") or ""
                else:
                    artist, _album, title, stamp = cols[:4]
                start = parse_time(stamp)
            except (KeyError, ValueError) as exc:
                src.skip(f"{where}:{line}", f"bad scrobble: {exc}", "bad scrobble")
                continue
            src.add(owner, start)
            listen = _streamed(inp, owner, artist.strip(), title.strip(), "", start, None)
            if listen:
                yield listen
    except csv.Error as exc:
        src.skip(f"{where}:{reader.line_num}", f"unreadable CSV: {exc}", "unreadable CSV")


STREAMED = ("spotify_extended", "spotify_account", "lastfm")  # they count their own rows
ListenReader = Callable[[bytes, str, SourceReport, ReadContext, ListenInput], Iterator[Listen]]
READERS: dict[str, ListenReader] = {
    "listens_table": listens_table,
    "sqlite": journal,
    "spotify_extended": spotify_extended,
    "spotify_account": spotify_account,
    "lastfm": lastfm,
}
