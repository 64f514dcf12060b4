"""Post mood model choices, on validation data only, printed side by side.

Every model is ``fit.fit_model``'s (plain and naive-Bayes-scaled logistic regression
averaged) unless its row says "no NB twin". Chinese: fitted on NLPCC 2014's even rows
(less a quarter held out) plus SMP2020 train; macro-F1 on SMP's usual and virus eval
splits and the held-out quarter; then carry-over from one corpus to the other (fit on SMP
train, score NLPCC's even rows; fit on NLPCC's even rows, score SMP's eval splits).
English: fitted on GoEmotions train, scored on dev, with the classification speed. The
code-switching set and every test split stay unread.

    .venv/bin/python -m bench.post_mood_choices [--jieba --dutir --mixed --extras-only]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from trainer.taste.mood.corpora import read_corpus
from trainer.taste.mood.features import CLASSES, Block
from trainer.taste.mood.fit import ROOTS, fit_model, held_out_texts, normalise

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def load(corpus: str, split: str, held: set[str] | None = None):
    posts = read_corpus(corpus, DATA / ROOTS[corpus], split)
    return [p for p in posts if held is None or normalise(p.text) not in held]


def f1(model, posts) -> float:
    pred = model.probabilities([p.text for p in posts]).argmax(axis=1)
    return f1_score([CLASSES.index(p.mood) for p in posts], pred, average="macro")


def fit(posts, blocks, alpha, nb_twin=True):
    return fit_model([p.text for p in posts], [p.mood for p in posts], blocks, alpha,
                     nb_twin=nb_twin)  # fmt: skip


def chinese(jieba: bool, dutir: bool, mixed: bool, base: bool) -> None:
    held = held_out_texts(DATA)
    nlpcc, smp = load("nlpcc", "fit", held), load("smp", "train", held)
    quarter = np.random.default_rng(0).permutation(len(nlpcc)) % 4 == 0
    valid = {
        "smp usual_eval": load("smp", "usual_eval"),
        "smp virus_eval": load("smp", "virus_eval"),
        "nlpcc 1/4 even": [p for p, q in zip(nlpcc, quarter, strict=True) if q],
    }
    train = [p for p, q in zip(nlpcc, quarter, strict=True) if not q] + smp
    both_eval = valid["smp usual_eval"] + valid["smp virus_eval"]
    variants = [("char 1-3, min_df 3", (Block("char", (1, 3), 3),), 1e-5),
                ("char 1-3, min_df 3, no NB twin", (Block("char", (1, 3), 3),), 1e-5),
                ("char 1-3, min_df 3, alpha 3e-5", (Block("char", (1, 3), 3),), 3e-5),
                ("char 1-3, min_df 2", (Block("char", (1, 3), 2),), 1e-5),
                ("char 1-2, min_df 2", (Block("char", (1, 2), 2),), 1e-5),
                ("char 1-4, min_df 3", (Block("char", (1, 4), 3),), 1e-5)]  # fmt: skip
    print(f"{'Chinese':34s} {' '.join(f'{k:>15s}' for k in valid)} {'smp->nlpcc':>11s} "
          f"{'nlpcc->smp':>11s} {'features':>9s}")  # fmt: skip
    for name, blocks, alpha in variants if base else []:
        twin = "no NB twin" not in name
        model = fit(train, blocks, alpha, twin)
        scores = " ".join(f"{f1(model, v):15.3f}" for v in valid.values())
        a = f1(fit(smp, blocks, alpha, twin), nlpcc)
        b = f1(fit(nlpcc, blocks, alpha, twin), both_eval)
        print(f"{name:34s} {scores} {a:11.3f} {b:11.3f} {model.coef.shape[1]:9d}", flush=True)
    if jieba:
        segmented(train, valid)
    if dutir:
        lexicon_block(train, valid)
    if mixed:
        english_inside(train, valid)


def segmented(train, valid) -> None:
    """Character 1-3-grams plus jieba word 1-2-grams (a second block of tokens)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)

    def seg(posts):
        return [type(p)(p.id, " ".join(jieba.lcut(p.text)), p.mood) for p in posts]

    blocks = (Block("char", (1, 3), 3), Block("word", (1, 2), 2))
    t0 = time.perf_counter()
    model = fit(seg(train), blocks, 1e-5)
    scores = " ".join(f"{f1(model, seg(v)):15.3f}" for v in valid.values())
    print(f"{'+ jieba words 1-2':34s} {scores}  ({time.perf_counter() - t0:.0f} s with segmenting)")


