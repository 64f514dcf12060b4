"""Taste build at scale: seconds and peak RSS of the columnar build (post moods -> equation
1 with relabelling -> Tucker -> track neighbours) for 100k and 1M simulated users, listens
streamed from an SQLite ingest store; at 1k users also the list-based build on the same
data, whose per-user predictions the columnar ones must match to 1e-4.

Users (planted tastes as ``taste simulate``, real NLPCC posts from the held-out half,
sessions around most posts) are made in blocks of people, so 1M users never exist as
records. Activity is today's bench's, heavy-tailed across people: 20 posts each, 80% of
posts followed by 2-8 plays, that count scaled per person by a lognormal factor (sigma 0.8,
mean 1, at most 20x): about 80 listens a person, a few people with hundreds.

Per size, one process fills the store once (ingest schema, ``trainer.sync.store``; cached
in ``--cache`` by size and seed, its time reported apart as ``fill_s``) and writes the
posts (person, time, text index) and the planted tastes beside it; a second process times
the build: every post's text classified (repeated texts once, as ``taste build`` does),
listens read from the store in ``fetchmany`` chunks into columns, then
``build.build_columns``. ``peak_rss_mb`` is that process's ``ru_maxrss``.

    .venv/bin/python -m bench.taste [--users 1000 100000 1000000] [--posts 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "moodspeaker-bench-taste"
BLOCK = 50_000  # people generated at once
MATCH_TOL = 1e-4


def _corpus() -> tuple[list[str], np.ndarray]:
    """The held-out half of NLPCC: texts and their moods (index into MOODS)."""
    from device.shared.moods import MOODS
    from trainer.taste.mood.corpora import read_nlpcc

    corpus = [p for p in read_nlpcc(DATA / "nlpcc2014_weibo_emotion")[1::2] if p.mood in MOODS]
    return [p.text for p in corpus], np.array([MOODS.index(p.mood) for p in corpus])


def synth_block(first: int, truth: np.ndarray, by_mood: list[np.ndarray], gap: float,
                posts_per_user: int, seed: int) -> tuple[dict, dict]:  # fmt: skip
    """Posts and listens (as columns) for people ``first`` .. ``first + len(truth)``."""
    from device.shared.genres import GENRES
    from device.shared.moods import MOODS

    rng = np.random.default_rng([seed, first])
    n_users = len(truth)
    n_posts = n_users * posts_per_user
    user = np.repeat(np.arange(n_users), posts_per_user)
    mix = rng.dirichlet(np.ones(len(MOODS)) * 2, size=n_users)
    mood = (rng.random(n_posts)[:, None] > np.cumsum(mix, axis=1)[user]).sum(axis=1)
    mood = np.minimum(mood, len(MOODS) - 1)
    begin = 1.7e9 + rng.uniform(0, 365 * 86400, n_users)
    clock = begin[user] + np.cumsum(rng.exponential(6 * 3600, (n_users, posts_per_user)),
                                    axis=1).ravel()  # fmt: skip
    pick = rng.random(n_posts)
    text = np.empty(n_posts, dtype=np.int32)
    for m in range(len(MOODS)):
        here = mood == m
        text[here] = by_mood[m][(pick[here] * len(by_mood[m])).astype(int)]
    activity = np.minimum(rng.lognormal(-0.32, 0.8, n_users), 20.0)  # mean 1, heavy tail
    plays = np.where(rng.random(n_posts) < 0.8, rng.integers(2, 9, n_posts), 0)
    plays = np.where(plays > 0, np.maximum(1, np.rint(plays * activity[user])), 0).astype(int)
    p_of = np.repeat(np.arange(n_posts), plays)
    pref = truth[user[p_of], mood[p_of]]  # (L, G)
    probs = np.exp(pref / 1.2)
    cdf = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    genre = np.minimum((rng.random(p_of.size)[:, None] > cdf).sum(axis=1), len(GENRES) - 1)
    liked = pref[np.arange(p_of.size), genre]
    del pref, probs, cdf
    dur = rng.uniform(150, 330, p_of.size)
    heard = dur * np.clip(rng.beta(1 + liked, 1 + (10 - liked) / 2), 0.05, 1)
    step = np.concatenate([[0], np.cumsum(plays)[:-1]])
    k = np.arange(p_of.size) - step[p_of]
    start = clock[p_of] + rng.uniform(-25, 10, n_posts)[p_of] * 60 + k * (240 + 0.2 * gap)
    track = rng.integers(40, size=p_of.size)
    posts = {"user": (first + user).astype(np.int32), "time": clock, "text": text}
    listens = {"user": first + user[p_of], "genre": genre, "track": track, "start": start,
               "end": start + heard, "duration": dur}  # fmt: skip
    return posts, listens


def _planted(n_users: int, seed: int) -> np.ndarray:
    from trainer.taste.simulate import planted_tastes

    return planted_tastes(n_users, np.random.default_rng(seed))


# Another service's play as an ingest row: mood not seen ("unknown"), so it is no speaker
# evidence and counts through the posts around it; one speaker per person.
_STAGE = "CREATE TEMP TABLE stage (u INTEGER, g INTEGER, t INTEGER, s REAL, e REAL, d REAL)"
_FROM_STAGE = """INSERT INTO listens ({columns})
SELECT printf('s%07d', u), printf('e%010d', {seq0} + stage.rowid), 'u' || u,
       genres.name || printf('-%03d', t), '', genres.name, 'unknown', 0.0, s, e, e - s, d,
       'completed', 0.0, NULL, NULL, 'end', {seq0} + stage.rowid, e
