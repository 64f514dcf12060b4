"""``taste build``: from imported posts and listens to an exported taste artifact.

Every person read gets a row: one whose posts never meet a listen within the window gets
the prior with zero evidence, and says so, instead of being dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from device.shared.manifest import MANIFEST_NAME, load_manifest
from device.shared.moods import MOODS

from . import columns
from .export import TasteArtifact
from .importers import Imported
from .importers.times import minute, month
from .mood import MoodResult, PostMoodClassifier
from .preferences import PreferenceTensor, TrackRatings, preferences, track_ratings
from .records import Listen, MoodPost, Post
from .speaker import SpeakerConfig, SpeakerEvidence, is_speaker, speaker_evidence
from .tracks import track_neighbours
from .tucker import TuckerConfig, fit_tucker

log = logging.getLogger(__name__)

SHIPPED_MODELS = Path(__file__).resolve().parents[2] / "models"


# With relabelling the pipeline takes every post in a language it reads, however unsure:
# relabelling (relabel.relabel) weighs each post's moods by its probabilities, so an
# unsure post adds little unless the listening around it sides with one mood. Without it,
# a post counts from the classifier's own threshold. Both chosen on validation simulations
# only (users posting SMP2020's eval splits, 200 users, seeds 1-3, `bench/post_mood.py
# --thresholds`); docs/post-mood.md, "In the pipeline", has the figures.
PIPELINE_MIN_CONFIDENCE = 0.0
SPEAKER_WEIGHT = 1.0


@dataclass(frozen=True)
class BuildConfig:
    window_min: float = 30.0
    normalise: str = "max"
    tucker: TuckerConfig = field(default_factory=TuckerConfig)
    threshold: float = 0.3  # s in equation 6
    neighbours: int = 20
    min_confidence: float | None = None  # None: see post_min_confidence
    relabel: bool = True  # weigh each post's moods by its probabilities (relabel.relabel)
    anchor: np.ndarray | None = None  # (E, G) prior to shrink toward (the shipped one)
    sample: int = 12  # posts per person shown with their mood in the report
    speaker: SpeakerConfig = field(default_factory=SpeakerConfig)
    # P(seen | true) of the camera (FER manifest's mood_confusion); None: moods seen certain
    camera_confusion: np.ndarray | None = None
    # one speaker listen (completion or early skip) against one play around a post: how
    # much more it is trusted (chosen on simulate-speaker validation seeds, docs/taste.md)
    speaker_weight: float = SPEAKER_WEIGHT

    def post_min_confidence(self) -> float | None:
        """The confidence from which a post counts: ``min_confidence`` when set, else
        PIPELINE_MIN_CONFIDENCE with relabelling and the classifier's own (None) without."""
        if self.min_confidence is not None:
            return self.min_confidence
        return PIPELINE_MIN_CONFIDENCE if self.relabel else None


def camera_confusion(models_dir: Path = SHIPPED_MODELS) -> np.ndarray | None:
    """P(seen | true) of the FER model in ``models_dir``'s manifest (its validation
    confusion), or None when the manifest has no FER model or no ``mood_confusion``: the
    build then takes every mood the camera saw as certain."""
    if not (Path(models_dir) / MANIFEST_NAME).exists():
        return None
    fer = load_manifest(models_dir).fer
    return None if fer is None else fer.seen_given_true()


def classify_each(posts: list[Post], min_confidence: float | None) -> list[MoodResult]:
    """Each post's mood from ``min_confidence`` on (None: the classifier's own threshold per
    language); repeated texts are classified once."""
    classifier = PostMoodClassifier(min_confidence=min_confidence)
    texts = list(dict.fromkeys(post.text for post in posts))
    seen = dict(zip(texts, classifier.classify_many(texts), strict=True))  # one batch
    return [seen[post.text] for post in posts]


def mood_posts_of(posts: list[Post], results: list[MoodResult]) -> tuple[list[MoodPost], dict]:
    labelled: list[MoodPost] = []
    unclear = 0
    languages: dict[str, int] = {}
    for post, result in zip(posts, results, strict=True):
        languages[result.language] = languages.get(result.language, 0) + 1
        if result.mood is None:
            unclear += 1
            continue
        probs = tuple(result.probabilities[m] for m in MOODS)
        labelled.append(MoodPost(post.user, post.time, result.mood, probs))
    return labelled, {"posts": len(posts), "unclear_skipped": unclear, "languages": languages}


