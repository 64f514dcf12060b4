"""Post mood leave-one-corpus-out (LOCO): how it does on posts from a source it never saw.

For each language and each of its corpora in turn: fit on the language's other corpora
(pooled, ``fit.fit_model`` with the shipped blocks and SGD strength), score 4-mood
macro-F1 on the corpus left out (every post gets its most probable mood), and print a
table with the mean per language. Only training and validation splits are read; the test
splits (NLPCC 2014 odd rows, SMP2020 usual/virus test, NLPCC 2018 dev, GoEmotions test,
EmoInt test) stay unread here, and every text of one of them is dropped from training.

Corpora: Chinese NLPCC 2014 (even rows), SMP2020-EWECT (train + usual/virus eval), NLPCC
2018 code-switching (train.xml); English GoEmotions (train + dev), WASSA-2017 EmoInt
(train + dev, tweets rated >= 0.5; it has no neutral posts, so its macro-F1 is over
happy, sad and angry, a neutral guess counting as a miss).

Levers (``--variants``; the choice between them is made on these LOCO figures only):

- ``base``: the shipped recipe on the other corpora pooled.
- ``prior``: ``base`` with the held-out source's mood shares estimated without its
  labels (EM, Saerens et al. 2002) and the probabilities re-weighted to them.
- ``balanced``: every training corpus weighs the same in the fit, whatever its size.
- ``self``: self-training on the held-out posts (their text only): ``base``'s confident
  labels (max probability >= ``--self-threshold``) added with weight ``--self-weight``
  and refitted; what ``taste build`` could do with a person's own posts.
- ``distant``: distant labels on the held-out posts from emoticons and emoji only: each
  emoticon's mood is learnt on the training corpora (it must occur 20+ times with one
  emotional mood in 60 %+ of them); a post whose emoticons agree on one mood gets it.
- ``abstain``: ``base`` at the shipped thresholds: precision of the happy/sad/angry labels
  and coverage of the emotional posts on the held-out source (calibrated = the 0.80 the
  in-source CV promised).

    .venv/bin/python -m bench.post_mood_loco [--lang zh en] [--variants base prior ...]
"""

from __future__ import annotations

import argparse
import json
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from trainer.taste.mood import features
from trainer.taste.mood.corpora import ROOTS, LabelledPost, read_corpus, read_emoint
from trainer.taste.mood.features import BLOCKS, CLASSES, Block, normalise
from trainer.taste.mood.fit import (
    ALPHA,
    TARGET,
    THRESHOLDS,
    Sample,
    choose_threshold,
    fit_model,
    out_of_fold,
)
from trainer.taste.mood.scoring import curve

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SOURCES: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "zh": {"nlpcc": (("nlpcc", "fit"),),
           "smp": (("smp", "train"), ("smp", "usual_eval"), ("smp", "virus_eval")),
           "nlpcc2018": (("nlpcc2018", "train"),)},
    "en": {"goemotions": (("goemotions", "train"), ("goemotions", "dev")),
           "emoint": (("emoint", "train"), ("emoint", "dev"))},
}  # fmt: skip
KEPT_BACK = (("nlpcc", "test"), ("smp", "usual_test"), ("smp", "virus_test"),
             ("nlpcc2018", "dev"), ("goemotions", "test"), ("emoint", "test"))  # fmt: skip
SHIPPED_THRESHOLD = {"zh": 0.525, "en": 0.45}
VARIANTS = ("base", "prior", "prior1", "single", "threshold", "balanced", "self", "distant",
            "mixed", "abstain")  # fmt: skip
# Weibo emoticons ([泪]), emoji, and ASCII emoticons.
_EMOTICON = re.compile(
    r"\[[^\[\]\s]{1,8}\]|[\U0001F300-\U0001FAFF\u2600-\u27BF]|"
    r"(?<!\w)(?:[:;=]-?[()DPp/\\|]|<3|T_T|QAQ|\^_\^)(?!\w)"
)


def read(corpus: str, split: str) -> list[LabelledPost]:
    if corpus == "emoint":
        return read_emoint(DATA / "emoint_wassa2017", split)
    return read_corpus(corpus, DATA / ROOTS[corpus], split)


def load(lang: str) -> dict[str, list[LabelledPost]]:
    """The language's corpora, each without repeated texts or texts of a kept-back split."""
    kept = {normalise(p.text) for c, s in KEPT_BACK for p in read(c, s)}
    out = {}
    for name, splits in SOURCES[lang].items():
        seen, posts = set(kept), []
        for corpus, split in splits:
            for p in read(corpus, split):
                key = normalise(p.text)
                if key and key not in seen:
                    seen.add(key)
                    posts.append(p)
        out[name] = posts
    return out


