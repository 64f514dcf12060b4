"""The taste build on columns: posts and listens as arrays, never one object per row.

A build for a million people reads some 80 million listens and 20 million posts; as
``Listen``/``Post`` dataclasses they would take tens of GB. Here they are structs of numpy
arrays (``PostColumns``, ``ListenColumns``) coded against one user table in sorted name
order (the list-based build's order, so Tucker starts from the same point), listens are
read from a store in bounded ``fetchmany`` chunks, and equation 1, relabelling and the
track ratings run per user block, so memory grows with the rows' columns and not with
their pairs. Speaker listens (evidence by themselves, few) stay records and go through
``speaker.speaker_evidence`` unchanged. Same figures as the list-based path to rounding
(tests/test_taste_columnar.py, ``bench/taste.py``).
"""

from __future__ import annotations

import gc
import logging
import resource
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
from scipy import sparse

from device.shared.genres import GENRES
from device.shared.moods import MOODS

from .importers.listens import listener
from .preferences import PreferenceTensor, TrackRatings, tensor_from_sums
from .records import Listen, MoodPost
from .speaker import is_speaker

log = logging.getLogger(__name__)

USER_BLOCK = 65_536  # people per block in equation 1, relabelling and the ratings
FETCH_ROWS = 100_000  # store rows per fetchmany


class Steps:
    """Logs each step of a big build: seconds since the last step, RSS now and at peak."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def __call__(self, what: str) -> None:
        now = time.perf_counter()
        with open("/proc/self/statm") as fh:  # Linux; elsewhere the peak only
            rss = int(fh.read().split()[1]) * resource.getpagesize() / 2**20
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        log.info("taste build: %s %.1f s, RSS %.0f MB, peak %.0f MB", what, now - self.last,
                 rss, peak)  # fmt: skip
        self.last = now


class Names:
    """Name -> code as first seen; ``sorted_remap`` gives the codes in sorted name order."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.codes: dict[str, int] = {}
        for name in names:
            self.codes.setdefault(name, len(self.codes))

    def code(self, names: Sequence[str]) -> np.ndarray:
        codes = self.codes
        for name in set(names).difference(codes):
            codes[name] = len(codes)
        return np.fromiter(map(codes.__getitem__, names), dtype=np.int32, count=len(names))

    def sorted_remap(self) -> tuple[tuple[str, ...], np.ndarray]:
        """(names in sorted order, old code -> new code)."""
        names = np.array(list(self.codes), dtype=str)
        order = np.argsort(names, kind="stable")
        remap = np.empty(len(order), dtype=np.int32)
        remap[order] = np.arange(len(order), dtype=np.int32)
        return tuple(names[order].tolist()), remap


@dataclass
class PostColumns:
    """Posts with a mood: each points at a row of ``table`` (its text's P(mood | text), or
    one-hot when certain) and carries the classified mood's index."""

    user: np.ndarray  # (P,) int32
    time: np.ndarray  # (P,) float64
    mood: np.ndarray  # (P,) int8, index into MOODS
    text: np.ndarray  # (P,) int32, row of ``table``
    table: np.ndarray  # (K, E) float64

    def __len__(self) -> int:
        return len(self.user)

    def release(self) -> None:
        """Drop the columns (a big build frees them once read)."""
        for name in ("user", "time", "mood", "text"):
            setattr(self, name, getattr(self, name)[:0].copy())


@dataclass
class ListenColumns:
    """Every listen's user, track, genre (-1 unmapped), start and fraction heard
    ((ended - started) / duration, unclipped); ``streamed`` marks those that count through
    posts (not speaker evidence). ``speaker`` keeps the speaker's own listens as records."""

    user: np.ndarray  # (L,) int32
    track: np.ndarray  # (L,) int32, index into tracks
    genre: np.ndarray  # (L,) int8
    started_at: np.ndarray  # (L,) float64
    heard: np.ndarray  # (L,) float64
    streamed: np.ndarray  # (L,) bool
    tracks: tuple[str, ...]
    speaker: list[Listen] = field(default_factory=list)
    skipped: int = 0  # rows the store reader could not use
    # person -> end of their last speaker listen (any mood seen), when read from a store
    until: dict[str, float] | None = None
    # people past the artifact's users (codes from len(users) on): their listens count
    # only for track similarity, as in the list-based build
    others: tuple[str, ...] = ()
    unseen: int = 0  # speaker listens read as plays: no mood seen (store reader only)

    def __len__(self) -> int:
        return len(self.user)

    def release(self) -> None:
        """Drop the columns (a big build frees them once read; the records stay)."""
        for name in ("user", "track", "genre", "started_at", "heard", "streamed"):
            col = getattr(self, name)
            setattr(self, name, col[:0].copy())

    def take(self, order: np.ndarray) -> ListenColumns:
        """Rows in ``order`` (one column copied at a time)."""
        return ListenColumns(self.user[order], self.track[order], self.genre[order],
                             self.started_at[order], self.heard[order], self.streamed[order],
                             self.tracks, self.speaker, self.skipped, self.until,
                             self.others, self.unseen)  # fmt: skip