def classify_posts(posts: list[Post], min_confidence: float | None) -> tuple[list[MoodPost], dict]:
    return mood_posts_of(posts, classify_each(posts, min_confidence))


def build_artifact(
    mood_posts: list[MoodPost],
    listens: list[Listen],
    cfg: BuildConfig,
    info: dict,
    users: tuple[str, ...] | None = None,
    columnar: bool = True,
    stored: Sequence[columns.ListenColumns] = (),
    names: columns.Names | None = None,
) -> TasteArtifact:
    """Equation 1 (other services' plays around posts) and speaker listens (direct
    evidence) -> Tucker -> completed preferences, prior and track neighbours.
    ``users`` (default: everyone with posts or listens) are the artifact's rows;
    ``stored``: listen stores read as columns, coded with ``names``.
    Runs on columns (``columns``: the same figures, far less memory); ``columnar=False``
    keeps the list-based reference path (tests/test_taste_columnar.py compares them)."""
    names = names or columns.Names()
    if users is None:
        users = tuple(sorted({x.user for x in listens} | {p.user for p in mood_posts}
                             | columns.people_of(stored, names)))
    if columnar:
        post_cols, listen_cols = columns.from_records(mood_posts, listens, users)
        listen_cols = columns.with_stored(listen_cols, stored, names, users)
        return build_columns(post_cols, listen_cols, users, cfg, info)
    if stored:
        raise ValueError("listen stores are read as columns: build them columnar")
    streamed = [x for x in listens if not is_speaker(x)]
    tensor = preferences(mood_posts, streamed, cfg.window_min, cfg.normalise,
                         relabel_moods=cfg.relabel, users=users)  # fmt: skip
    heard = speaker_evidence(listens, tensor.users, cfg.camera_confusion, cfg.speaker)
    ratings = track_ratings(listens) if listens else None
    tracks = _track_arrays(ratings, tensor.users, cfg) if ratings is not None else {}
    return _model(tensor, heard, tracks, listens_until(listens, tensor.users), cfg, info)


def build_columns(posts: columns.PostColumns, listens: columns.ListenColumns,
                  users: tuple[str, ...], cfg: BuildConfig, info: dict) -> TasteArtifact:
    """``build_artifact`` on columns coded against ``users`` (sorted names, as the list
    path's default): posts sorted by user, listens by (user, start), equation 1 and
    relabelling per block of people, the ratings by user block; the rest as the list path.
    The columns are consumed: sorted in place, then emptied once used (``release``), so a
    big build does not carry them into Tucker."""
    step = columns.Steps()
    posts = columns.sort_posts(posts)
    listens = columns.sort_listens(listens)
    step(f"sorted {len(posts)} posts, {len(listens)} listens")
    tensor = columns.preferences_columns(posts, listens, users, cfg.window_min, cfg.normalise,
                                         relabel_moods=cfg.relabel)  # fmt: skip
    step("equation 1 and relabelling (steps above)")
    posts.release()
    speaker = listens.speaker
    until = listens_until(speaker, users)
    if listens.until is not None:
        keep = set(users)
        until = {u: t for u, t in listens.until.items() if u in keep}
    heard = speaker_evidence(speaker, users, cfg.camera_confusion, cfg.speaker)
    if listens.unseen:  # the store reader's speaker listens without a mood seen
        heard.ignored["no mood seen"] += listens.unseen
    tracks: dict[str, np.ndarray] = {}
    if len(listens):
        ratings = columns.track_ratings_columns(listens, users + listens.others)
        listens.release()
        step(f"speaker evidence, {len(ratings.values)} track ratings")
        tracks = _track_arrays_sorted(ratings, len(users), cfg)
        del ratings
        step("track neighbours")
    artifact = _model(tensor, heard, tracks, until, cfg, info)
    step("Tucker, completed preferences")
    return artifact


