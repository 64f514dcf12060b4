"""``taste build``: the whole pipeline from files to an exported taste artifact."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.genres import GenreMapper

from .export import TasteArtifact
from .importers import read_listens, read_posts
from .mood import PostMoodClassifier
from .mood.classify import shipped_confusion
from .preferences import preferences, track_ratings
from .records import ImportReport, Listen, MoodPost, Post
from .tracks import track_neighbours
from .tucker import TuckerConfig, fit_tucker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    window_min: float = 30.0
    normalise: str = "max"
    tucker: TuckerConfig = field(default_factory=TuckerConfig)
    threshold: float = 0.3  # s in equation 6
    neighbours: int = 20
    min_confidence: float | None = None  # None: the classifier's shipped threshold
    relabel: bool = True  # undo the classifier's CV confusions per user (preferences.relabel)


def confusion_for(cfg: BuildConfig) -> np.ndarray | None:
    """The classifier's cross-validated P(label | true mood) when ``cfg.relabel``."""
    return shipped_confusion(cfg.min_confidence) if cfg.relabel else None


def classify_posts(posts: list[Post], min_confidence: float | None) -> tuple[list[MoodPost], dict]:
    classifier = PostMoodClassifier(min_confidence=min_confidence)
    labelled, unclear, languages = [], 0, {}
    seen: dict[str, object] = {}  # reposted / repeated texts are classified once
    for post in posts:
        result = seen.get(post.text)
        if result is None:
            result = seen[post.text] = classifier.classify(post.text)
        languages[result.language] = languages.get(result.language, 0) + 1
        if result.mood is None:
            unclear += 1
            continue
        labelled.append(MoodPost(post.user, post.time, result.mood))
    return labelled, {"posts": len(posts), "unclear_skipped": unclear, "languages": languages}


def build_artifact(
    mood_posts: list[MoodPost], listens: list[Listen], cfg: BuildConfig, info: dict
) -> TasteArtifact:
    """Equation 1 -> Tucker -> completed preferences, prior and track neighbours."""
    tensor = preferences(
        mood_posts, listens, cfg.window_min, cfg.normalise, confusion=confusion_for(cfg)
    )
    evidence = np.where(tensor.observed, np.maximum(tensor.slice_evidence[:, :, None], 1), 0)
    model = fit_tucker(tensor.values, tensor.observed, evidence, cfg.tucker)
    # Tucker fills the gaps and smooths thin slices; where a slice has much evidence its own
    # equation-1 values are better than the low-rank fit, so blend by n / (n + k0).
    trust = np.where(tensor.observed, evidence / (evidence + cfg.tucker.k0), 0.0)
    completed = (trust * tensor.values + (1 - trust) * model.predict()).astype(np.float32)
    ratings = track_ratings(listens) if listens else None
    arrays = {
        "users": np.array(tensor.users, dtype=str),
        "preferences": completed,
        "evidence": tensor.evidence,
        "prior": model.prior.astype(np.float32),
        "core": model.core,
        "factor_users": model.factor_users,
        "factor_moods": model.factor_moods,
        "factor_genres": model.factor_genres,
        "user_offset": model.user_offset,
    }
    if ratings is not None and tensor.users:
        arrays.update(_track_arrays(ratings, tensor.users, cfg))
    info = {
        **info,
        "users": len(tensor.users),
        "window_min": cfg.window_min,
        "normalise": cfg.normalise,
        "relabel": cfg.relabel,
        "ranks": list(cfg.tucker.ranks),
        "tucker_iterations": model.iterations,
        "holdout_rmse": None if np.isnan(model.holdout_rmse) else round(model.holdout_rmse, 4),
        "threshold": cfg.threshold,
    }
    return TasteArtifact(arrays, info)


def _track_arrays(ratings, users: tuple[str, ...], cfg: BuildConfig) -> dict[str, np.ndarray]:
    """Ratings re-indexed to the artifact's user order, CSR by user, plus neighbours."""
    nb = track_neighbours(ratings, cfg.threshold, cfg.neighbours)
    pos = {u: i for i, u in enumerate(users)}
    remap = np.array([pos.get(u, -1) for u in ratings.users])
    uidx = remap[ratings.user_index]
    keep = uidx >= 0
    order = np.lexsort((ratings.track_index[keep], uidx[keep]))
    uidx, tidx = uidx[keep][order], ratings.track_index[keep][order]
    vals = ratings.values[keep][order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(uidx, minlength=len(users)))])
    return {
        "tracks": np.array(ratings.tracks, dtype=str),
        "track_genres": ratings.track_genres.astype(np.int8),
        "rating_indptr": indptr.astype(np.int64),
        "rating_tracks": tidx.astype(np.int32),
        "rating_values": np.clip(vals, 0, 10).astype(np.float32),
        "neighbors": nb.neighbors,
        "neighbor_sims": nb.sims,
    }


def build(
    post_files: list[Path],
    listen_files: list[Path],
    cfg: BuildConfig,
    mapper: GenreMapper | None = None,
    tracks: dict | None = None,
) -> tuple[TasteArtifact, ImportReport]:
    report = ImportReport()
    mapper = mapper or GenreMapper()
    posts = read_posts(post_files, report)
    listens = read_listens(listen_files, report, mapper, tracks)
    log.debug("import: %s", report.summary())
    log.debug("%s", mapper.report())
    mood_posts, mood_info = classify_posts(posts, cfg.min_confidence)
    info = {
        "source": "moodspeaker-train taste build",
        "post_moods": mood_info,
        "listens": len(listens),
        "unmapped_genres": mapper.unmapped_total,
        "skipped_rows": len(report.skipped),
    }
    return build_artifact(mood_posts, listens, cfg, info), report