_GENRE = {g: i for i, g in enumerate(GENRES)}


def genre_codes(genres: Sequence[str | None], mapper: Callable[[str | None], str | None] | None
                = None) -> np.ndarray:  # fmt: skip
    seen: dict[str | None, int] = {}
    for g in set(genres):
        mapped = mapper(g) if mapper is not None else g
        seen[g] = _GENRE.get(mapped, -1) if mapped is not None else -1
    return np.fromiter(map(seen.__getitem__, genres), dtype=np.int8, count=len(genres))


def from_records(posts: list[MoodPost], listens: list[Listen], users: tuple[str, ...]
                 ) -> tuple[PostColumns, ListenColumns]:  # fmt: skip
    """The list-based build's inputs as columns, coded against ``users``; posts of people
    outside it are dropped, their listens coded after ``users`` (``others``: they count
    for track similarity only, as in the list-based build)."""
    pos = {u: i for i, u in enumerate(users)}
    others = tuple(sorted({x.user for x in listens} - set(pos)))
    everyone = {**pos, **{u: len(users) + i for i, u in enumerate(others)}}
    kept = [p for p in posts if p.user in pos]
    table = np.eye(len(MOODS))[[MOODS.index(p.mood) for p in kept]].reshape(-1, len(MOODS))
    for i, p in enumerate(kept):
        if p.probabilities is not None:
            table[i] = p.probabilities
    post_cols = PostColumns(
        np.array([pos[p.user] for p in kept], dtype=np.int32),
        np.array([p.time for p in kept], dtype=np.float64),
        np.array([MOODS.index(p.mood) for p in kept], dtype=np.int8),
        np.arange(len(kept), dtype=np.int32), table,
    )  # fmt: skip
    mine = listens
    tracks = Names()
    track = tracks.code([x.track_id for x in mine])
    names, remap = tracks.sorted_remap()
    listen_cols = ListenColumns(
        np.array([everyone[x.user] for x in mine], dtype=np.int32),
        remap[track] if len(track) else track,
        genre_codes([x.genre for x in mine]),
        np.array([x.started_at for x in mine], dtype=np.float64),
        np.array([(x.ended_at - x.started_at) / x.duration_s for x in mine], dtype=np.float64),
        np.array([not is_speaker(x) for x in mine], dtype=bool),
        names, [x for x in mine if x.from_speaker], others=others,
    )  # fmt: skip
    return post_cols, listen_cols


# --- reading a store ------------------------------------------------------------------

_COLUMNS = ("user", "track_id", "genre", "started_at", "ended_at", "duration_s")
_SPEAKER = ("mood", "end_reason", "ended_by", "mood_confidence", "position_s",
            "start_offset_s", "device")  # fmt: skip
_SEP = "\x1f"