def _model(tensor: PreferenceTensor, heard: SpeakerEvidence, tracks: dict[str, np.ndarray],
           until: dict[str, float], cfg: BuildConfig, info: dict) -> TasteArtifact:
    """Both sources combined, Tucker, the completed preferences and the artifact."""
    values, observed, evidence = combine(tensor, heard, cfg.speaker_weight)
    # one BLAS thread: the products are skinny (users x 6 x 28), and on a busy 2-core
    # machine BLAS threads spinning for a core made the fit 17x slower (2k users: 25.3 s
    # with OpenBLAS's own threads, 1.5 s with one; bench/taste.py, docs/taste.md)
    with threadpool_limits(limits=1, user_api="blas"):
        model = fit_tucker(values, observed, evidence, cfg.tucker, cfg.anchor)
    # Tucker fills the gaps and smooths thin slices; where a slice has much evidence its own
    # values are better than the low-rank fit, so blend by n / (n + k0).
    trust = np.where(observed, evidence / (evidence + cfg.tucker.k0), 0.0)
    del evidence
    completed = (trust * values + (1 - trust) * model.predict()).astype(np.float32)
    del trust, values
    nothing = ~observed.any(axis=(1, 2))
    completed[nothing] = model.prior  # no evidence at all: exactly the prior
    arrays = {
        "users": np.array(tensor.users, dtype=str),
        "preferences": completed,
        "evidence": (tensor.evidence + heard.trials).astype(np.float32),
        "evidence_posts": tensor.slice_evidence.astype(np.float32),
        "evidence_speaker": heard.trials.sum(axis=2).astype(np.float32),
        "prior": model.prior.astype(np.float32),
        "core": model.core,
        "factor_users": model.factor_users,
        "factor_moods": model.factor_moods,
        "factor_genres": model.factor_genres,
        "user_offset": model.user_offset,
    }
    if tensor.users:
        arrays.update(tracks)
    info = {
        **info,
        "users": len(tensor.users),
        "users_without_evidence": int(nothing.sum()),
        "window_min": cfg.window_min,
        "normalise": cfg.normalise,
        "relabel": cfg.relabel,
        "prior_anchor": cfg.anchor is not None,
        "ranks": list(cfg.tucker.ranks),
        "tucker_iterations": model.iterations,
        "holdout_rmse": None if np.isnan(model.holdout_rmse) else round(model.holdout_rmse, 4),
        "threshold": cfg.threshold,
        "speaker": {
            "listens_used": heard.used, "ignored": dict(heard.ignored),
            "camera": "certain" if cfg.camera_confusion is None else cfg.speaker.camera,
            "weight": cfg.speaker_weight,
        },
        # per person, the end of the last speaker listen this model learnt from: the device
        # counts its own genre feedback only from there on (device.music.picker_setup)
        "speaker_listens_until": until,
    }
    return TasteArtifact(arrays, info)


