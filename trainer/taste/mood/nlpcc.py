"""Score the post-mood classifier on the NLPCC 2014 Weibo emotion posts.

NLPCC's 8 labels -> our 4 moods: like, happiness -> happy; sadness, fear -> sad;
anger, disgust -> angry; none, surprise -> neutral. Unclear posts (skipped by the pipeline)
count as "no label assigned": they lower recall, not precision.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import UserError
from device.manifest import MOODS

from .classify import PostMoodClassifier

NLPCC_TO_MOOD: dict[str, str] = {
    "like": "happy", "happiness": "happy", "sadness": "sad", "fear": "sad",
    "anger": "angry", "disgust": "angry", "none": "neutral", "surprise": "neutral",
}  # fmt: skip


@dataclass(frozen=True)
class LabelledPost:
    id: str
    text: str
    mood: str


def read_nlpcc(path: Path) -> list[LabelledPost]:
    """``id,text,primary,secondary`` rows; rows with an unknown label raise with the line."""
    path = Path(path)
    if path.is_dir():
        path = path / "weibo_emotion.csv"
    posts: list[LabelledPost] = []
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                label = (row.get("primary") or "").strip()
                if label not in NLPCC_TO_MOOD:
                    raise UserError(f"{path}:{line}: unknown NLPCC label {label!r}")
                posts.append(LabelledPost(row["id"], row["text"], NLPCC_TO_MOOD[label]))
    except OSError as exc:
        raise UserError(f"{path}: cannot read NLPCC posts: {exc}") from None
    return posts


def read_split(path: Path, split: str) -> list[LabelledPost]:
    """One split of the posts: ``fit`` (even rows, what the weights are fitted on),
    ``test`` (odd rows, held out) or ``all``. The one place that decides the split."""
    posts = read_nlpcc(path)
    if split == "fit":
        return posts[0::2]
    if split == "test":
        return posts[1::2]
    if split == "all":
        return posts
    raise ValueError(f"unknown NLPCC split {split!r}")


def score(truth: list[str], predicted: list[str | None]) -> dict:
    """4-mood macro-F1 (unclear counts as a miss) and precision of assigned happy/sad/angry."""
    per: dict[str, dict[str, float]] = {}
    for mood in MOODS:
        tp = sum(t == mood and p == mood for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != mood and p == mood for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == mood and p != mood for t, p in zip(truth, predicted, strict=True))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[mood] = {"precision": prec, "recall": rec, "f1": f1, "assigned": tp + fp}
    emotional = [(t, p) for t, p in zip(truth, predicted, strict=True) if p in MOODS[:3]]
    return {
        "posts": len(truth),
        "unclear": sum(p is None for p in predicted),
        "macro_f1": sum(v["f1"] for v in per.values()) / len(MOODS),
        "emotional_precision": (
            sum(t == p for t, p in emotional) / len(emotional) if emotional else 0.0
        ),
        "emotional_assigned": len(emotional),
        "per_mood": per,
    }


def evaluate_nlpcc(
    path: Path, classifier: PostMoodClassifier | None = None, split: str = "test"
) -> dict:
    """Score on one NLPCC split (``read_split``); the default is the held-out test."""
    posts = read_split(path, split)
    classifier = classifier or PostMoodClassifier()
    predicted = [classifier.classify(p.text).mood for p in posts]
    return score([p.mood for p in posts], predicted)


def threshold_curve(
    path: Path, classifier: PostMoodClassifier | None = None, split: str = "test"
) -> dict:
    """Precision / coverage / macro-F1 per confidence threshold: the trade-off to choose."""
    from .fit import curve

    posts = read_split(path, split)
    classifier = classifier or PostMoodClassifier()
    probs, truth = [], []
    for p in posts:
        features, tokens, _ = classifier.analyse(p.text)
        known = frozenset(t for t in tokens if t in classifier.tokens)
        if not features.any() and not known:
            probs.append([0.0, 0.0, 0.0, 1.0])  # no evidence: neutral at any threshold
        else:
            probs.append(classifier.probabilities(features, known))
        truth.append(p.mood)
    table = curve(truth, np.array(probs))
    return {"split": split, "shipped_threshold": classifier.min_confidence,
            "curve": {f"{k:.3f}": v for k, v in table.items()}}  # fmt: skip