def read_store(path: Path, users: Names, mapper: Callable[[str | None], str | None] | None
               = None, listeners: dict[str, str] | None = None, chunk: int = FETCH_ROWS
               ) -> ListenColumns:  # fmt: skip
    """Table ``listens`` of a journal or ingest store (SQLite) into columns, ``chunk`` rows
    at a time (one ``fetchmany`` loop over one scan: memory holds the columns, never the
    rows). A row's person is the importer's (``importers.listens.listener``: ``user@device``
    in an ingest store, then ``listeners``, the people file's merge), coded with ``users``
    (new ones added). Rows without an end, a length, a user or a track are skipped
    (counted), as the importer skips them. Speaker listens with a mood seen (evidence by
    themselves) are read again as records. The store's key dedupes (device, event_id);
    unlike the importer, event ids are not compared across files (80M ids would not fit).
    Per row only five values cross into Python (the person and track as one string each);
    names are trimmed and mapped once per distinct value."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    collecting = gc.isenabled()
    gc.disable()  # millions of row tuples, none in a cycle: the collector would only rescan
    try:
        names = [r[1] for r in db.execute("PRAGMA table_info(listens)")]
        missing = [c for c in _COLUMNS if c not in names]
        if missing:
            raise ValueError(f"{path}: listens table lacks column(s) {', '.join(missing)}")
        has = set(names)
        device = "IFNULL(device, '')" if "device" in has else "''"
        kind = "0"
        if {"mood", "end_reason"} <= has:
            moods = ", ".join(f"'{m}'" for m in MOODS)
            kind = (f"(mood IN ({moods}) AND end_reason IS NOT NULL)"
                    " + (mood IS NOT NULL AND end_reason IS NOT NULL)")  # fmt: skip
        top = db.execute("SELECT MAX(rowid) FROM listens").fetchone()[0] or 0
        cols = _empty(top)  # rows <= the largest rowid: no counting scan
        raw_users, raw_tracks = Names(), Names()
        end = np.empty(top, np.float64)
        kinds = np.empty(top, np.int8)
        cursor = db.execute(
            f"SELECT IFNULL(\"user\", '') || '{_SEP}' || {device}, IFNULL(track_id, '') || "
            f"'{_SEP}' || IFNULL(genre, ''), started_at, ended_at, duration_s, {kind} "
            "FROM listens")  # fmt: skip
        n = 0
        while rows := cursor.fetchmany(chunk):
            n = _add_rows(cols, end, kinds, n, rows, raw_users, raw_tracks)
        spoken = int((kinds[:n] == 2).sum())
        speaker: list[Listen] = []
        if spoken:
            extra = [c for c in _SPEAKER if c in has]
            cursor = db.execute("SELECT " + ", ".join(f'"{c}"' for c in (*_COLUMNS, *extra))
                                + f" FROM listens WHERE {kind} = 2")  # fmt: skip
            while rows := cursor.fetchmany(chunk):
                for r in rows:
                    row = dict(zip((*_COLUMNS, *extra), r, strict=True))
                    who = listener(str(row["user"] or "").strip(), _text(row.get("device")))
                    row["user"] = listeners.get(who, who) if listeners else who
                    if _usable(row):
                        speaker.append(_speaker_listen(row, mapper))
    finally:
        db.close()
        if collecting:
            gc.enable()
    user, track, genre, start, heard, streamed = (c[:n] for c in cols)
    end, kinds = end[:n], kinds[:n]
    # people: trimmed, named as the importer names them, merged by the people file
    persons = []
    for key in raw_users.codes:
        name, _, dev = key.partition(_SEP)
        who = listener(name.strip(), _text(dev))
        persons.append(listeners.get(who, who) if listeners and who else who)
    to_user = users.code(persons)
    # tracks: trimmed ids in sorted order; the genre mapped once per (track, genre)
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
    ok = ~np.isnan(heard) & (heard >= 0) & ~empty_user[user] & ~empty_track[track]
    if not ok.all():
        user, track, start, heard, end, kinds = (c[ok] for c in (user, track, start, heard,
                                                                 end, kinds))  # fmt: skip
    genre = to_genre[track]
    user, track = to_user[user], to_track[track]
    streamed = kinds < 2
    # build.listens_until: per person, the end of the last listen the speaker journalled
    until: dict[str, float] = {}
    journalled = kinds >= 1
    if journalled.any():
        last = np.full(len(users.codes), -np.inf)
        np.maximum.at(last, user[journalled], end[journalled])
        names_all = list(users.codes)
        until = {names_all[i]: round(float(last[i]), 3) for i in np.flatnonzero(last > -np.inf)}
        until = dict(sorted(until.items()))
    return ListenColumns(user, track, genre, start, heard, streamed, track_names, speaker,
                         n - len(user), until, unseen=int((kinds == 1).sum()))  # fmt: skip


def _usable(row: dict) -> bool:
    end, dur, start = row.get("ended_at"), row.get("duration_s"), row.get("started_at")
    return (end is not None and dur is not None and start is not None and dur > 0
            and end >= start and bool(str(row.get("track_id") or "").strip())
            and bool(row["user"]))  # fmt: skip


def _empty(n: int) -> tuple[np.ndarray, ...]:
    return (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int8),
            np.empty(n, np.float64), np.empty(n, np.float64), np.empty(n, bool))  # fmt: skip


def _add_rows(cols: tuple[np.ndarray, ...], end: np.ndarray, kinds: np.ndarray, n: int,
              rows: list[tuple], raw_users: Names, raw_tracks: Names) -> int:  # fmt: skip
    """One fetched chunk into ``cols`` from row ``n`` (user and track as raw-key codes,
    the fraction heard NaN where the row has no usable end or length); returns the new
    end."""
    user_s, track_s, start_s, end_s, dur_s, kind_s = zip(*rows, strict=True)
    m = len(rows)
    u, t, _, s, h, _ = (c[n : n + m] for c in cols)
    u[:] = raw_users.code(user_s)
    t[:] = raw_tracks.code(track_s)
    s[:] = np.array(start_s, dtype=np.float64)  # None -> NaN
    e = end[n : n + m]
    e[:] = np.array(end_s, dtype=np.float64)
    d = np.array(dur_s, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        usable = (d > 0) & (e >= s)
        h[:] = np.where(usable, (e - s) / np.where(usable, d, 1.0), np.nan)
    kinds[n : n + m] = np.fromiter(kind_s, np.int8, m)
    return n + m


def _speaker_listen(row: dict, mapper) -> Listen:
    genre = mapper(row["genre"]) if mapper is not None else row["genre"]
    position, offset = row.get("position_s"), row.get("start_offset_s") or 0.0
    heard = max(0.0, position - offset) if position is not None and position > 0 else None
    return Listen(str(row["user"]).strip(), str(row["track_id"]).strip(),
                  genre if genre in _GENRE else None, float(row["started_at"]),
                  float(row["ended_at"]), float(row["duration_s"]), row["mood"],
                  row.get("mood_confidence"), row["end_reason"], row.get("ended_by"), heard,
                  _text(row.get("device")))  # fmt: skip


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


# --- equation 1 and relabelling on columns ----------------------------------------------


def _bounds(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray,
            right: bool) -> np.ndarray:  # fmt: skip
    """Per query, numpy's searchsorted of ``target`` within ``values[lo:hi]`` (sorted),
    vectorised over queries (bisection, as many steps as the longest segment needs)."""
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    while True:
        active = np.flatnonzero(lo < hi)
        if not active.size:
            return lo
        a, b = lo[active], hi[active]
        mid = (a + b) // 2
        v = values[mid]
        go = v <= target[active] if right else v < target[active]
        lo[active] = np.where(go, mid + 1, a)
        hi[active] = np.where(go, b, mid)


@dataclass
class Pairs:
    """Equation 1's (post, play) pairs of one block of people that count (a genre, p_i > 0),
    in the list-based build's order (posts in input order per person, plays by start)."""

    first: int  # the block's first post (``PostColumns`` row)
    last: int  # one past its last
    post: np.ndarray  # per pair: post row - ``first``
    genre: np.ndarray  # per pair: genre index
    weight: np.ndarray  # per pair: p_i


