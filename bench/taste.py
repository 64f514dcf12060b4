"""Taste model speed: build (post mood -> equation 1 -> Tucker -> track neighbours) and
evaluation (Spearman against the planted tastes) for 1k and 100k simulated users.

Each size runs in its own process so the memory peak (``ru_maxrss``) is its own. Users are
generated vectorised (same model as ``taste simulate``: planted tastes, real NLPCC posts
from the held-out half, sessions around most posts) because the reference simulator's
per-play Python loop, not the pipeline, would dominate at 100k users.

    .venv/bin/python -m bench.taste [--users 1000 100000] [--posts 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def synth(n_users: int, posts_per_user: int, seed: int = 0):
    """Posts and listens for ``n_users`` planted users, vectorised."""
    from device.shared.genres import GENRES
    from device.shared.moods import MOODS
    from trainer.taste.mood.corpora import read_nlpcc
    from trainer.taste.records import Listen, Post
    from trainer.taste.simulate import planted_tastes, session_gaps

    rng = np.random.default_rng(seed)
    corpus = read_nlpcc(DATA / "nlpcc2014_weibo_emotion")[1::2]
    by_mood = [[p.text for p in corpus if p.mood == m] for m in MOODS]
    gap = float(np.median(session_gaps(DATA / "lastfm1k_subset")))
    truth = planted_tastes(n_users, rng)
    n_posts = n_users * posts_per_user
    user = np.repeat(np.arange(n_users), posts_per_user)
    mix = rng.dirichlet(np.ones(len(MOODS)) * 2, size=n_users)
    mood = (rng.random(n_posts)[:, None] > np.cumsum(mix, axis=1)[user]).sum(axis=1)
    mood = np.minimum(mood, len(MOODS) - 1)
    clock = 1.7e9 + np.cumsum(rng.exponential(6 * 3600, n_posts))
    pick = rng.random(n_posts)
    posts = [Post(f"u{u}", float(t), by_mood[m][int(p * len(by_mood[m]))])
             for u, t, m, p in zip(user, clock, mood, pick, strict=True)]  # fmt: skip
    plays = np.where(rng.random(n_posts) < 0.8, rng.integers(2, 9, n_posts), 0)
    p_of = np.repeat(np.arange(n_posts), plays)
    pref = truth[user[p_of], mood[p_of]]  # (L, G)
    probs = np.exp(pref / 1.2)
    cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    genre = np.minimum((rng.random(p_of.size)[:, None] > cdf).sum(axis=1), len(GENRES) - 1)
    liked = pref[np.arange(p_of.size), genre]
    dur = rng.uniform(150, 330, p_of.size)
    heard = dur * np.clip(rng.beta(1 + liked, 1 + (10 - liked) / 2), 0.05, 1)
    step = np.concatenate([[0], np.cumsum(plays)[:-1]])
    k = np.arange(p_of.size) - step[p_of]
    start = clock[p_of] + rng.uniform(-25, 10, n_posts)[p_of] * 60 + k * (240 + 0.2 * gap)
    track = rng.integers(40, size=p_of.size)
    listens = [
        Listen(f"u{user[p]}", f"{GENRES[g]}-{t:03d}", GENRES[g], float(s), float(s + h), float(d))
        for p, g, t, s, h, d in zip(p_of, genre, track, start, heard, dur, strict=True)
    ]
    users = tuple(f"u{i}" for i in range(n_users))
    return posts, listens, users, truth


def one(n_users: int, posts_per_user: int) -> dict:
    from trainer.taste.build import BuildConfig, build_artifact, classify_posts
    from trainer.taste.evalsim import spearman_per_slice

    t0 = time.perf_counter()
    posts, listens, users, truth = synth(n_users, posts_per_user)
    t1 = time.perf_counter()
    cfg = BuildConfig()
    mood_posts, _ = classify_posts(posts, cfg.min_confidence)
    t2 = time.perf_counter()
    art = build_artifact(mood_posts, listens, cfg, {})
    t3 = time.perf_counter()
    pos = {u: i for i, u in enumerate(users)}
    built = [str(u) for u in art.arrays["users"]]
    rho = spearman_per_slice(art.arrays["preferences"], truth[[pos[u] for u in built]])
    t4 = time.perf_counter()
    return {
        "users": n_users, "posts": len(posts), "listens": len(listens),
        "generate_s": round(t1 - t0, 2), "post_mood_s": round(t2 - t1, 2),
        "eq1_tucker_tracks_s": round(t3 - t2, 2), "build_s": round(t3 - t1, 2),
        "evaluate_s": round(t4 - t3, 2), "tucker_iterations": art.info["tucker_iterations"],
        "spearman": round(float(rho.mean()), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--posts", type=int, default=20, help="posts per user")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.users[0], args.posts)))
        return 0
    rows = []
    for n in args.users:
        out = subprocess.run(
            [sys.executable, "-m", "bench.taste", "--one", "--users", str(n),
             "--posts", str(args.posts)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|---" * len(keys) + "|")
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