def combine(tensor, heard: SpeakerEvidence, weight: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Values, observed and evidence weights from both sources: per cell a weighted mean of
    equation 1's value (weighted by its slice's plays) and the speaker's completion rate
    x 10 (weighted by ``weight`` x its expected trials)."""
    w_posts = np.where(tensor.observed, np.maximum(tensor.slice_evidence[:, :, None], 1), 0.0)
    w_speaker = np.where(heard.observed, weight * heard.trials, 0.0)
    total = w_posts + w_speaker
    values = np.divide(w_posts * tensor.values + w_speaker * heard.values, total,
                       out=np.zeros(total.shape), where=total > 0)  # fmt: skip
    return values, total > 0, total


def listens_until(listens: list[Listen], users: tuple[str, ...]) -> dict[str, float]:
    """Person -> the latest ``ended_at`` of their speaker listens (those the build read)."""
    out: dict[str, float] = {}
    keep = set(users)
    for x in listens:
        if x.from_speaker and x.user in keep:
            out[x.user] = max(out.get(x.user, 0.0), float(x.ended_at))
    return {u: round(t, 3) for u, t in sorted(out.items())}


def _track_arrays_sorted(ratings: TrackRatings, n_users: int, cfg: BuildConfig
                         ) -> dict[str, np.ndarray]:  # fmt: skip
    """``_track_arrays`` for ratings already coded in the artifact's order and sorted by
    (user, track) (``columns.track_ratings_columns``); people from ``n_users`` on count
    for the neighbours only."""
    nb = track_neighbours(ratings, cfg.threshold, cfg.neighbours)
    cut = int(np.searchsorted(ratings.user_index, n_users))
    counts = np.bincount(ratings.user_index[:cut], minlength=n_users)
    return {
        "tracks": np.array(ratings.tracks, dtype=str),
        "track_genres": ratings.track_genres.astype(np.int8),
        "rating_indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "rating_tracks": ratings.track_index[:cut].astype(np.int32),
        "rating_values": np.clip(ratings.values[:cut], 0, 10).astype(np.float32),
        "neighbors": nb.neighbors,
        "neighbor_sims": nb.sims,
    }


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


@dataclass(frozen=True)
class Overlap:
    """How one person's posts and listens meet: the evidence equation 1 can have."""

    person: str
    posts: int
    clear_posts: int  # with a mood the classifier is sure of
    listens: int
    posts_with_listen: int  # within the window
    clear_with_listen: int
    post_span: tuple[float, float] | None
    listen_span: tuple[float, float] | None
    speaker_listens: int = 0  # listens the speaker journalled with a mood seen

    def line(self, window_min: float) -> str:
        if self.speaker_listens:
            text = (f"{self.person}: {self.speaker_listens} speaker listens with the mood seen "
                    "(evidence by themselves)")  # fmt: skip
            if self.posts:
                text += "; " + self._posts_line(window_min).split(": ", 1)[1]
            return text
        return self._posts_line(window_min)

    def _posts_line(self, window_min: float) -> str:
        win = f"{window_min:g} minutes"
        if not self.posts:
            return (f"{self.person}: {self.listens} listens ({_span(self.listen_span)}) but no "
                    "posts: the prior, zero evidence")  # fmt: skip
        if not self.listens:
            return (f"{self.person}: {self.posts} posts ({_span(self.post_span)}) but no "
                    "listens: the prior, zero evidence")  # fmt: skip
        if not self.posts_with_listen:
            return (f"{self.person}: posts span {_span(self.post_span)}, listens "
                    f"{_span(self.listen_span)}: no post has a listen within {win}: the prior, "
                    "zero evidence")  # fmt: skip
        text = (f"{self.person}: {self.posts_with_listen} of {self.posts} posts have a listen "
                f"within {win}, {self.clear_with_listen} of them with a clear mood")  # fmt: skip
        if not self.clear_with_listen:
            text += ": the prior, zero evidence"
        return text


def overlap_lines(found: list[Overlap], window_min: float, shown: int = 20) -> list[str]:
    """A line per person; for a big build, a count and the people without evidence."""
    if len(found) <= shown:
        return [item.line(window_min) for item in found]
    empty = [item for item in found if not item.clear_with_listen and not item.speaker_listens]
    lines = [f"{len(found)} people: {len(found) - len(empty)} have posts with a clear mood and "
             f"a listen within {window_min:g} minutes, {len(empty)} do not"]  # fmt: skip
    lines += [item.line(window_min) for item in empty[:shown]]
    if len(empty) > shown:
        lines.append(f"... and {len(empty) - shown} more without evidence")
    return lines


def _span(span: tuple[float, float] | None) -> str:
    return "-" if span is None else f"{month(span[0])} to {month(span[1])}"