def post_blocks(posts: PostColumns, n_users: int, block: int = USER_BLOCK) -> list[int]:
    """Post rows where each block of ``block`` people starts (posts sorted by user)."""
    edges = np.searchsorted(posts.user, np.arange(0, n_users + block, block))
    return sorted(set(edges.tolist()) | {len(posts)})


def pairs(posts: PostColumns, listens: ListenColumns, n_users: int, window_s: float,
          block: int = USER_BLOCK) -> Iterator[Pairs]:  # fmt: skip
    """Equation 1's pairs, block by block of people; ``listens`` sorted by (user,
    started_at) (``sort_listens``) and ``posts`` by user (``sort_posts``)."""
    idx = np.flatnonzero(listens.streamed) if not listens.streamed.all() else None
    l_user = listens.user if idx is None else listens.user[idx]
    l_start = listens.started_at if idx is None else listens.started_at[idx]
    l_seg = np.searchsorted(l_user, np.arange(n_users + 1))
    edges = post_blocks(posts, n_users, block)
    for a, z in pairwise(edges):
        if a == z:
            continue
        user, t = posts.user[a:z], posts.time[a:z]
        lo = _bounds(l_start, l_seg[user], l_seg[user + 1], t - window_s, right=False)
        hi = _bounds(l_start, l_seg[user], l_seg[user + 1], t + window_s, right=True)
        n = hi - lo
        post = np.repeat(np.arange(z - a), n)
        play = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())
        dt = np.abs(t[post] - l_start[play])
        if idx is not None:
            play = idx[play]
        heard = np.clip(listens.heard[play], 0.0, 1.0)
        w = 10.0 * np.clip(window_s - dt, 0.0, None) / window_s * heard
        genre = listens.genre[play].astype(np.int64)
        ok = (genre >= 0) & (w > 0)
        yield Pairs(a, z, post[ok], genre[ok], w[ok])


