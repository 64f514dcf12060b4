"""Speaker listens as direct evidence: <person, mood, genre> from what the camera saw.

The speaker journals, for every listen, the mood the music followed when it started (the
camera's smoothed mood with its confidence, or an override at 1.0), how it ended and how
much was heard. A listen says something about taste only when the listener decided:

- heard to the end (``completed``, ended by the track's end): a positive;
- skipped by the listener within ``SKIP_WITHIN_S`` seconds of hearing it: a negative;
- anything else (a mood switch, a shutdown, a crash, an error, a stop, a late skip, a mood
  the camera could not read): no evidence about the track.

This is the device's own rule (``device.music.learning``, ``[learning] skip_within_s``).
Journals from before ``ended_by`` existed cannot tell a listener's skip from a mood
switch: there a skip followed within ``SWITCH_GAP_S`` by a listen in another mood is taken
as a mood switch.

The camera errs. With the FER model's confusion matrix (``P(seen | true)``, measured on its
validation split and shipped in the manifest) each listen's evidence is spread over the
moods it may truly have been in, as ``relabel.relabel`` does for posts: a per-person
latent-class model fitted by EM, where each person has a mood mix and a completion rate per
(true mood, genre), shrunk toward their mood-blind rate for the genre. The camera's
confidence sharpens the matrix's column (``likelihood``); an override (1.0) is certain.
Without a matrix every mood seen is taken as certain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from scipy import sparse

from device.shared.genres import GENRES
from device.shared.moods import MOODS

from .records import Listen

SKIP_WITHIN_S = 30.0  # the device's [learning] skip_within_s default
SWITCH_GAP_S = 15.0  # old journals: a skip this close to a listen in another mood: a switch
OVERRIDE_CONFIDENCE = 0.999  # the journal writes 1.0 for a mood set by hand


@dataclass(frozen=True)
class SpeakerConfig:
    """How speaker listens become evidence; chosen on ``taste simulate-speaker`` runs with
    validation seeds only (docs/taste.md, "Speaker listens")."""

    camera: str = "confusion"  # "certain" | "confusion" (spread by the FER confusion)
    confidence_weight: float = 0.0  # 0: confidence ignored; 1: confidence q is P(seen right)
    shrink: float = 1.0  # pseudo-trials pulling a cell toward the person's rate for the genre
    beta: float = 2.0  # pseudo-count per mood of each person's mood mix
    iterations: int = 30


@dataclass
class SpeakerEvidence:
    """Per (user, true mood, genre): expected completions and trials (completions plus early
    skips) after spreading over the true moods; and the counts by mood seen."""

    users: tuple[str, ...]
    completions: np.ndarray  # (U, E, G) expected
    trials: np.ndarray  # (U, E, G) expected
    rate: np.ndarray  # (U, E, G) completion rate, shrunk (what ``values`` holds / 10)
    seen_completions: np.ndarray  # (U, E, G) as the camera saw them
    seen_trials: np.ndarray  # (U, E, G)
    used: int = 0
    ignored: Counter[str] = field(default_factory=Counter)  # reason -> listens

    @property
    def values(self) -> np.ndarray:
        return (10.0 * self.rate).astype(np.float32)

    @property
    def observed(self) -> np.ndarray:
        return self.trials > 0.0


def is_speaker(listen: Listen) -> bool:
    """A listen that is evidence by itself: the speaker saw a mood when it started."""
    return listen.from_speaker and listen.mood in MOODS


def outcome(listen: Listen) -> int | None:
    """1 (heard to the end), 0 (an early skip by the listener) or None (no evidence)."""
    if listen.mood not in MOODS or listen.end_reason is None:
        return None
    if listen.ended_by in ("mood", "shutdown", "crash"):
        return None
    if listen.end_reason == "completed" and listen.ended_by in ("end", None):
        return 1
    if listen.end_reason == "skipped" and listen.ended_by in ("user", None):
        heard = listen.heard_s if listen.heard_s is not None else (
            listen.ended_at - listen.started_at)  # fmt: skip
        return 0 if heard < SKIP_WITHIN_S else None
    return None


def _why_not(listen: Listen) -> str:
    if listen.mood not in MOODS:
        return "no mood seen"
    if listen.ended_by in ("mood", "shutdown", "crash"):
        return f"ended by {listen.ended_by}"
    if listen.end_reason == "skipped":
        return "skipped late"
    return str(listen.end_reason)


def old_journal_switches(listens: list[Listen]) -> set[int]:
    """Indices of skips without ``ended_by`` that look like mood switches: the same
    person's next listen started within ``SWITCH_GAP_S`` in another mood."""
    order = sorted(range(len(listens)), key=lambda i: (listens[i].user, listens[i].started_at))
    out: set[int] = set()
    for a, b in pairwise(order):
        x, y = listens[a], listens[b]
        if (x.ended_by is None and x.end_reason == "skipped" and x.user == y.user
                and y.mood != x.mood and y.started_at - x.ended_at <= SWITCH_GAP_S):
            out.add(a)
    return out


