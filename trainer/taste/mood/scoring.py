"""Score post moods against a corpus's labels, and the evaluation table of every split.

Unclear posts (below the confidence threshold; skipped by the pipeline) count as "no label
assigned": they lower recall and coverage, not precision. Columns of the table: coverage =
share of the emotional (happy/sad/angry) posts that get a happy/sad/angry label; precision
of the happy/sad/angry labels given; 4-mood macro-F1 at the threshold; macro-F1 without it
(every post gets its most probable mood).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .corpora import CORPORA, ROOTS, read_corpus
from .features import CLASSES

EMOTIONAL = CLASSES[:3]


def score(truth: list[str], predicted: list[str | None]) -> dict:
    """4-mood macro-F1 (unclear counts as a miss), precision and coverage of the
    happy/sad/angry labels."""
    t = np.array(truth, dtype=object)
    p = np.array([x or "" for x in predicted], dtype=object)
    per: dict[str, dict[str, float]] = {}
    for mood in CLASSES:
        tp = int(((t == mood) & (p == mood)).sum())
        assigned, actual = int((p == mood).sum()), int((t == mood).sum())
        prec = tp / assigned if assigned else 0.0
        rec = tp / actual if actual else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[mood] = {"precision": prec, "recall": rec, "f1": f1, "assigned": assigned}
    labelled = np.isin(p, EMOTIONAL)
    emotional = np.isin(t, EMOTIONAL)
    return {
        "posts": len(truth),
        "unclear": int((p == "").sum()),
        "macro_f1": float(np.mean([v["f1"] for v in per.values()])),
        "emotional_precision": float((t[labelled] == p[labelled]).mean() if labelled.any() else 0),
        "emotional_assigned": int(labelled.sum()),
        "emotional_coverage": float((emotional & labelled).sum() / max(emotional.sum(), 1)),
        "per_mood": per,
    }


def curve(truth: list[str], probs: np.ndarray, thresholds) -> dict[str, dict]:
    """Scores per confidence threshold (unclear below it), keyed ``"0.625"``."""
    best = probs.argmax(axis=1)
    conf = probs[np.arange(len(best)), best]
    out = {}
    for th in thresholds:
        pred = [CLASSES[b] if c >= th else None for b, c in zip(best, conf, strict=True)]
        s = score(truth, pred)
        out[f"{float(th):.3f}"] = {k: s[k] for k in ("emotional_precision", "emotional_assigned",
                                   "emotional_coverage", "macro_f1", "unclear")}  # fmt: skip
    return out


def evaluate_posts(classifier, truth: list[str], texts: list[str]) -> dict:
    """The table's row for one set of posts, with the languages they were routed to."""
    results = classifier.classify_many(texts)
    at = score(truth, [r.mood for r in results])
    probs = np.array([[r.probabilities[c] for c in CLASSES] for r in results])
    free = score(truth, [CLASSES[i] for i in probs.argmax(axis=1)])
    langs: dict[str, int] = {}
    for r in results:
        langs[r.language] = langs.get(r.language, 0) + 1
    return {
        "posts": len(texts), "languages": langs,
        "coverage": at["emotional_coverage"], "precision": at["emotional_precision"],
        "macro_f1": at["macro_f1"], "macro_f1_no_threshold": free["macro_f1"],
        "per_mood": at["per_mood"],
    }  # fmt: skip


# What each split is to the shipped model (fit.TRAIN_SPLITS are fitted on).
ROLE = {
    ("nlpcc", "fit"): "trained", ("nlpcc", "test"): "test",
    ("smp", "train"): "trained", ("smp", "usual_eval"): "validation",
    ("smp", "virus_eval"): "validation", ("smp", "usual_test"): "test",
    ("smp", "virus_test"): "test", ("nlpcc2018", "train"): "trained",
    ("nlpcc2018", "dev"): "test", ("goemotions", "train"): "trained",
    ("goemotions", "dev"): "validation", ("goemotions", "test"): "test",
}  # fmt: skip


def evaluate_all(classifier, data: Path, include_trained: bool = False) -> list[dict]:
    """One row per corpus split (the training splits only with ``include_trained``)."""
    rows = []
    for corpus, splits in CORPORA.items():
        for split in splits:
            role = ROLE[(corpus, split)]
            if role == "trained" and not include_trained:
                continue
            posts = read_corpus(corpus, Path(data) / ROOTS[corpus], split)
            row = evaluate_posts(classifier, [p.mood for p in posts], [p.text for p in posts])
            rows.append({"corpus": corpus, "split": split, "role": role, **row})
    return rows


def markdown(rows: list[dict], thresholds: dict[str, float]) -> str:
    th = ", ".join(f"{lang} {v}" for lang, v in thresholds.items())
    lines = [
        f"| corpus, split | role | posts | coverage of emotional posts | precision of "
        f"happy/sad/angry | macro-F1 at the threshold ({th}) | macro-F1 without it |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['corpus']} {r['split']} | {r['role']} | {r['posts']} | "
            f"{100 * r['coverage']:.1f} % | {r['precision']:.3f} | {r['macro_f1']:.3f} | "
            f"{r['macro_f1_no_threshold']:.3f} |"
        )
    return "\n".join(lines) + "\n"