def lexicon_block(train, valid) -> None:
    """Character 1-3-grams plus the DUTIR lexicon: per fine category (21), log1p of how
    many of its words (1-4 characters) the post contains, scaled by 0.1 or 0.3."""
    import pandas as pd
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import SGDClassifier

    from trainer.taste.mood.features import fit_vectorisers

    table = pd.read_csv(DATA / "dutir_lexicon" / "dutir_affective_lexicon.csv",
                        keep_default_na=False, dtype=str)  # fmt: skip
    words: dict[str, str] = {}
    for w, c in zip(table["词语"].str.strip(), table["情感分类"].str.strip(), strict=True):
        if 1 <= len(w) <= 4 and c:
            words.setdefault(w, c)
    cats = sorted(set(words.values()))
    vocab = {w: i for i, w in enumerate(words)}
    to_cat = sparse.csr_matrix(
        (np.ones(len(words)), (range(len(words)), [cats.index(c) for c in words.values()])),
        shape=(len(words), len(cats)),
    )
    counter = CountVectorizer(analyzer="char", ngram_range=(1, 4), vocabulary=vocab,
                              lowercase=False)  # fmt: skip

    def lex(posts):
        counts = counter.transform([normalise(p.text) for p in posts]) @ to_cat
        return sparse.csr_matrix(np.log1p(counts.toarray()))

    vecs, x = fit_vectorisers((Block("char", (1, 3), 3),), [p.text for p in train])
    y = np.array([CLASSES.index(p.mood) for p in train])

    def ngrams(posts):
        return sparse.hstack([v.transform([normalise(p.text) for p in posts]) for v in vecs])

    for scale in (0.1, 0.3):
        sgd = SGDClassifier(loss="log_loss", alpha=1e-5, class_weight="balanced", max_iter=30,
                            tol=None, random_state=0)  # fmt: skip
        sgd.fit(sparse.hstack([x, scale * lex(train)]).tocsr(), y)
        scores = []
        for posts in valid.values():
            pred = sgd.predict(sparse.hstack([ngrams(posts), scale * lex(posts)]).tocsr())
            truth = [CLASSES.index(p.mood) for p in posts]
            scores.append(f"{f1_score(truth, pred, average='macro'):15.3f}")
        print(f"{f'+ DUTIR categories x {scale}':34s} {' '.join(scores)}", flush=True)


def english_inside(train, valid) -> None:
    """GoEmotions train added to the Chinese model's posts, so that the English words of
    mixed posts (routed to it) mean something to it; also scored on GoEmotions dev."""
    dev = load("goemotions", "dev")
    for name, posts in (("char 1-3 (again)", train),
                        ("+ GoEmotions train", train + load("goemotions", "train"))):  # fmt: skip
        model = fit(posts, (Block("char", (1, 3), 3),), 1e-5)
        scores = " ".join(f"{f1(model, v):15.3f}" for v in valid.values())
        print(f"{name:34s} {scores}   GoEmotions dev {f1(model, dev):.3f}", flush=True)


def english() -> None:
    train, dev = load("goemotions", "train"), load("goemotions", "dev")
    print(f"\n{'English':34s} {'goemotions dev':>15s} {'features':>9s} {'posts/s':>8s}")
    word = Block("word", (1, 2), 2)
    for name, blocks in [("words 1-2 + char_wb 3-4, no NB twin",
                          (word, Block("char_wb", (3, 4), 3))),
                         ("words 1-2 + char_wb 2-5", (word, Block("char_wb", (2, 5), 3))),
                         ("words 1-2 + char_wb 3-5", (word, Block("char_wb", (3, 5), 3))),
                         ("words 1-2 + char_wb 3-4", (word, Block("char_wb", (3, 4), 3))),
                         ("words 1-2", (word,)),
                         ("words 1-3", (Block("word", (1, 3), 2),))]:  # fmt: skip
        model = fit(train, blocks, 3e-5, "no NB twin" not in name)
        texts = [p.text for p in dev] * 2
        t0 = time.perf_counter()
        model.probabilities(texts)
        speed = len(texts) / (time.perf_counter() - t0)
        width = model.coef.shape[1]
        print(f"{name:34s} {f1(model, dev):15.3f} {width:9d} {speed:8.0f}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jieba", action="store_true", help="also try jieba word n-grams (slow)")
    ap.add_argument("--dutir", action="store_true", help="also try DUTIR category counts")
    ap.add_argument("--mixed", action="store_true", help="also try GoEmotions in Chinese")
    ap.add_argument("--extras-only", action="store_true", help="only the --jieba/--dutir rows")
    args = ap.parse_args()
    chinese(args.jieba, args.dutir, args.mixed, base=not args.extras_only)
    if not args.extras_only:
        english()
