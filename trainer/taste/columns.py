"""The taste build on columns: posts and listens as arrays, never one object per row.

A build for a million people reads some 80 million listens and 20 million posts; as
``Listen``/``Post`` dataclasses they would take tens of GB. Here they are structs of numpy
arrays (``PostColumns``, ``ListenColumns``) coded against one user table in sorted name
order (the list-based build's order, so Tucker starts from the same point); a store's
listens come straight into columns (``store_columns``); equation 1 and the track ratings
run per user block and relabelling in one compiled pass over the posts (``relabel``), so
memory grows with the rows' columns and not with their pairs. Speaker listens (evidence by
themselves, few) stay records and go through ``speaker.speaker_evidence`` unchanged. Same
figures as the list-based path to rounding (tests/test_taste_columnar.py, ``bench/taste.py``).
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from device.shared.genres import GENRES
from device.shared.moods import MOODS

from .preferences import PreferenceTensor, TrackRatings, tensor_from_sums
from .records import Listen, MoodPost
from .relabel import relabel
from .speaker import is_speaker

log = logging.getLogger(__name__)

USER_BLOCK = 65_536  # people per block in equation 1 and the ratings


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
        self.names: list[str] = []  # code -> name
        self.code(list(names))

    def code(self, names: Sequence[str]) -> np.ndarray:
        """Codes of ``names``; a new name gets the next code, in order of first sight."""
        codes = self.codes
        for name in dict.fromkeys(names):
            if name not in codes:
                codes[name] = len(self.names)
                self.names.append(name)
        return np.fromiter(map(codes.__getitem__, names), dtype=np.int32, count=len(names))

    def name(self, code: int) -> str:
        return self.names[code]

    def sorted_remap(self) -> tuple[tuple[str, ...], np.ndarray]:
        """(names in sorted order, old code -> new code)."""
        names = np.array(self.names, dtype=str)
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
    duplicates: int = 0  # store rows already read from a journal (store reader only)

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


def people_of(stored: Sequence[ListenColumns], names: Names) -> set[str]:
    """Everyone with a row in ``stored`` (columns coded with ``names``)."""
    return {names.name(int(u)) for c in stored for u in np.unique(c.user)}


def runs(values: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of equal values in ``values`` (sorted; empty: none)."""
    if len(values):
        edges = np.flatnonzero(np.r_[True, values[1:] != values[:-1], True])
        yield from pairwise(edges.tolist())


def with_stored(base: ListenColumns, stored: Sequence[ListenColumns], names: Names,
                users: tuple[str, ...]) -> ListenColumns:  # fmt: skip
    """``base`` (``from_records``: coded against ``users``, then ``base.others``) and the
    stores' columns (coded with ``names``) as one, coded as ``base``; people of the stores
    outside ``users`` join ``others``, tracks are sorted over all."""
    if not stored:
        return base
    pos = {u: i for i, u in enumerate(users)}
    others = list(base.others)
    others += sorted(set(n for n in names.names if n not in pos) - set(others))
    everyone = {**pos, **{u: len(users) + i for i, u in enumerate(others)}}
    to_user = np.array([everyone[n] for n in names.names], dtype=np.int32)
    tracks = tuple(sorted(set(base.tracks).union(*(c.tracks for c in stored))))
    at = {t: i for i, t in enumerate(tracks)}
    parts = [base, *stored]

    def track(c: ListenColumns) -> np.ndarray:
        return np.array([at[t] for t in c.tracks], dtype=np.int32)[c.track] if len(c) else c.track

    until: dict[str, float] = {}
    for x in base.speaker:
        if x.from_speaker:
            until[x.user] = max(until.get(x.user, 0.0), round(float(x.ended_at), 3))
    for c in stored:
        for u, t in (c.until or {}).items():
            until[u] = max(until.get(u, t), t)
    return ListenColumns(
        np.concatenate([base.user, *(to_user[c.user] for c in stored)]),
        np.concatenate([track(c) for c in parts]),
        np.concatenate([c.genre for c in parts]),
        np.concatenate([c.started_at for c in parts]),
        np.concatenate([c.heard for c in parts]),
        np.concatenate([c.streamed for c in parts]),
        tracks, [x for c in parts for x in c.speaker], sum(c.skipped for c in parts),
        dict(sorted(until.items())), tuple(others), sum(c.unseen for c in parts),
        sum(c.duplicates for c in parts),
    )  # fmt: skip


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
            share = relabel(posts.user, posts.table, posts.text, plays, len(users))
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
