"""Equation 1: preferences per (user, mood, genre) from plays around mood-labelled posts.

For a post at ``t`` with mood ``e`` and each play of the same user started at ``t_i``
within the window ``T_w`` (either side), ended at ``t_ie``, of a track lasting ``T_im``:

    p_i = 10 * (T_w - |t - t_i|) / T_w * min(1, (t_ie - t_i) / T_im)

Sums ``S[u, e, g]`` are then put on 0-10. Default ``normalise="max"``: each (user, mood)
slice is divided by its largest genre sum, so the genre a user plays most in that mood is
10 and a genre never played around such posts is an observed 0 (evidence of not choosing
it); it is scale-free (a heavy listener is not "fonder" than a light one). Alternative
``"saturate"``: ``10 * (1 - exp(-S / tau))``, absolute, only for genres actually played.
The count of plays behind each value is kept as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.shared.genres import GENRES
from device.shared.moods import MOODS

from .records import Listen, MoodPost
from .relabel import relabel


@dataclass(frozen=True)
class PreferenceTensor:
    """Sparse observations as dense arrays; ``observed`` marks the entries that count."""

    users: tuple[str, ...]
    values: np.ndarray  # (U, E, G) float32, 0-10 (0 where unobserved)
    evidence: np.ndarray  # (U, E, G) float32: plays behind the value
    observed: np.ndarray  # (U, E, G) bool
    slice_evidence: np.ndarray  # (U, E) float32: plays around the user's posts in that mood


@dataclass(frozen=True)
class TrackRatings:
    """Implicit 0-10 track ratings per user (10 x mean fraction heard), for equations 5-6."""

    users: tuple[str, ...]
    tracks: tuple[str, ...]
    track_genres: np.ndarray  # (T,) int, -1 unknown
    user_index: np.ndarray  # (R,) int
    track_index: np.ndarray  # (R,) int
    values: np.ndarray  # (R,) float32


def _codes(values: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    uniques, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    return tuple(uniques.tolist()), codes


def play_weights(
    posts: list[MoodPost], listens: list[Listen], users: tuple[str, ...], window_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (post, play) pair within the window: (user index, post mood, play index, p_i)."""
    pairs = _pairs(posts, listens, users, window_s)
    return pairs.post_user[pairs.post], pairs.post_mood[pairs.post], pairs.play, pairs.weight


@dataclass(frozen=True)
class _Pairs:
    """(post, play) pairs within the window; posts are those of known users, in order."""

    post_user: np.ndarray  # per post: user index
    post_mood: np.ndarray  # per post: classified mood index
    likelihood: np.ndarray  # per post x mood: its probabilities (one-hot when certain)
    post: np.ndarray  # per pair: post index
    play: np.ndarray  # per pair: listen index
    weight: np.ndarray  # per pair: p_i of equation 1


