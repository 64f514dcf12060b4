"""Read posts and listens from the exports people actually have, as downloaded.

An input is a file, an unpacked folder, a ``.zip`` or a ``.tar(.gz)``; every file inside is
recognised by its content (``sources.sniff``) and read by the reader for its format
(``posts.READERS``, ``listens.READERS``). Whose data it is comes from ``--user`` or the
household's people file, never from a file name; only the project's own tables and the
speaker's journal name their users in their rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path

import numpy as np

from device.shared.errors import UserError
from device.shared.genres import GenreMapper
from trainer.sync.store import is_url
from trainer.sync.store_postgres import redact

from ..columns import ListenColumns, Names, people_of, runs
from ..records import ImportReport, Listen, Post, SourceReport
from ..store_columns import is_listen_store, read_store
from . import listens as listen_readers
from . import posts as post_readers
from .catalog import Catalog, match_key, read_track_table
from .context import ReadContext
from .people import Input, read_listeners, read_people
from .sources import LISTEN_KINDS, POST_KINDS, describe, members, sniff
from .times import parse_time

__all__ = [
    "Catalog", "ImportReport", "Imported", "Input", "is_store", "match_key", "parse_time",
    "read_inputs", "read_listeners", "read_listens", "read_people", "read_posts",
    "read_track_table",
]  # fmt: skip


@dataclass
class Imported:
    """Posts and listens as records; the listen stores' rows as columns (``stored``, coded
    against ``names``): a fleet's store never becomes one object per row."""

    posts: list[Post] = field(default_factory=list)
    listens: list[Listen] = field(default_factory=list)
    report: ImportReport = field(default_factory=ImportReport)
    people: tuple[str, ...] = ()  # everyone with posts or listens, sorted
    stored: list[ListenColumns] = field(default_factory=list)
    names: Names = field(default_factory=Names)


def read_inputs(
    inputs: Iterable[Input],
    mapper: GenreMapper | None = None,
    catalog: Catalog | None = None,
    timezone: tzinfo | None = None,
    include_reposts: bool = False,
    report: ImportReport | None = None,
    listeners: dict[str, str] | None = None,
) -> Imported:
    """Every input's posts and listens; rows read twice (an archive and its unpacked
    folder, a journal and the ingest store) count once. Listen stores (``is_store``) are
    read as columns, after the other inputs. ``listeners`` (the people file's):
    whose the ingest store's ``user@device`` listeners are."""
    out = Imported(report=report or ImportReport())
    listen_input = listen_readers.ListenInput(mapper or GenreMapper(), catalog, out.report)
    stores = []
    for item in inputs:
        if item.role == "listens" and is_store(item.path):
            stores.append(item)
            continue
        ctx = ReadContext(item.owner, timezone, include_reposts)
        records = _read_input(item, ctx, out.report, listen_input)
        (out.posts if item.role == "posts" else out.listens).extend(records)
    for item in stores:  # after the journals: a listen both gave counts once, as theirs
        out.stored.append(_read_store(item, out, listen_input.mapper, listeners))
    if listeners:
        out.listens = [replace(x, user=listeners.get(x.user, x.user)) for x in out.listens]
    out.posts = _dedupe(out.posts, lambda p: (p.user, p.time, p.text), out.report, "posts")
    out.listens = _dedupe(out.listens, lambda x: (x.user, x.track_id, x.started_at),
                          out.report, "listens")  # fmt: skip
    out.report.rows["posts"] += len(out.posts)
    out.report.rows["listens"] += len(out.listens) + sum(len(c) for c in out.stored)
    out.people = tuple(sorted({p.user for p in out.posts} | {x.user for x in out.listens}
                              | people_of(out.stored, out.names)))  # fmt: skip
    return out


def is_store(path: str | Path) -> bool:
    """The ingest store: a ``postgresql://`` URL, or an SQLite file given as itself whose
    listens carry the speaker they came from (a speaker's own journal does not)."""
    return is_url(str(path)) or is_listen_store(Path(path))


def _read_store(item: Input, out: Imported, mapper: GenreMapper,
                listeners: dict[str, str] | None) -> ListenColumns:  # fmt: skip
    """A listen store as columns, counted per person in the import report."""
    where = redact(str(item.path)) if is_url(str(item.path)) else str(item.path)
    src = out.report.source(where, "Moodspeaker ingest store", "listens")
    cols = read_store(item.path, out.names, mapper.map, listeners, owner=item.owner,
                      seen=out.report.seen_events)
    if cols.duplicates:
        out.report.duplicates["listens"] += cols.duplicates
    if cols.skipped:
        src.reasons["no end, length, user or track"] += cols.skipped
    order = np.lexsort((cols.started_at, cols.user))
    user, start = cols.user[order], cols.started_at[order]
    for a, z in runs(user):
        person = out.names.name(int(user[a]))
        src.read[person] += int(z - a)
        src.spans[person] = (float(start[a]), float(start[z - 1]))
    return cols