def macro_f1(truth: list[str], pred: np.ndarray) -> float:
    """Macro-F1 over the moods the corpus has (all four but in EmoInt)."""
    y = np.array([CLASSES.index(m) for m in truth])
    labels = sorted(set(y.tolist()))
    return float(f1_score(y, pred, labels=labels, average="macro", zero_division=0))


def prior_em(probs: np.ndarray, train_prior: np.ndarray, steps: int = 50) -> np.ndarray:
    """Saerens-Latinne-Decaestecker EM: the new source's mood shares from its unlabelled
    posts, and the probabilities re-weighted from ``train_prior`` to them."""
    prior = train_prior.copy()
    adj = probs
    for _ in range(steps):
        adj = probs * (prior / train_prior)
        adj /= adj.sum(axis=1, keepdims=True)
        new = adj.mean(axis=0)
        if np.abs(new - prior).max() < 1e-5:
            break
        prior = new
    return adj


def emoticon_moods(posts: list[LabelledPost], min_count: int = 20, share: float = 0.6):
    counts: dict[str, Counter] = {}
    for p in posts:
        for e in set(_EMOTICON.findall(p.text)):
            counts.setdefault(e, Counter())[p.mood] += 1
    out = {}
    for e, c in counts.items():
        mood, n = c.most_common(1)[0]
        if sum(c.values()) >= min_count and mood != "neutral" and n / sum(c.values()) >= share:
            out[e] = mood
    return out


def distant_labels(texts: list[str], table: dict[str, str]) -> list[tuple[int, str]]:
    out = []
    for i, t in enumerate(texts):
        moods = {table[e] for e in _EMOTICON.findall(t) if e in table}
        if len(moods) == 1:
            out.append((i, moods.pop()))
    return out


def at_threshold(truth: list[str], probs: np.ndarray, th: float) -> dict:
    s = curve(truth, probs, [th])[f"{th:.3f}"]
    return {"threshold": th, "precision": round(s["emotional_precision"], 3),
            "coverage": round(s["emotional_coverage"], 3)}  # fmt: skip


def choose_thresholds(fold: Fold, probs: np.ndarray) -> dict:
    """The abstention threshold chosen two ways on the training corpora (each corpus's
    precision counts once, target ``fit.TARGET``): from 5-fold CV probabilities (as
    shipped) and leave-one-corpus-out probabilities within them; each scored on the
    held-out corpus (precision of happy/sad/angry labels, coverage of emotional posts)."""
    samples = [Sample(p.text, p.mood, n) for p, n in fold.train]
    names = sorted({n for _, n in fold.train})
    truth = [s.mood for s in samples]
    corpus = np.array([s.corpus for s in samples])
    oof = out_of_fold(samples, fold.blocks, fold.alpha, 5)
    cv = {c: curve([truth[i] for i in np.flatnonzero(corpus == c)], oof[corpus == c],
                   THRESHOLDS) for c in names}  # fmt: skip
    out = {"cv": at_threshold(fold.truth, probs, choose_threshold(cv, TARGET))}
    loo = np.zeros_like(oof)
    for c in names:
        sub = Fold.__new__(Fold)
        sub.__dict__.update(fold.__dict__)
        sub.train = [(p, n) for p, n in fold.train if n != c]
        if {p.mood for p, _ in sub.train} != set(CLASSES):
            return out
        loo[corpus == c] = sub.fit().probabilities([s.text for s in samples if s.corpus == c])
    curves = {c: curve([truth[i] for i in np.flatnonzero(corpus == c)], loo[corpus == c],
                       THRESHOLDS) for c in names}  # fmt: skip
    out["loco"] = at_threshold(fold.truth, probs, choose_threshold(curves, TARGET))
    return out


def travel_normalise(steps: list[str]) -> None:
    """Patch ``features.normalise`` (fit and classify paths) with extra steps."""
    plain = features.normalise
    topic, digits = re.compile(r"#[^#\n]{1,40}#"), re.compile(r"\d")

    def normalise_more(text: str) -> str:
        if "nfkc" in steps:
            text = unicodedata.normalize("NFKC", text)
        if "topics" in steps:
            text = topic.sub(" ", text)
        if "digits" in steps:
            text = digits.sub("0", text)
        return plain(text)

    features.normalise = normalise_more


