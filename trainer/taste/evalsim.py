"""Score the whole pipeline on a ``taste simulate`` directory against the planted tastes.

The pipeline sees only ``posts.csv`` (user, time, text) and ``listens.csv``, exactly as
``taste build`` would; ``truth.npz`` (planted preferences, and the true mood of each post)
is read only to score. Reported: Spearman between the completed preferences and the
planted ones per (user, mood) over the seven genres, next to what equation 1 alone, the
population prior alone and the pipeline with the true post moods (a ceiling showing what
the post classifier costs) reach. The listens around clear posts also become rating rows
``(user, track, mood, genre, 10 x heard)`` for the k-fold comparison with the baselines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from device.shared.errors import UserError
from device.shared.genres import GENRES, GenreMapper
from device.shared.moods import MOODS

from .build import BuildConfig, build_artifact, classify_posts
from .importers import read_listens, read_posts
from .preferences import play_weights, preferences
from .ratings import Ratings
from .records import ImportReport, Listen, MoodPost


@dataclass(frozen=True)
class SimulatedSet:
    ratings: Ratings
    users: tuple[str, ...]
    truth: np.ndarray  # (U, E, G) planted
    completed: np.ndarray  # (U, E, G) the pipeline's output
    observed: np.ndarray  # (U, E, G) equation-1 values, NaN where unobserved
    prior: np.ndarray  # (E, G)
    oracle: np.ndarray | None  # completed with the true post moods
    mood_posts: int
    posts: int


def spearman_per_slice(est: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(U, E) rank correlations over genres (ties averaged, as ``scipy.stats.spearmanr``);
    a constant estimate scores 0 (it ranks nothing). Vectorised: 100k users in a second."""
    g = truth.shape[-1]
    a = rankdata(est.reshape(-1, g), axis=1)
    b = rankdata(truth.reshape(-1, g), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    den = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    rho = np.divide((a * b).sum(axis=1), den, out=np.zeros(den.shape), where=den > 0)
    return rho.reshape(truth.shape[:-1])


def _rows(mood_posts: list[MoodPost], listens: list[Listen], window_min: float) -> Ratings:
    """Each play near a clear post, once, with the mood of its nearest such post."""
    users = tuple(sorted({x.user for x in listens}))
    user, mood, play, weight = play_weights(mood_posts, listens, users, window_min * 60.0)
    order = np.lexsort((-weight, play))
    first = order[np.r_[True, np.diff(play[order]) != 0]]
    first = first[weight[first] > 0]
    tracks = np.unique([listens[i].track_id for i in play[first]], return_inverse=True)[1]
    genre = np.array([GENRES.index(listens[i].genre) for i in play[first]])
    heard = np.array([
        min(1.0, (listens[i].ended_at - listens[i].started_at) / listens[i].duration_s)
        for i in play[first]
    ])  # fmt: skip
    return Ratings(user[first], tracks, mood[first], genre, 10.0 * heard, (0.0, 10.0))


def simulated_ratings(data: Path, cfg: BuildConfig | None = None) -> SimulatedSet:
    data = Path(data)
    if not (data / "truth.npz").exists():
        raise UserError(f"{data}: not a `taste simulate` directory (no truth.npz)")
    cfg = cfg or BuildConfig()
    report = ImportReport()
    posts = read_posts([data / "posts.csv"], report)
    listens = read_listens([data / "listens.csv"], report, GenreMapper())
    mood_posts, _ = classify_posts(posts, cfg.post_min_confidence())
    with np.load(data / "truth.npz") as npz:
        truth_users = [str(u) for u in npz["users"]]
        truth = npz["truth"]
        true_moods = [str(m) for m in npz["post_moods"]] if "post_moods" in npz else []
    art = build_artifact(mood_posts, listens, cfg, {})
    users = tuple(str(u) for u in art.arrays["users"])
    pos = {u: i for i, u in enumerate(truth_users)}
    truth = truth[[pos[u] for u in users]]
    oracle = None
    if len(true_moods) == len(posts):
        true_posts = [MoodPost(p.user, p.time, m) for p, m in zip(posts, true_moods, strict=True)]
        orc = build_artifact(true_posts, listens, replace(cfg, relabel=False), {})
        o_pos = {str(u): i for i, u in enumerate(orc.arrays["users"])}
        oracle = orc.arrays["preferences"][[o_pos[u] for u in users]]
    tensor = preferences(
        mood_posts, listens, cfg.window_min, cfg.normalise, relabel_moods=cfg.relabel
    )
    observed = np.where(tensor.observed, tensor.values, np.nan)
    return SimulatedSet(
        ratings=_rows(mood_posts, listens, cfg.window_min), users=users, truth=truth,
        completed=art.arrays["preferences"], observed=observed, prior=art.arrays["prior"],
        oracle=oracle, mood_posts=len(mood_posts), posts=len(posts),
    )  # fmt: skip


def _stats(rho: np.ndarray) -> dict:
    return {
        "mean": float(rho.mean()), "std": float(rho.std()), "median": float(np.median(rho)),
        "per_mood": {m: float(v) for m, v in zip(MOODS, rho.mean(axis=0), strict=True)},
    }  # fmt: skip


def spearman_report(sim: SimulatedSet) -> dict:
    """Spearman per (user, mood): the pipeline and the references it should beat."""
    obs = np.where(np.isnan(sim.observed), sim.prior[None], sim.observed)
    out = {
        "users": len(sim.users), "posts": sim.posts, "posts_with_mood": sim.mood_posts,
        "pipeline": _stats(spearman_per_slice(sim.completed, sim.truth)),
        "equation1_only": _stats(spearman_per_slice(obs, sim.truth)),
        "prior_only": _stats(spearman_per_slice(
            np.broadcast_to(sim.prior, sim.truth.shape), sim.truth)),
    }  # fmt: skip
    if sim.oracle is not None:
        out["pipeline_true_post_moods"] = _stats(spearman_per_slice(sim.oracle, sim.truth))
    return out
