"""``moodspeaker-train taste mood``: classify posts or files, score on a corpus, evaluate
every corpus split into tables, or (maintainers) refit the shipped models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from device.shared.errors import UserError

from ..cli import DEFAULT_SPLIT
from .classify import DATA_DIR, PostMoodClassifier
from .corpora import Skipped, read_corpus
from .features import CLASSES
from .fit import THRESHOLDS, fit_all, write_fit
from .post_files import classify_file
from .scoring import curve as threshold_curve
from .scoring import evaluate_all, evaluate_posts, markdown


def _write_json(path: Path | None, result) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")  # fmt: skip


def score_corpus(classifier, corpus: str, path: Path, split: str | None, curve: bool) -> dict:
    split = split or DEFAULT_SPLIT.get(corpus, "")
    skipped = Skipped()
    try:
        posts = read_corpus(corpus, Path(path), split, skipped)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    truth, texts = [p.mood for p in posts], [p.text for p in posts]
    out = {"corpus": corpus, "split": split, "thresholds": classifier.thresholds,
           "skipped_rows": skipped.malformed[:20], "mixed_label_posts": skipped.mixed}  # fmt: skip
    if curve:
        probs, _ = classifier.probabilities(texts)
        out["curve"] = threshold_curve(truth, probs, THRESHOLDS)
        out["classes"] = list(CLASSES)
        return out
    return {**out, **evaluate_posts(classifier, truth, texts)}


def evaluate(classifier, data: Path, out: Path) -> str:
    """Every corpus split's row -> ``out/evaluation.json`` and ``.md``; the markdown."""
    rows = evaluate_all(classifier, data)
    table = markdown(rows, classifier.thresholds)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "evaluation.json", {"thresholds": classifier.thresholds, "rows": rows})
    (out / "evaluation.md").write_text(
        "# Post mood, every corpus split (`moodspeaker-train taste mood --evaluate "
        f"{data}`)\n\n" + table, encoding="utf-8")  # fmt: skip
    return table


def run_mood(args: argparse.Namespace) -> int:
    if args.fit:
        write_fit(fit_all(args.fit), DATA_DIR)
        print(f"wrote {DATA_DIR}/post_mood.npz and classifier.json")
    classifier = PostMoodClassifier(min_confidence=args.min_confidence)
    if args.evaluate:
        print(evaluate(classifier, args.evaluate, args.out))
        return 0
    if args.posts:
        if not args.json:
            raise UserError("--posts needs --json OUT (one JSON line per post)")
        n, problems = classify_file(classifier, args.posts, args.json)
        for p in problems[:20]:
            print(f"skipped {p}")
        print(f"wrote {args.json}: {n} posts ({len(problems)} rows skipped)")
        return 0
    if args.nlpcc or args.corpus:
        corpus, path = ("nlpcc", args.nlpcc) if args.nlpcc else args.corpus
        result = score_corpus(classifier, corpus, Path(path), args.split, args.curve)
        print(json.dumps(result, indent=1, ensure_ascii=False))
        _write_json(args.json, result)
        return 0
    for text, res in zip(args.text, classifier.classify_many(args.text), strict=True):
        top = max(res.probabilities.values(), default=np.nan)
        print(f"{res.mood or 'unclear'}\t{res.language}\t{top:.2f}\t{text}")
    return 0