class Fold:
    def __init__(self, lang: str, corpora: dict[str, list[LabelledPost]], held: str) -> None:
        self.lang, self.held = lang, held
        self.test = corpora[held]
        test_keys = {normalise(p.text) for p in self.test}
        self.train = [(p, name) for name, posts in corpora.items() if name != held
                      for p in posts if normalise(p.text) not in test_keys]  # fmt: skip
        self.texts = [p.text for p in self.test]
        self.truth = [p.mood for p in self.test]
        self.blocks, self.alpha, self.twin = BLOCKS[lang], ALPHA[lang], True

    def fit(self, extra: Sequence[tuple[str, str]] = (), extra_weight: float = 1.0,
            balanced: bool = False):  # fmt: skip
        texts = [p.text for p, _ in self.train] + [t for t, _ in extra]
        moods = [p.mood for p, _ in self.train] + [m for _, m in extra]
        weights = None
        if balanced or extra:
            names = Counter(n for _, n in self.train)
            w = [len(self.train) / (len(names) * names[n]) if balanced else 1.0
                 for _, n in self.train]  # fmt: skip
            weights = np.array(w + [extra_weight] * len(extra))
        return fit_model(texts, moods, self.blocks, self.alpha, nb_twin=self.twin, weights=weights)


def run_fold(fold: Fold, variants, self_threshold: float, self_weight: float, log) -> dict:
    out: dict = {"posts": len(fold.test), "train_posts": len(fold.train)}
    if {p.mood for p, _ in fold.train} != set(CLASSES):
        log(f"  {fold.lang} -{fold.held}: the other corpora lack a mood; not scored")
        return out
    t0 = time.perf_counter()
    base = fold.fit()
    probs = base.probabilities(fold.texts)
    out["base"] = macro_f1(fold.truth, probs.argmax(1))
    log(f"  {fold.lang} -{fold.held}: base {out['base']:.3f} ({time.perf_counter() - t0:.0f} s)")
    if "prior" in variants:
        # class_weight="balanced": the fitted model's prior is about uniform
        adj = prior_em(probs, np.full(len(CLASSES), 1 / len(CLASSES)))
        out["prior"] = macro_f1(fold.truth, adj.argmax(1))
        out["prior_shares"] = adj.mean(axis=0).round(3).tolist()
        one = probs * probs.mean(axis=0)  # one EM step from the uniform prior
        out["prior1"] = macro_f1(fold.truth, one.argmax(1))
    if "abstain" in variants:
        out["abstain"] = at_threshold(fold.truth, probs, SHIPPED_THRESHOLD[fold.lang])
        best = probs.argmax(1)
        out["abstain"]["f1_at_threshold"] = macro_f1(
            fold.truth, np.where(probs.max(1) >= SHIPPED_THRESHOLD[fold.lang], best, -1)
        )
    if "single" in variants:  # each other corpus alone: do more sources travel better?
        names = sorted({n for _, n in fold.train})
        for name in names if len(names) > 1 else ():
            sub = Fold.__new__(Fold)
            sub.__dict__.update(fold.__dict__)
            sub.train = [(p, n) for p, n in fold.train if n == name]
            if {p.mood for p, _ in sub.train} == set(CLASSES):
                out[f"only {name}"] = macro_f1(fold.truth, sub.fit().probabilities(
                    fold.texts).argmax(1))  # fmt: skip
        out["single"] = max(
            (v for k, v in out.items() if k.startswith("only ")), default=out["base"]
        )
    if "threshold" in variants:
        out["threshold"] = out["base"]
        out["thresholds"] = choose_thresholds(fold, probs)
        log(f"  {fold.lang} -{fold.held}: thresholds {out['thresholds']}")
    if "balanced" in variants:
        out["balanced"] = macro_f1(fold.truth, fold.fit(balanced=True).probabilities(
            fold.texts).argmax(1))  # fmt: skip
    if "self" in variants:
        keep = np.flatnonzero(probs.max(1) >= self_threshold)
        extra = [(fold.texts[i], CLASSES[int(probs[i].argmax())]) for i in keep]
        model = fold.fit(extra, self_weight)
        out["self"] = macro_f1(fold.truth, model.probabilities(fold.texts).argmax(1))
        out["self_pseudo"] = len(extra)
        out["self_pseudo_accuracy"] = float(np.mean(
            [m == fold.truth[i] for (_, m), i in zip(extra, keep, strict=True)]))  # fmt: skip
    if "mixed" in variants:  # the other language's first corpus added, weight 0.3
        other = "en" if fold.lang == "zh" else "zh"
        name = next(iter(SOURCES[other]))
        extra = [(p.text, p.mood) for p in load(other)[name]]
        model = fold.fit(extra, 0.3)
        out["mixed"] = macro_f1(fold.truth, model.probabilities(fold.texts).argmax(1))
    if "distant" in variants:
        table = emoticon_moods([p for p, _ in fold.train])
        labels = distant_labels(fold.texts, table)
        extra = [(fold.texts[i], m) for i, m in labels]
        out["distant_emoticons"] = len(table)
        out["distant_posts"] = len(extra)
        out["distant_accuracy"] = float(np.mean([m == fold.truth[i] for i, m in labels])
                                        ) if labels else 0.0  # fmt: skip
        if extra:
            model = fold.fit(extra, self_weight)
            out["distant"] = macro_f1(fold.truth, model.probabilities(fold.texts).argmax(1))
        else:
            out["distant"] = out["base"]
    log(f"  {fold.lang} -{fold.held}: " + ", ".join(
        f"{k} {v:.3f}" for k, v in out.items()
        if (k in VARIANTS or k.startswith("only ")) and isinstance(v, float)))  # fmt: skip
    return out