def post_plays(posts: PostColumns, listens: ListenColumns, n_users: int, window_s: float
               ) -> np.ndarray:  # fmt: skip
    """(P, G) plays that count around each post (uint16: relabelling's input)."""
    n_g = len(GENRES)
    count = np.zeros((len(posts), n_g), dtype=np.uint16)
    for pr in pairs(posts, listens, n_users, window_s):
        size = (pr.last - pr.first) * n_g
        found = np.bincount(pr.post * n_g + pr.genre, minlength=size)
        count[pr.first : pr.last] = np.minimum(found, 65535).reshape(-1, n_g)
    return count


def sort_listens(listens: ListenColumns) -> ListenColumns:
    """By (user, started_at), in place (one column's copy at a time: the caller's arrays are
    reordered, none kept twice)."""
    order = np.lexsort((listens.started_at, listens.user))
    for name in ("user", "track", "genre", "started_at", "heard", "streamed"):
        col = getattr(listens, name)
        col[:] = col[order]
    return listens


def sort_posts(posts: PostColumns) -> PostColumns:
    """By user (stable), in place."""
    order = np.argsort(posts.user, kind="stable")
    for name in ("user", "time", "mood", "text"):
        col = getattr(posts, name)
        col[:] = col[order]
    return posts


def _owner(user: np.ndarray) -> tuple[int, sparse.csr_matrix]:
    """(first person, person x post matrix of ones) for a chunk of posts sorted by user."""
    base = int(user[0])
    span = int(user[-1]) - base + 1
    ones = np.ones(len(user))
    return base, sparse.csr_matrix((ones, (user - base, np.arange(len(user)))),
                                   shape=(span, len(user)))  # fmt: skip


def relabel_columns(posts: PostColumns, plays: np.ndarray, n_users: int, alpha: float = 10.0,
                    beta: float = 2.0, iterations: int = 30, tol: float = 1e-3
                    ) -> np.ndarray:  # fmt: skip
    """``preferences.relabel`` on columns sorted by user, block by block of people (each
    person's sums in the same order, so the same figures): the same EM (M step over all
    posts, then E step); ``plays`` the (P, G) counts; returns the (P, E) posterior."""
    n_e, n_g = len(MOODS), len(GENRES)
    log_table = np.log(np.maximum(posts.table, 1e-12))
    resp = posts.table[posts.text]
    resp /= resp.sum(axis=1, keepdims=True)
    edges = post_blocks(posts, n_users, USER_BLOCK)
    cuts = [(a, z) for a, z in pairwise(edges) if z > a]
    # per chunk, person x post ones as the list path's ``owner``: the same sums, in order
    owners = [_owner(posts.user[a:z]) for a, z in cuts]
    for _ in range(iterations):
        per_user = np.zeros((n_users, n_e * n_g))
        mix = np.zeros((n_users, n_e))
        for (a, z), (base, owner) in zip(cuts, owners, strict=True):
            r, p = resp[a:z], plays[a:z].astype(np.float64)
            rows = slice(base, base + owner.shape[0])
            per_user[rows] += owner @ (r[:, :, None] * p[:, None, :]).reshape(z - a, -1)
            mix[rows] += owner @ r
        cells = per_user.reshape(n_users, n_e, n_g)
        pop = cells.sum(axis=0) + 1.0
        pop /= pop.sum(axis=1, keepdims=True)
        theta = cells + alpha * pop[None]
        theta /= theta.sum(axis=2, keepdims=True)
        del per_user, cells
        mix = (mix + beta) / (mix.sum(axis=1, keepdims=True) + n_e * beta)
        change = 0.0
        # log per person, then gathered per post: the same values as the list path's
        # log of the gathered rows, with 20x fewer logarithms
        log_mix, log_theta = np.log(mix), np.log(theta)
        for a, z in cuts:
            u = posts.user[a:z]
            logit = log_table[posts.text[a:z]] + log_mix[u]
            logit += np.einsum("keg,kg->ke", log_theta[u], plays[a:z].astype(np.float64))
            logit -= logit.max(axis=1, keepdims=True)
            new = np.exp(logit)
            new /= new.sum(axis=1, keepdims=True)
            change = max(change, float(np.abs(new - resp[a:z]).max()))
            resp[a:z] = new
        if change < tol:
            break
    return resp