def _dedupe(records: list, key, report: ImportReport, role: str) -> list:
    seen: set = set()
    kept = []
    for record in records:
        k = key(record)
        if k in seen:
            report.duplicates[role] += 1
            continue
        seen.add(k)
        kept.append(record)
    return kept


def _read_input(item: Input, ctx: ReadContext, report: ImportReport,
                listen_input: listen_readers.ListenInput) -> list:  # fmt: skip
    if is_url(str(item.path)):
        raise UserError(f"{redact(str(item.path))}: a listen store, give it to --listens")
    path = Path(item.path)
    if not path.exists():
        raise UserError(f"{path}: {item.role} file not found")
    kinds = POST_KINDS if item.role == "posts" else LISTEN_KINDS
    container = path.is_dir()
    records: list = []
    matched, other, looked, ignored = False, set(), 0, 0
    for member in members(path):
        looked += 1
        container = member.label != str(path)
        kind = sniff(member.head)
        if kind not in kinds:
            if kind:
                other.add(kind)
            else:
                ignored += 1
            continue
        src = report.source(member.label, describe(kind), item.role)
        src.kept_reposts = ctx.include_reposts
        try:
            data = member.data()
        except OSError as exc:
            raise UserError(f"{member.label}: cannot read: {exc}") from None
        try:
            records += _records(item.role, kind, data, member.label, src, ctx, listen_input,
                                path if kind == "sqlite" and not container else None)  # fmt: skip
        except listen_readers.NotAJournal:
            if not container:
                raise
            report.sources.remove(src)  # the library index beside the journal: not listens
            ignored += 1
            continue
        matched = True
    if container and ignored:
        report.ignored[str(path)] += ignored
    if not matched:
        raise UserError(_nothing_found(path, item.role, other, looked, container))
    return records


def _records(role: str, kind: str, data: bytes, where: str, src: SourceReport,
             ctx: ReadContext, listen_input: listen_readers.ListenInput,
             path: Path | None) -> list[Post] | list[Listen]:  # fmt: skip
    """One file's records, counted per person in ``src``."""
    if role == "posts":
        posts = list(post_readers.READERS[kind](data, where, src, ctx))
        for p in posts:
            src.add(p.user, p.time)
        return posts
    if kind == "sqlite":
        listens = list(listen_readers.journal(data, where, src, ctx, listen_input, path))
    else:
        listens = list(listen_readers.READERS[kind](data, where, src, ctx, listen_input))
    if kind not in listen_readers.STREAMED:  # streamed plays count themselves, matched or not
        for r in listens:
            src.add(r.user, r.started_at)
    return listens


def _nothing_found(path: Path, role: str, other: set[str], looked: int, container: bool) -> str:
    wanted = POST_KINDS if role == "posts" else LISTEN_KINDS
    swap = "listens" if role == "posts" else "posts"
    theirs = [k for k in other if k in (LISTEN_KINDS if role == "posts" else POST_KINDS)]
    if theirs:
        return (f"{path}: holds {describe(theirs[0])}, which is {swap}, not {role}: give it "
                f"to --{swap}")  # fmt: skip
    if other:
        return f"{path}: holds {', '.join(sorted(describe(k) for k in other))}, not {role}"
    where = f"none of its {looked} files is" if container else "not"
    return f"{path}: {where} a {role} format the trainer reads ({', '.join(wanted.values())})"


def read_posts(
    paths: Iterable[Path],
    report: ImportReport,
    user: str | None = None,
    timezone: tzinfo | None = None,
    include_reposts: bool = False,
) -> list[Post]:
    """Posts from every input; ``user`` makes them all that person's."""
    inputs = [Input(Path(p), "posts", user) for p in paths]
    return read_inputs(inputs, None, None, timezone, include_reposts, report).posts


def read_listens(
    paths: Iterable[Path],
    report: ImportReport,
    mapper: GenreMapper,
    tracks: Catalog | None = None,
    user: str | None = None,
) -> list[Listen]:
    """Listens from every input as records; ``tracks`` gives streamed plays their genre
    and length. A listen store is read as columns (``read_inputs``), so it is refused here."""
    inputs = [Input(Path(p), "listens", user) for p in paths]
    got = read_inputs(inputs, mapper, tracks, None, False, report)
    if got.stored:
        raise UserError("a listen store is read as columns: give it to taste build")
    return got.listens