def table(results: dict, variants) -> str:
    cols = [v for v in variants if v != "abstain"]
    lines = [f"{'held out':14s} {'posts':>6s} " + " ".join(f"{c:>9s}" for c in cols)]
    for lang, all_folds in results.items():
        folds = {k: r for k, r in all_folds.items() if "base" in r}
        for held, r in all_folds.items():
            if "base" not in r:
                lines.append(f"{lang + ' ' + held:14s} {r['posts']:6d}   not scored: the other "
                             "corpora lack a mood")  # fmt: skip
                continue
            lines.append(f"{lang + ' ' + held:14s} {r['posts']:6d} "
                         + " ".join(f"{r[c]:9.3f}" for c in cols))  # fmt: skip
        lines.append(f"{lang + ' mean':14s} {'':6s} " + " ".join(
            f"{np.mean([r[c] for r in folds.values()]):9.3f}" for c in cols))  # fmt: skip
    if "abstain" in variants:
        lines.append(
            "\nbase at the shipped thresholds: precision of happy/sad/angry labels, "
            "coverage of emotional posts, macro-F1 with unclear as a miss"
        )
        for lang, folds in results.items():
            for held, r in folds.items():
                if "abstain" not in r:
                    continue
                a = r["abstain"]
                lines.append(f"{lang + ' ' + held:14s} th {a['threshold']:.3f} precision "
                             f"{a['precision']:.3f} coverage {a['coverage']:.3f} "
                             f"F1 {a['f1_at_threshold']:.3f}")  # fmt: skip
    rows = [(f"{lang} {held}", r["thresholds"]) for lang, folds in results.items()
            for held, r in folds.items() if "thresholds" in r]  # fmt: skip
    if rows:
        lines.append(
            f"\nabstention threshold chosen on the training corpora for precision "
            f"{TARGET} (each corpus once), scored on the held-out corpus:"
        )
        for name, t in rows:
            lines.append(f"{name:14s} " + "; ".join(
                f"{how} {v['threshold']:.3f}: precision {v['precision']:.3f}, coverage "
                f"{v['coverage']:.3f}" for how, v in t.items()))  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    ap.add_argument("--variants", nargs="+", default=["base", "prior", "abstain"],
                    choices=VARIANTS)  # fmt: skip
    ap.add_argument("--held", nargs="+", help="only these held-out corpora")
    ap.add_argument("--self-threshold", type=float, default=0.6)
    ap.add_argument("--self-weight", type=float, default=0.5)
    ap.add_argument("--alpha", type=float, help="SGD L2 strength (default: the shipped one)")
    ap.add_argument("--ngrams", type=int, nargs=2, help="Chinese char n-gram range")
    ap.add_argument("--min-df", type=int, help="Chinese char n-gram min_df")
    ap.add_argument("--no-twin", action="store_true", help="plain regression only")
    ap.add_argument(
        "--travel",
        nargs="+",
        default=[],
        choices=("topics", "digits", "nfkc"),
        help="normalisation that may travel: drop #topic# tags, digits as 0, NFKC",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.travel:
        travel_normalise(args.travel)
    results: dict = {}
    for lang in args.lang:
        corpora = load(lang)
        print(f"{lang}: " + ", ".join(f"{k} {len(v)}" for k, v in corpora.items()), flush=True)
        results[lang] = {}
        for held in corpora:
            if args.held and held not in args.held:
                continue
            fold = Fold(lang, corpora, held)
            fold.alpha = args.alpha or fold.alpha
            fold.twin = not args.no_twin
            if lang == "zh" and (args.ngrams or args.min_df):
                b = fold.blocks[0]
                fold.blocks = (
                    Block("char", tuple(args.ngrams or b.ngrams), args.min_df or b.min_df),
                )
            results[lang][held] = run_fold(fold, args.variants,
                                           args.self_threshold, args.self_weight,
                                           lambda s: print(s, flush=True))  # fmt: skip
    print()
    print(table(results, args.variants))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results}, indent=1) + "\n",
                             encoding="utf-8")  # fmt: skip


if __name__ == "__main__":
    main()