def preferences_columns(posts: PostColumns, listens: ListenColumns, users: tuple[str, ...],
                        window_min: float = 30.0, normalise: str = "max", tau: float = 10.0,
                        relabel_moods: bool = False) -> PreferenceTensor:  # fmt: skip
    """``preferences.preferences`` on sorted columns (``sort_posts``, ``sort_listens``):
    the pairs are made twice per block of people (for relabelling's counts, then for the
    sums) rather than all kept."""
    if normalise not in ("max", "saturate"):
        raise ValueError(f"normalise must be 'max' or 'saturate', not {normalise!r}")
    n_e, n_g = len(MOODS), len(GENRES)
    shape = (len(users), n_e, n_g)
    sums = np.zeros(shape)
    counts = np.zeros(shape)
    if users and len(listens) and len(posts):
        window = window_min * 60.0
        share = None
        step = Steps()
        if relabel_moods:
            plays = post_plays(posts, listens, len(users), window)
            step("equation 1 pairs (counts per post)")
            share = relabel_columns(posts, plays, len(users))
            del plays
            step("relabelling EM")
        for pr in pairs(posts, listens, len(users), window):
            user = posts.user[pr.first : pr.last][pr.post].astype(np.int64)
            base = int(user[0]) if len(user) else 0
            local = (int(user[-1]) - base + 1) if len(user) else 0
            part = (local, n_e, n_g)
            if share is None:
                mood = posts.mood[pr.first : pr.last][pr.post].astype(np.int64)
                flat = np.ravel_multi_index((user - base, mood, pr.genre), part)
                s = np.bincount(flat, weights=pr.weight, minlength=int(np.prod(part)))
                c = np.bincount(flat, minlength=int(np.prod(part))).astype(float)
                sums[base : base + local] = s.reshape(part)
                counts[base : base + local] = c.reshape(part)
                continue
            block_sums = np.zeros(part)
            block_counts = np.zeros(part)
            for e in range(n_e):  # each pair's play shared by its post's posterior
                flat = np.ravel_multi_index((user - base, np.full(len(user), e), pr.genre),
                                            part)  # fmt: skip
                sh = share[pr.first : pr.last, e][pr.post]
                block_sums += np.bincount(flat, sh * pr.weight, block_sums.size).reshape(part)
                block_counts += np.bincount(flat, sh, block_sums.size).reshape(part)
            sums[base : base + local] = block_sums
            counts[base : base + local] = block_counts
        step("equation 1 sums")
    return tensor_from_sums(users, sums, counts, normalise, tau)


def track_ratings_columns(listens: ListenColumns, users: tuple[str, ...],
                          block: int = USER_BLOCK) -> TrackRatings:  # fmt: skip
    """``preferences.track_ratings`` on columns sorted by user: per (user, track) 10 x the
    mean of min(1, fraction heard), user block by user block; entries sorted by (user,
    track), coded against ``users``."""
    n_users = len(users)
    n_t = max(len(listens.tracks), 1)
    seg = np.searchsorted(listens.user, np.arange(0, n_users + block, block))
    codes: list[np.ndarray] = []
    tracks: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for b in range(len(seg) - 1):
        a, z = int(seg[b]), int(seg[b + 1])
        if a == z:
            continue
        key = listens.user[a:z].astype(np.int64) * n_t + listens.track[a:z]
        pairs, inverse = np.unique(key, return_inverse=True)
        heard = np.minimum(listens.heard[a:z], 1.0)
        mean = np.bincount(inverse, weights=heard) / np.bincount(inverse)
        codes.append((pairs // n_t).astype(np.int32))
        tracks.append((pairs % n_t).astype(np.int32))
        values.append((10.0 * mean).astype(np.float32))
    genres = np.full(len(listens.tracks), -1, dtype=np.int64)
    known = listens.genre >= 0
    genres[listens.track[known]] = listens.genre[known]
    return TrackRatings(users, listens.tracks, genres, _cat(codes, np.int32),
                        _cat(tracks, np.int32), _cat(values, np.float32))  # fmt: skip


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