def likelihood(seen: np.ndarray, confidence: np.ndarray, seen_given_true: np.ndarray | None,
               cfg: SpeakerConfig) -> np.ndarray:  # fmt: skip
    """(L, E): how likely each true mood makes what the camera said about each listen.

    ``P(seen | true)`` from the confusion matrix's column; with ``confidence_weight`` w the
    column is mixed with certainty by w x confidence (an override, confidence 1.0, is always
    certain). No matrix, or ``camera="certain"``: one-hot."""
    n = len(MOODS)
    onehot = np.eye(n)[seen]
    if seen_given_true is None or cfg.camera == "certain":
        return onehot
    column = np.asarray(seen_given_true, dtype=np.float64)[:, seen].T  # (L, E)
    column = column / column.max(axis=1, keepdims=True)
    sure = np.clip(cfg.confidence_weight * confidence, 0.0, 1.0)[:, None]
    sure = np.where(confidence[:, None] >= OVERRIDE_CONFIDENCE, 1.0, sure)
    return (1.0 - sure) * column + sure * onehot


def speaker_evidence(listens: list[Listen], users: tuple[str, ...],
                     seen_given_true: np.ndarray | None = None,
                     cfg: SpeakerConfig | None = None) -> SpeakerEvidence:  # fmt: skip
    """Evidence from the speaker listens among ``listens`` (others are left alone)."""
    cfg = cfg or SpeakerConfig()
    shape = (len(users), len(MOODS), len(GENRES))
    pos = {u: i for i, u in enumerate(users)}
    speaker = [x for x in listens if x.from_speaker and x.user in pos]
    switches = old_journal_switches(speaker)
    rows: list[tuple[int, int, int, int, float]] = []
    ignored: Counter[str] = Counter()
    for i, x in enumerate(speaker):
        result = None if i in switches else outcome(x)
        if result is None or x.genre is None:
            reason = "mood switch (old journal)" if i in switches else (
                _why_not(x) if result is None else "no genre")  # fmt: skip
            ignored[reason] += 1
            continue
        q = 1.0 if x.mood_confidence is None else float(x.mood_confidence)
        rows.append((pos[x.user], MOODS.index(str(x.mood)), GENRES.index(x.genre), result, q))
    zeros = np.zeros(shape)
    if not rows:
        return SpeakerEvidence(users, zeros, zeros.copy(), zeros.copy(), zeros.copy(),
                               zeros.copy(), 0, ignored)  # fmt: skip
    table = np.array(rows, dtype=np.float64)
    user, seen, genre = (table[:, k].astype(np.int64) for k in range(3))
    y, conf = table[:, 3], table[:, 4]
    seen_flat = np.ravel_multi_index((user, seen, genre), shape)
    seen_c = np.bincount(seen_flat, weights=y, minlength=zeros.size).reshape(shape)
    seen_n = np.bincount(seen_flat, minlength=zeros.size).reshape(shape).astype(float)
    lik = likelihood(seen, conf, seen_given_true, cfg)
    resp, comp, trials = _em(user, genre, y, lik, len(users), cfg)
    rate = _rate(comp, trials, cfg.shrink)
    del resp
    return SpeakerEvidence(users, comp, trials, rate, seen_c, seen_n, len(rows), ignored)


def _rate(comp: np.ndarray, trials: np.ndarray, shrink: float) -> np.ndarray:
    """Completion rate per cell, ``shrink`` pseudo-trials at the person's mood-blind rate
    for the genre (itself one pseudo-success in two trials)."""
    blind = (comp.sum(axis=1, keepdims=True) + 1.0) / (trials.sum(axis=1, keepdims=True) + 2.0)
    return (comp + shrink * blind) / (trials + shrink)


def _em(user: np.ndarray, genre: np.ndarray, y: np.ndarray, lik: np.ndarray, n_users: int,
        cfg: SpeakerConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Each listen's posterior over true moods, and the expected completions and trials."""
    n, n_moods, n_genres = len(y), len(MOODS), len(GENRES)
    owner = sparse.csr_matrix((np.ones(n), (user, np.arange(n))), shape=(n_users, n))
    onehot_g = np.eye(n_genres)[genre]  # (L, G)
    resp = lik / lik.sum(axis=1, keepdims=True)
    certain = bool(np.all(lik.max(axis=1) == lik.sum(axis=1)))
    for _ in range(1 if certain else cfg.iterations):
        comp = (owner @ (resp[:, :, None] * (y[:, None, None] * onehot_g[:, None, :])
                         ).reshape(n, -1)).reshape(n_users, n_moods, n_genres)  # fmt: skip
        trials = (owner @ (resp[:, :, None] * onehot_g[:, None, :]).reshape(n, -1)
                  ).reshape(n_users, n_moods, n_genres)  # fmt: skip
        if certain:
            break
        rate = np.clip(_rate(comp, trials, cfg.shrink), 1e-3, 1 - 1e-3)
        mix = owner @ resp
        mix = (mix + cfg.beta) / (mix.sum(axis=1, keepdims=True) + n_moods * cfg.beta)
        p = rate[user, :, genre]  # (L, E)
        logit = np.log(mix[user]) + np.log(np.maximum(lik, 1e-12))
        logit += y[:, None] * np.log(p) + (1 - y[:, None]) * np.log(1 - p)
        logit -= logit.max(axis=1, keepdims=True)
        new = np.exp(logit)
        new /= new.sum(axis=1, keepdims=True)
        change = float(np.abs(new - resp).max())
        resp = new
        if change < 1e-4:
            break
    comp = (owner @ (resp[:, :, None] * (y[:, None, None] * onehot_g[:, None, :])
                     ).reshape(n, -1)).reshape(n_users, n_moods, n_genres)  # fmt: skip
    trials = (owner @ (resp[:, :, None] * onehot_g[:, None, :]).reshape(n, -1)
              ).reshape(n_users, n_moods, n_genres)  # fmt: skip
    return resp, np.asarray(comp), np.asarray(trials)