def overlaps(posts: list[Post], results: list[MoodResult], listens: list[Listen],
             people: tuple[str, ...], window_min: float,
             stored: Sequence[columns.ListenColumns] = (), names: columns.Names | None = None,
             ) -> list[Overlap]:  # fmt: skip
    """Per person: posts, listens (records, and ``stored`` columns coded with ``names``)
    and how many posts have a listen within the window."""
    starts: dict[str, list[float]] = {p: [] for p in people}
    heard: dict[str, int] = dict.fromkeys(people, 0)
    for x in listens:
        if is_speaker(x):
            heard[x.user] += 1
            continue
        starts[x.user].append(x.started_at)
    for cols in stored:
        assert names is not None, "stored columns come with their names"
        order = np.argsort(cols.user, kind="stable")
        user, start, streamed = cols.user[order], cols.started_at[order], cols.streamed[order]
        for a, z in columns.runs(user):
            person = names.name(int(user[a]))
            if person in starts:
                starts[person] += start[a:z][streamed[a:z]].tolist()
                heard[person] += int((~streamed[a:z]).sum())
    times: dict[str, list[tuple[float, bool]]] = {p: [] for p in people}
    for post, result in zip(posts, results, strict=True):
        times[post.user].append((post.time, result.mood is not None))
    window = window_min * 60.0
    out = []
    for person in people:
        plays = np.sort(np.asarray(starts[person], dtype=float))
        own = np.asarray([t for t, _ in times[person]], dtype=float)
        clear = np.asarray([c for _, c in times[person]], dtype=bool)
        near = np.zeros(len(own), dtype=bool)
        if len(plays) and len(own):
            lo = np.searchsorted(plays, own - window, side="left")
            hi = np.searchsorted(plays, own + window, side="right")
            near = hi > lo
        out.append(Overlap(
            person, len(own), int(clear.sum()), len(plays), int(near.sum()),
            int((near & clear).sum()),
            (float(own.min()), float(own.max())) if len(own) else None,
            (float(plays[0]), float(plays[-1])) if len(plays) else None, heard[person],
        ))  # fmt: skip
    return out


def sample_posts(posts: list[Post], results: list[MoodResult], person: str, n: int,
                 seed: int = 0) -> list[dict]:  # fmt: skip
    """Up to ``n`` of the person's posts, spread over the moods read (and unclear), so the
    person can check that their moods were read right."""
    rng = np.random.default_rng(seed)
    by_mood: dict[str, list[int]] = {}
    texts: set[str] = set()
    for i, (post, result) in enumerate(zip(posts, results, strict=True)):
        if post.user == person and post.text not in texts:
            texts.add(post.text)
            by_mood.setdefault(result.mood or "unclear", []).append(i)
    picked: list[int] = []
    pools = {m: list(rng.permutation(ix)) for m, ix in sorted(by_mood.items())}
    while len(picked) < n and any(pools.values()):
        for pool in pools.values():
            if pool and len(picked) < n:
                picked.append(int(pool.pop()))
    return [{
        "time": minute(posts[i].time), "text": posts[i].text,
        "mood": results[i].mood or "unclear",
        "confidence": round(max(results[i].probabilities.values(), default=0.0), 3),
    } for i in sorted(picked, key=lambda i: posts[i].time)]  # fmt: skip


@dataclass
class BuildResult:
    artifact: TasteArtifact
    overlaps: list[Overlap]
    samples: dict[str, list[dict]]

    def without_evidence(self) -> list[str]:
        users = [str(u) for u in self.artifact.arrays["users"]]
        evidence = self.artifact.arrays["evidence"].sum(axis=(1, 2))
        return [u for u, e in zip(users, evidence, strict=True) if e < 0.5]


def build(imported: Imported, cfg: BuildConfig,
          say: Callable[[str], None] = log.info) -> BuildResult:  # fmt: skip
    """Post moods, the overlap per person (said before the slow fit), then the model."""
    results = classify_each(imported.posts, cfg.post_min_confidence())
    found = overlaps(imported.posts, results, imported.listens, imported.people, cfg.window_min,
                     imported.stored, imported.names)  # fmt: skip
    for line in overlap_lines(found, cfg.window_min):
        say(line)
    mood_posts, mood_info = mood_posts_of(imported.posts, results)
    info = {
        "source": "moodspeaker-train taste build",
        "post_moods": mood_info,
        "listens": len(imported.listens) + sum(len(c) for c in imported.stored),
        "skipped_rows": len(imported.report.skipped) + sum(c.skipped for c in imported.stored),
    }
    artifact = build_artifact(mood_posts, imported.listens, cfg, info, imported.people,
                              stored=imported.stored, names=imported.names)  # fmt: skip
    samples = {p: sample_posts(imported.posts, results, p, cfg.sample) for p in imported.people}
    return BuildResult(artifact, found, samples)