def _pairs(
    posts: list[MoodPost], listens: list[Listen], users: tuple[str, ...], window_s: float
) -> _Pairs:
    pos = {u: i for i, u in enumerate(users)}
    l_user = np.array([pos.get(x.user, -1) for x in listens], dtype=np.int64)
    l_start = np.array([x.started_at for x in listens], dtype=np.float64)
    order = np.lexsort((l_start, l_user))
    order = order[l_user[order] >= 0]  # listens of people outside ``users`` pair with nothing
    l_user, l_start = l_user[order], l_start[order]
    origin = min([l_start.min(initial=0.0)] + [p.time for p in posts])
    span = 4.0 * (max([l_start.max(initial=0.0)] + [p.time for p in posts]) - origin) + 1e6
    key = l_user * span + (l_start - origin)
    keep = [p for p in posts if p.user in pos]
    p_user = np.array([pos[p.user] for p in keep], dtype=np.int64)
    p_time = np.array([p.time for p in keep], dtype=np.float64)
    p_mood = np.array([MOODS.index(p.mood) for p in keep], dtype=np.int64)
    likelihood = np.eye(len(MOODS))[p_mood]
    for i, p in enumerate(keep):
        if p.probabilities is not None:
            likelihood[i] = p.probabilities
    base = p_user * span + (p_time - origin)
    lo = np.searchsorted(key, base - window_s, side="left")
    hi = np.searchsorted(key, base + window_s, side="right")
    counts = hi - lo
    post_of_pair = np.repeat(np.arange(len(keep)), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    play_sorted = starts + np.arange(counts.sum())
    play = order[play_sorted]
    dt = np.abs(p_time[post_of_pair] - l_start[play_sorted])
    listen_arr = np.array(
        [(x.ended_at - x.started_at) / x.duration_s for x in listens], dtype=np.float64
    )
    heard = np.clip(listen_arr[play], 0.0, 1.0)
    weight = 10.0 * np.clip(window_s - dt, 0.0, None) / window_s * heard
    return _Pairs(p_user, p_mood, likelihood, post_of_pair, play, weight)


def preferences(
    posts: list[MoodPost],
    listens: list[Listen],
    window_min: float = 30.0,
    normalise: str = "max",
    tau: float = 10.0,
    relabel_moods: bool = False,
    users: tuple[str, ...] | None = None,
) -> PreferenceTensor:
    """Equation 1 summed per (user, mood, genre), put on 0-10 (see module docstring).

    With ``relabel_moods`` each post's plays are shared among the moods by its posterior
    from ``relabel`` instead of all going to its classified mood; sums and evidence become
    expected values. ``users`` (default: everyone with posts or listens) fixes the first
    axis; a person whose posts meet no listen has an all-unobserved slice (zero evidence)."""
    if normalise not in ("max", "saturate"):
        raise ValueError(f"normalise must be 'max' or 'saturate', not {normalise!r}")
    genre_of = np.array([GENRES.index(x.genre) if x.genre else -1 for x in listens], dtype=int)
    if users is None:
        users = tuple(sorted({x.user for x in listens} | {p.user for p in posts}))
    shape = (len(users), len(MOODS), len(GENRES))
    sums: np.ndarray = np.zeros(shape)
    counts: np.ndarray = np.zeros(shape)
    if users and listens and posts:
        pairs = _pairs(posts, listens, users, window_min * 60.0)
        post, play, weight = pairs.post, pairs.play, pairs.weight
        user, mood = pairs.post_user[post], pairs.post_mood[post]
        genre = genre_of[play]
        ok = (genre >= 0) & (weight > 0)
        if not relabel_moods:
            flat = np.ravel_multi_index((user[ok], mood[ok], genre[ok]), shape)
            sums = np.bincount(flat, weights=weight[ok], minlength=sums.size).reshape(shape)
            counts = np.bincount(flat, minlength=sums.size).reshape(shape).astype(float)
        else:
            n_posts, n_g = len(pairs.post_user), len(GENRES)
            plays = np.bincount(post[ok] * n_g + genre[ok], minlength=n_posts * n_g)
            resp = relabel(pairs.post_user, pairs.likelihood, np.arange(n_posts),
                           np.minimum(plays, 65535).reshape(n_posts, n_g), len(users))
            for e in range(len(MOODS)):  # each pair's play shared by its post's posterior
                flat = np.ravel_multi_index((user[ok], np.full(ok.sum(), e), genre[ok]), shape)
                share = resp[post[ok], e]
                sums += np.bincount(flat, share * weight[ok], sums.size).reshape(shape)
                counts += np.bincount(flat, share, sums.size).reshape(shape)
    return tensor_from_sums(users, sums, counts, normalise, tau)


def tensor_from_sums(users: tuple[str, ...], sums: np.ndarray, counts: np.ndarray,
                     normalise: str, tau: float) -> PreferenceTensor:
    """The (U, E, G) sums of equation 1 and the plays behind them, put on 0-10."""
    shape = sums.shape
    slice_ev = counts.sum(axis=2)
    if normalise == "max":
        top = sums.max(axis=2, keepdims=True)
        values = np.divide(10.0 * sums, top, out=np.zeros(shape), where=top > 0)
        observed = np.broadcast_to(slice_ev[:, :, None] >= 0.5, shape).copy()
    else:
        values = 10.0 * (1.0 - np.exp(-sums / tau))
        observed = counts > 0
    return PreferenceTensor(
        users=users,
        values=values.astype(np.float32),
        evidence=counts.astype(np.float32),
        observed=observed,
        slice_evidence=slice_ev.astype(np.float32),
    )


def track_ratings(listens: list[Listen]) -> TrackRatings:
    """Per (user, track): 10 x the mean fraction of the track heard over all plays."""
    users, u = _codes([x.user for x in listens])
    tracks, t = _codes([x.track_id for x in listens])
    heard = np.array([min(1.0, (x.ended_at - x.started_at) / x.duration_s) for x in listens])
    pair = u * max(len(tracks), 1) + t
    pairs, inverse = np.unique(pair, return_inverse=True)
    mean = np.bincount(inverse, weights=heard) / np.bincount(inverse)
    genres = np.full(len(tracks), -1, dtype=np.int64)
    for x, ti in zip(listens, t, strict=True):
        if x.genre:
            genres[ti] = GENRES.index(x.genre)
    return TrackRatings(
        users=users,
        tracks=tracks,
        track_genres=genres,
        user_index=pairs // max(len(tracks), 1),
        track_index=pairs % max(len(tracks), 1),
        values=(10.0 * mean).astype(np.float32),
    )
