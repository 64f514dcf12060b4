"""Music-mood benchmarks: speed of features and scans, and what the picker plays per mood.

    .venv/bin/python -m bench.music_mood
        speed, latency and e2e below, one after the other (what ``bootstrap.sh bench`` runs)

    .venv/bin/python -m bench.music_mood speed [--tracks 1000]
        features and scoring per track (real clips: 4Q re-encodes and full-quality Emotify
        files), then a whole scan of a library of N tracks (symlinks to real clips in genre
        folders) with the mood features against without, side by side, pinned to one core;
        and a rescan (everything cached).
    .venv/bin/python -m bench.music_mood picks --oof /tmp/music_mood_oof.npz [--n 200]
        the 4Q clips as a library (AllMusic genres through the alias table, valence and
        arousal from each clip's *out-of-fold* scores, written by ``moodspeaker-train
        music-mood train --oof``, so no clip is scored by a model that saw it), 200 picks
        for happy and for sad with the shipped picker, against the genre-only picker.
    .venv/bin/python -m bench.music_mood e2e
        the same through the real commands: tagged copies of the clips, ``library scan``
        with the shipped model (in-sample for these clips), ``pick --count 200`` per mood.
    .venv/bin/python -m bench.music_mood latency
        one pick in a library of 100k tracks (was a timed test).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# One core for real: BLAS and OpenMP pools are sized at import, so before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


def one_core() -> str:
    try:
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def speed(args) -> None:
    from device.music.library import LibraryIndex, scan_library
    from device.music.library.scoring import score_library
    from device.shared.audio_features import extract
    from device.shared.music_mood import load_music_mood

    print(one_core(), f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    model = load_music_mood(args.models)
    if model is None:
        sys.exit(f"{args.models}: no music_mood model")
    q4 = sorted((DATA / "mer_4q").glob("Q*/*.mp3"))
    emo = sorted((DATA / "emotify_sample").glob("*/*.mp3"))
    t0 = time.perf_counter()
    extract(q4[0])
    print(f"first extraction (numba JIT compile included): {time.perf_counter() - t0:.2f} s")
    rows = []
    for name, clips in (("4Q 22 kHz mono 40 kbps", q4[1:21]), ("Emotify 44 kHz stereo", emo[:20])):
        fe, fc, sc = [], [], []
        for clip in clips:
            t0, c0 = time.perf_counter(), time.process_time()
            x = extract(clip, model.params)
            t1, c1 = time.perf_counter(), time.process_time()
            model.score_features(x)
            fe.append(t1 - t0)
            fc.append(c1 - c0)
            sc.append(time.perf_counter() - t1)
        rows.append((name, statistics.median(fe), statistics.median(fc), statistics.median(sc)))
    print(f"{'clips (median of 20)':26s} {'features':>10s} {'(CPU)':>10s} {'scoring':>10s}")
    for name, f, c, s in rows:
        print(f"{name:26s} {f * 1000:7.0f} ms {c * 1000:7.0f} ms {s * 1000:7.2f} ms")

    pool = q4 + emo
    genres = ("pop", "rock", "jazz", "folk", "classical", "light", "rap")
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "music"
        for i in range(args.tracks):
            folder = lib / genres[i % len(genres)]
            folder.mkdir(parents=True, exist_ok=True)
            os.symlink(pool[i % len(pool)], folder / f"{i:05d}.mp3")
        results = []
        for label, with_mood in (("without features", False), ("with features", True)):
            with LibraryIndex(Path(tmp) / f"{with_mood}.sqlite3") as index:
                t0, c0 = time.perf_counter(), time.process_time()
                report = scan_library(lib, index)
                if with_mood:
                    scored = score_library(index, model)
                seconds = time.perf_counter() - t0
                cpu = time.process_time() - c0
                t0 = time.perf_counter()
                again = scan_library(lib, index)
                if with_mood:
                    rescored = score_library(index, model)
                    assert rescored.total == 0
                rescan = time.perf_counter() - t0
            results.append((label, report.added, seconds, cpu, rescan))
        print(f"\nscan of {args.tracks} tracks (symlinks to {len(pool)} real clips), one core"
              f" (load average now {os.getloadavg()[0]:.1f}):")
        print(f"{'':18s} {'first scan':>12s} {'tracks/s':>9s} {'CPU s':>8s} "
              f"{'tracks/CPU-s':>13s} {'rescan':>9s}")
        for label, n, s, c, r in results:
            print(f"{label:18s} {s:10.1f} s {n / s:9.1f} {c:8.1f} {n / c:13.1f} {r:7.2f} s")
        print(f"undecodable: {scored.failed}; unchanged on rescan: {again.unchanged}")


def read_4q_library(oof_path: Path):
    import numpy as np

    from device.music.library import Track
    from device.shared.genres import GenreMapper

    z = np.load(oof_path)
    va = {str(s): (float(v), float(a)) for s, v, a in zip(z["songs"], z["valence"], z["arousal"],
                                                          strict=True)}
    mapper = GenreMapper()
    tracks, quadrant = [], {}
    with open(DATA / "mer_4q" / "metadata.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            genre = mapper.map(r["GenresStr"])
            if genre is None or r["Song"] not in va:
                continue
            v, a = va[r["Song"]]
            tid = f"{r['Quadrant']}/{r['Song']}.mp3"
            tracks.append(Track(tid, str(DATA / "mer_4q" / tid), r["Title"], r["Artist"], None,
                                r["GenresStr"], genre, "tag", 30.0, valence=v, arousal=a))
            quadrant[tid] = r["Quadrant"]
    return tracks, quadrant


def picks(args) -> None:
    from device.music.picker import Picker, PickWeights, spread_draws
    from device.music.picker_setup import load_taste_or_flat

    tracks, quadrant = read_4q_library(args.oof)
    taste = load_taste_or_flat(args.models)
    share = Counter(quadrant.values())
    print(f"library: {len(tracks)} 4Q clips with a mapped AllMusic genre; quadrants "
          + ", ".join(f"{q} {share[q] / len(tracks):.2f}" for q in sorted(share)))
    print(f"{args.n} first picks per mood, as `moodspeaker pick --count {args.n}` draws them"
          f" (the first pick's chances, spread by systematic sampling), seed {args.seed}")
    print(f"most repeats of one track: in those picks; in {args.n} independent first picks;"
          f" in a session of {args.n} picks in a row (no-repeat window and repeat decay)")
    head = f"{'picker':22s} {'mood':7s} {'Q1':>5s} {'Q2':>5s} {'Q3':>5s} {'Q4':>5s} " \
           f"{'high arousal':>12s} {'picks':>5s} {'indep.':>6s} {'session':>7s}"
    print(head)
    from device.music.music_fit import DAY_ONE, MoodFit, Target

    # The liking data alone would give happy listeners positive valence and no extra energy.
    liking_only = {**DAY_ONE, "happy": Target(0.6, 0.0, 1.0)}
    for label, weights, day_one in (
        ("genre only (before)", PickWeights(fit_weight=0.0), DAY_ONE),
        ("genre + mood fit", PickWeights(), DAY_ONE),
        ("happy at arousal 0", PickWeights(), liking_only),
    ):
        high = {}
        for mood in ("happy", "sad", "neutral", "angry"):
            p = Picker(tracks, taste, weights=weights, mood_fit=MoodFit(day_one=day_one),
                       rng=random.Random(args.seed))
            p.restart()
            chances = p.first_picks(args.user, mood)
            got = [chances[i].track.track_id
                   for i in spread_draws([c.probability for c in chances], args.n, p.rng)]
            independent = []
            for _ in range(args.n):
                p.restart()
                independent.append(p.pick(args.user, mood).track.track_id)
            p.restart()
            session = Counter(p.pick(args.user, mood).track.track_id for _ in range(args.n))
            qs = Counter(quadrant[t] for t in got)
            high[mood] = (qs["Q1"] + qs["Q2"]) / args.n
            print(f"{label:22s} {mood:7s} " + " ".join(f"{qs[q] / args.n:5.2f}" for q in
                                                          ("Q1", "Q2", "Q3", "Q4"))
                  + f" {high[mood]:12.2f} {max(Counter(got).values()):5d}"
                  f" {max(Counter(independent).values()):6d} {max(session.values()):7d}")
        print(f"{'':22s} high-arousal share happy - sad: {high['happy'] - high['sad']:+.2f}")


def e2e(args) -> None:
    """The literal setup: tagged copies of the 4Q clips, ``library scan`` with the shipped
    model (which saw these clips in training: in-sample, so optimistic next to ``picks``),
    then ``moodspeaker pick --count N`` per mood."""
    import shutil

    from mutagen.easyid3 import EasyID3

    from device.cli import main as cli
    from device.cli.pick import pick_rows
    from device.system.config import load_config

    quadrant = {}
    with tempfile.TemporaryDirectory() as tmp, open(DATA / "mer_4q" / "metadata.csv",
                                                    encoding="utf-8") as fh:
        lib = Path(tmp) / "music"
        lib.mkdir()
        for r in csv.DictReader(fh):
            src = DATA / "mer_4q" / r["Quadrant"] / f"{r['Song']}.mp3"
            dst = lib / f"{r['Song']}.mp3"
            shutil.copy(src, dst)
            tags = EasyID3()
            tags.update({"genre": r["GenresStr"], "title": r["Title"], "artist": r["Artist"]})
            tags.save(dst)
            quadrant[dst.name] = r["Quadrant"]
        cfg_path = Path(tmp) / "speaker.toml"
        cfg_path.write_text(f'[library]\npath = "{lib}"\n[state]\ndir = "{tmp}/state"\n'
                            f'[models]\ndir = "{args.models}"\n', encoding="utf-8")
        t0 = time.perf_counter()
        cli(["library", "scan", "--config", str(cfg_path)])
        print(f"scan: {time.perf_counter() - t0:.0f} s")
        cfg = load_config(cfg_path)
        high = {}
        for mood in ("happy", "sad"):
            rows = pick_rows(cfg, mood, args.n, user="default", seed=args.seed)
            qs = Counter(quadrant[Path(r["track_id"]).name] for r in rows)
            high[mood] = (qs["Q1"] + qs["Q2"]) / args.n
            print(f"{mood:6s} " + " ".join(f"{q} {qs[q] / args.n:.2f}" for q in
                                           ("Q1", "Q2", "Q3", "Q4"))
                  + f"; most repeats {max(Counter(r['track_id'] for r in rows).values())}")
        print(f"high-arousal share happy - sad: {high['happy'] - high['sad']:+.2f}")


def latency(args) -> None:
    from device.music.library import Track
    from device.music.picker import Picker
    from tests.harness.speaker import MoodTaste

    rng = random.Random(4)
    tracks = [Track(f"{g}/{i}.mp3", f"/m/{g}/{i}.mp3", None, None, None, g, g, "tag", 60.0,
                    valence=rng.uniform(-1, 1), arousal=rng.uniform(-1, 1))
              for g in ("pop", "classical", "rock", "light") for i in range(25_000)]
    p = Picker(tracks, MoodTaste(), rng=random.Random(4))
    t0 = time.perf_counter()
    for _ in range(200):
        p.pick("ann", "sad")
    print(f"pick in 100k tracks: {(time.perf_counter() - t0) / 200 * 1000:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what")
    s = sub.add_parser("speed")
    s.add_argument("--tracks", type=int, default=1000)
    s.add_argument("--models", type=Path, default=REPO / "models")
    p = sub.add_parser("picks")
    p.add_argument("--oof", type=Path, required=True)
    p.add_argument("--models", type=Path, default=REPO / "models")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--user", default="default")
    e = sub.add_parser("e2e")
    e.add_argument("--models", type=Path, default=REPO / "models")
    e.add_argument("--n", type=int, default=200)
    e.add_argument("--seed", type=int, default=1)
    sub.add_parser("latency")
    args = ap.parse_args()
    if args.what is None:  # bootstrap.sh bench: everything that needs no extra file
        args = argparse.Namespace(tracks=1000, models=REPO / "models", n=200, seed=1)
        for run in (speed, latency, e2e):
            run(args)
        return
    {"speed": speed, "picks": picks, "e2e": e2e, "latency": latency}[args.what](args)


if __name__ == "__main__":
    main()
