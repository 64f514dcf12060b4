"""Post mood in the pipeline and its speed, printed side by side.

``--sim``: ``taste simulate`` (users x posts per user, mood share 0.5, seed 0) with posts
from NLPCC 2014's odd rows and from SMP2020-EWECT's test splits (neither fitted on), each
scored against the planted tastes (Spearman per user and mood; ``evalsim``), next to the
same pipeline fed the true post moods. ``--speed``: loading the shipped models and
classifying posts of each language in one batch (SMP usual test, GoEmotions test, twice),
per second of wall time and per second of this process's CPU time.

    .venv/bin/python -m bench.post_mood --sim --speed [--users 300]
    .venv/bin/python -m bench.post_mood --thresholds 0 0.4 0.525 \
        --users 200 --seed 1 2 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"

SOURCES = {"nlpcc": DATA / "nlpcc2014_weibo_emotion", "smp": DATA / "smp2020_ewect"}


def pipeline(
    posts_from: str, users: int, posts_per_user: int, seed: int, thresholds=(None,)
) -> list[dict]:
    """One simulated set, scored with each post-mood threshold (None: the pipeline's)."""
    from trainer.taste.build import BuildConfig
    from trainer.taste.evalsim import simulated_ratings, spearman_report
    from trainer.taste.simulate import simulate, write_simulation

    source = SOURCES["nlpcc" if posts_from == "nlpcc" else "smp"]
    sim = simulate(source, DATA / "lastfm1k_subset", users, posts_per_user,
                   seed=seed, mood_share=0.5, posts_from=posts_from)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        write_simulation(sim, Path(tmp))
        return [spearman_report(simulated_ratings(Path(tmp), BuildConfig(min_confidence=th)))
                for th in thresholds]  # fmt: skip


def row(label: str, r: dict) -> str:
    per = r["pipeline"]["per_mood"]
    hsa = (per["happy"] + per["sad"] + per["angry"]) / 3
    return (f"{label:12s} {r['pipeline']['mean']:9.3f} {per['happy']:7.3f} {per['sad']:7.3f} "
            f"{per['angry']:7.3f} {per['neutral']:7.3f} {hsa:7.3f} "
            f"{r['pipeline_true_post_moods']['mean']:10.3f}")  # fmt: skip


def speed() -> dict:
    from trainer.taste.mood import PostMoodClassifier
    from trainer.taste.mood.corpora import read_corpus

    t0 = time.perf_counter()
    clf = PostMoodClassifier()
    out = {"load_s": time.perf_counter() - t0}
    for name, corpus, split in (("zh", "smp", "usual_test"), ("en", "goemotions", "test")):
        root = SOURCES.get(corpus, DATA / corpus)
        texts = [p.text for p in read_corpus(corpus, root, split)] * 2
        t0, c0 = time.perf_counter(), time.process_time()
        clf.classify_many(texts)
        out[f"{name}_posts_per_s"] = len(texts) / (time.perf_counter() - t0)
        out[f"{name}_posts_per_cpu_s"] = len(texts) / (time.process_time() - c0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--posts", type=int, default=60)
    ap.add_argument("--seed", type=int, nargs="+", default=[0],
                    help="simulation seeds (--sim: the first)")  # fmt: skip
    ap.add_argument("--thresholds", type=float, nargs="+", metavar="T",
                    help="validation: pipeline with these post-mood thresholds on users "
                    "posting SMP's eval splits")  # fmt: skip
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result: dict = {}
    if args.speed:
        result["speed"] = s = speed()
        print(f"load {s['load_s']:.2f} s; posts per second (per CPU second, what the shared "
              f"machine's load does not change): zh {s['zh_posts_per_s']:.0f} "
              f"({s['zh_posts_per_cpu_s']:.0f}), en {s['en_posts_per_s']:.0f} "
              f"({s['en_posts_per_cpu_s']:.0f})")  # fmt: skip
    if args.sim or args.thresholds:
        print(f"{'posts from':12s} {'pipeline':>9s} {'happy':>7s} {'sad':>7s} {'angry':>7s} "
              f"{'neutral':>7s} {'h/s/a':>7s} {'true moods':>10s}")  # fmt: skip
    if args.sim:
        for posts_from in SOURCES:
            result[posts_from] = r = pipeline(posts_from, args.users, args.posts, args.seed[0])[0]
            print(row(posts_from, r), flush=True)
    for seed in args.seed if args.thresholds else ():
        print(f"validation: posts from SMP's eval splits, {args.users} users, seed {seed}")
        runs = pipeline("smp-eval", args.users, args.posts, seed, args.thresholds)
        for th, r in zip(args.thresholds, runs, strict=True):
            result[f"smp-eval seed {seed} threshold {th}"] = r
            print(row(f"threshold {th}", r), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