FROM stage JOIN genres ON genres.i = stage.g ORDER BY stage.rowid"""


def fill(n_users: int, posts_per_user: int, seed: int, folder: Path) -> dict:
    """The store (ingest schema) and the posts for ``n_users``; returns counts and time."""
    from device.shared.genres import GENRES
    from trainer.sync.store import STORED, ListenStore

    texts, moods = _corpus()
    by_mood = [np.flatnonzero(moods == m) for m in range(4)]
    from trainer.taste.simulate import session_gaps

    gap = float(np.median(session_gaps(DATA / "lastfm1k_subset")))
    truth = _planted(n_users, seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "store.sqlite3"
    path.unlink(missing_ok=True)
    ListenStore(path).close()  # the real schema, migrations applied
    db = sqlite3.connect(path, isolation_level=None)
    # filling, not ingesting: no journal, no fsync; the build reads the file read-only
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    db.execute("DROP INDEX IF EXISTS listens_started")  # a full scan reads no index
    db.execute(_STAGE)
    db.execute("CREATE TEMP TABLE genres (i INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO genres VALUES (?, ?)", enumerate(GENRES))
    columns = ", ".join(f'"{c}"' for c in STORED)
    t0 = time.perf_counter()
    posts: dict[str, list[np.ndarray]] = {"user": [], "time": [], "text": []}
    n_listens = 0
    for first in range(0, n_users, BLOCK):
        p, ls = synth_block(first, truth[first : first + BLOCK], by_mood, gap, posts_per_user,
                            seed)  # fmt: skip
        for key in posts:
            posts[key].append(p[key])
        db.execute("BEGIN")
        db.executemany("INSERT INTO stage VALUES (?, ?, ?, ?, ?, ?)", zip(
            ls["user"].tolist(), ls["genre"].tolist(), ls["track"].tolist(),
            ls["start"].tolist(), ls["end"].tolist(), ls["duration"].tolist(), strict=True))
        db.execute(_FROM_STAGE.format(columns=columns, seq0=n_listens - 1))
        db.execute("DELETE FROM stage")
        db.execute("COMMIT")
        n_listens += len(ls["user"])
    db.execute("PRAGMA journal_mode = WAL")  # as the ingest leaves it
    db.close()
    np.savez(folder / "posts.npz", truth=truth, texts=np.array(texts),
             **{k: np.concatenate(v) for k, v in posts.items()})  # fmt: skip
    info = {"listens": n_listens, "fill_s": round(time.perf_counter() - t0, 1),
            "store_mb": round(path.stat().st_size / 2**20)}  # fmt: skip
    (folder / "done.json").write_text(json.dumps(info))
    return info


def run_build(folder: Path, check_match: bool, in_memory: tuple[int, int, int] | None = None
              ) -> dict:  # fmt: skip
    """Time the build from the filled ``folder``; with ``check_match`` also the list-based
    build on the same data, and the largest difference in per-user predictions.
    ``in_memory`` (users, posts per user, seed): the same people made in this process, the
    store not read (``read_store_s`` is then null)."""
    from device.shared.moods import MOODS
    from trainer.taste import columns, store_columns
    from trainer.taste.build import BuildConfig, build_artifact, build_columns
    from trainer.taste.evalsim import spearman_per_slice
    from trainer.taste.mood import PostMoodClassifier

    cfg = BuildConfig()
    made = None
    if in_memory:
        saved, texts, truth, made = synth_columns(*in_memory)
    else:
        saved = dict(np.load(folder / "posts.npz"))
        texts, truth = saved["texts"].tolist(), saved["truth"]
    post_user, post_time, post_text = saved["user"], saved["time"], saved["text"]
    n_users = len(truth)
    t0 = time.perf_counter()
    # every post classified as `taste build` does (build.classify_each): a text once
    used = np.unique(post_text)
    classifier = PostMoodClassifier(min_confidence=cfg.post_min_confidence())
    results = classifier.classify_many([texts[i] for i in used])
    table = np.array([[r.probabilities[m] for m in MOODS] if r.mood else [0.0] * len(MOODS)
                      for r in results])  # fmt: skip
    mood = np.array([MOODS.index(r.mood) if r.mood else -1 for r in results], dtype=np.int8)
    row_of = np.full(len(texts), -1, dtype=np.int32)
    row_of[used] = np.arange(len(used))
    rows = row_of[post_text]
    clear = mood[rows] >= 0
    t1 = time.perf_counter()
    names = columns.Names(f"u{i}" for i in range(n_users))
    if made is not None:
        listens = made
    else:
        # the people file: person u5's listener on their speaker (importers: user@device)
        people = {f"u{i}@s{i:07d}": f"u{i}" for i in range(n_users)}
        listens = store_columns.read_store(folder / "store.sqlite3", names, listeners=people)
        del people
    t2 = time.perf_counter()
    users, remap = names.sorted_remap()
    listens.user = remap[listens.user]
    posts = columns.PostColumns(remap[post_user[clear]], post_time[clear], mood[rows[clear]],
                                rows[clear], table)  # fmt: skip
    n_listens = len(listens)
    logging.getLogger("bench.taste").info(
        "classified %d texts in %.1f s; read %d listens in %.1f s, peak RSS %.0f MB",
        len(used), t1 - t0, n_listens, t2 - t1,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # fmt: skip
    art = build_columns(posts, listens, users, cfg, {})
    t3 = time.perf_counter()
    del posts, listens
    rho = spearman_per_slice(art.arrays["preferences"][remap], truth)  # remap[i]: u{i}'s row
    row = {
        "users": n_users, "posts": len(post_user), "listens": n_listens,
        "texts_classified": len(used), "post_mood_s": round(t1 - t0, 2),
        "read_store_s": None if made is not None else round(t2 - t1, 2),
        "eq1_tucker_tracks_s": round(t3 - t2, 2),
        "build_s": round(t3 - t0, 2), "tucker_iterations": art.info["tucker_iterations"],
        "spearman": round(float(rho.mean()), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }  # fmt: skip
    if check_match:
        row["match_max_abs"] = _match(art, folder, texts, results, saved, cfg, build_artifact)
    return row


def _match(art, folder: Path, texts, results, saved, cfg, build_artifact) -> float:
    """The list-based build (``columnar=False``) on the same posts and store rows; the
    largest absolute difference between the two per-user predictions."""
    from trainer.taste.build import mood_posts_of
    from trainer.taste.records import Listen, Post

    by_text = dict(zip(np.unique(saved["text"]).tolist(), results, strict=True))
    posts = [Post(f"u{u}", float(t), texts[i])
             for u, t, i in zip(saved["user"], saved["time"], saved["text"], strict=True)]
    mood_posts, _ = mood_posts_of(posts, [by_text[int(i)] for i in saved["text"]])
    db = sqlite3.connect(folder / "store.sqlite3")
    listens = [Listen(u, t, g, s, e, d, m, c, r, b) for u, t, g, s, e, d, m, c, r, b in db.execute(
        'SELECT "user", track_id, genre, started_at, ended_at, duration_s, mood, '
        "mood_confidence, end_reason, ended_by FROM listens")]  # fmt: skip
    db.close()
    old = build_artifact(mood_posts, listens, cfg, {}, columnar=False)
    if not np.array_equal(old.arrays["users"], art.arrays["users"]):
        return float("inf")
    return float(np.abs(old.arrays["preferences"] - art.arrays["preferences"]).max())


def synth_columns(n_users: int, posts_per_user: int, seed: int):
    """The same people as ``fill`` writes, straight into columns (no store): for a build
    whose store this machine cannot fill in time (``--in-memory``)."""
    from device.shared.genres import GENRES
    from trainer.taste import columns
    from trainer.taste.simulate import session_gaps

    texts, moods = _corpus()
    by_mood = [np.flatnonzero(moods == m) for m in range(4)]
    gap = float(np.median(session_gaps(DATA / "lastfm1k_subset")))
    truth = _planted(n_users, seed)
    posts: dict[str, list[np.ndarray]] = {"user": [], "time": [], "text": []}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("user", "track", "genre", "start",
                                                          "heard")}  # fmt: skip
    for first in range(0, n_users, BLOCK):
        p, ls = synth_block(first, truth[first : first + BLOCK], by_mood, gap, posts_per_user,
                            seed)  # fmt: skip
        for key in posts:
            posts[key].append(p[key])
        parts["user"].append(ls["user"].astype(np.int32))
        parts["track"].append((ls["genre"] * 40 + ls["track"]).astype(np.int32))
        parts["genre"].append(ls["genre"].astype(np.int8))
        parts["start"].append(ls["start"])
        parts["heard"].append((ls["end"] - ls["start"]) / ls["duration"])
        del p, ls
    cat = {}
    for key in list(parts):  # one column's blocks joined and dropped at a time
        cat[key] = np.concatenate(parts.pop(key))
    tracks = tuple(f"{g}-{t:03d}" for g in GENRES for t in range(40))
    order = np.argsort(np.array(tracks))
    remap = np.empty(len(tracks), dtype=np.int32)
    remap[order] = np.arange(len(tracks), dtype=np.int32)
    listens = columns.ListenColumns(
        cat["user"], remap[cat["track"]], cat["genre"], cat["start"], cat["heard"],
        np.ones(len(cat["user"]), dtype=bool), tuple(np.array(tracks)[order].tolist()))
    return ({k: np.concatenate(v) for k, v in posts.items()}, texts, truth, listens)


def one(n_users: int, posts_per_user: int, seed: int, cache: Path, match: bool) -> dict:
    folder = cache / f"u{n_users}-p{posts_per_user}-s{seed}"
    done = folder / "done.json"
    if done.exists():
        filled = json.loads(done.read_text())
    else:
        filled = _child(["--fill"], n_users, posts_per_user, seed, cache)
    built = _child(["--build"] + (["--match"] if match else []), n_users, posts_per_user,
                   seed, cache)  # fmt: skip
    return {**built, "fill_s": filled["fill_s"], "store_mb": filled["store_mb"]}


def _child(flags: list[str], n: int, posts: int, seed: int, cache: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.taste", *flags, "--users", str(n), "--posts", str(posts),
         "--seed", str(seed), "--cache", str(cache)],
        stdout=subprocess.PIPE, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--posts", type=int, default=20, help="posts per user")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the stores are kept")
    parser.add_argument("--fill", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--match", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--in-memory", action="store_true",
                        help="no store: people made in the build's process (build only)")
    args = parser.parse_args()
    folder = args.cache / f"u{args.users[0]}-p{args.posts}-s{args.seed}"
    if args.fill:
        print(json.dumps(fill(args.users[0], args.posts, args.seed, folder)))
        return 0
    if args.build:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(message)s")  # fmt: skip
        made = (args.users[0], args.posts, args.seed) if args.in_memory else None
        print(json.dumps(run_build(folder, args.match, made)))
        return 0
    rows = []
    for n in args.users:
        rows.append(one(n, args.posts, args.seed, args.cache, match=n <= 1000))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    print("| " + " | ".join(keys) + " |")
    print("|---" * len(keys) + "|")
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    matched = [r["match_max_abs"] for r in rows if "match_max_abs" in r]
    last = rows[-1]
    tail = ""
    if matched:
        tail = f" match_1k_max_abs={matched[0]:.3g} match_ok={matched[0] <= MATCH_TOL}"
    print(f"users={last['users']} build_s={last['build_s']} peak_rss_mb={last['peak_rss_mb']}"
          f" listens={last['listens']}{tail}")  # fmt: skip
    return 0 if not matched or matched[0] <= MATCH_TOL else 1


if __name__ == "__main__":
    sys.exit(main())
