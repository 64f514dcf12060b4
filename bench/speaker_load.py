"""Speaker benchmarks: what the service costs on this machine, and how the parts scale.

    python -m bench.speaker_load           # all three, 60 s service run
    python -m bench.speaker_load --seconds 20 --skip scan

1. ``moodspeaker run`` as a child process on a replayed camera (the bundled demo frames,
   2 fps, real detector + int8 classifier) playing the real MP3 clips on the dummy output
   for N seconds: CPU share of one core (user + system time / wall time) and peak RSS,
   both from getrusage(RUSAGE_CHILDREN). Targets: < 25 % of one core, < 200 MB.
2. Library scan rate: a tree of N symlinks to the real clips, full scan then rescan.
3. Pick latency for a 100k-track library with the shipped taste model (target < 5 ms).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLIPS = REPO.parent / "shared" / "data" / "emotify_sample"


def bench_run(seconds: float, source: str) -> None:
    from device.shared.paths import default_models_dir
    from device.system.demo import FRAMES_DIR

    models = default_models_dir()
    if source == "replay" and not (models / "fer_int8.tflite").exists():
        print(f"run: SKIPPED, {models / 'fer_int8.tflite'} is absent (use --source none)")
        return
    cam = f"replay:{FRAMES_DIR}" if source == "replay" else "none"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(
            f'[camera]\nsource = "{cam}"\nfps = 2.0\nreplay_repeat = 10\n'
            f'[library]\npath = "{CLIPS}"\n[audio]\noutput = "dummy"\n'
            f'[state]\ndir = "{tmp}/state"\n'
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "device.cli", "run", "--config", str(cfg),
             "--seconds", str(seconds)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True, text=True, check=False,
        )
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:])
        raise SystemExit(f"run failed with {proc.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"run ({source} camera at 2 fps, {seconds:.0f} s of playback, dummy audio): "
          f"wall {wall:.1f} s (incl. start-up), CPU {cpu:.1f} s = {100 * cpu / wall:.1f}% "
          f"of one core, peak RSS {after.ru_maxrss / 1024:.0f} MB")
    print("   " + proc.stdout.strip().splitlines()[-1])


def bench_scan(n: int) -> None:
    from device.music.library import LibraryIndex, scan_library

    clips = sorted(CLIPS.glob("*/*.mp3"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "music"
        for i in range(n):
            src = clips[i % len(clips)]
            folder = root / src.parent.name / f"album{i // 100:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i:05d}.mp3").symlink_to(src)
        with LibraryIndex(Path(tmp) / "library.sqlite3") as index:
            full = scan_library(root, index)
            again = scan_library(root, index)
    print(f"scan: {n} MP3 files (symlinks to the real clips): full scan {full.seconds:.2f} s "
          f"= {n / full.seconds:.0f} files/s; rescan {again.seconds:.3f} s "
          f"= {n / again.seconds:.0f} files/s ({again.unchanged} unchanged)")


def bench_pick(n: int, picks: int) -> None:
    from device.music.library import Track
    from device.music.picker import Picker
    from device.music.picker_setup import load_taste_or_flat
    from device.shared.genres import GENRES
    from device.shared.paths import default_models_dir

    taste = load_taste_or_flat(default_models_dir())
    rng = random.Random(0)
    tracks = [Track(f"t{i}", f"/m/{i}.mp3", None, None, None, None, rng.choice(GENRES), "tag",
                    200.0) for i in range(n)]
    picker = Picker(tracks, taste, rng=rng)
    moods = ("happy", "sad", "angry", "neutral", "unknown")
    times = []
    for i in range(picks):
        t0 = time.perf_counter()
        picker.pick("default", moods[i % len(moods)])
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f"pick: {n} tracks, {type(taste).__name__}: median {statistics.median(times):.3f} ms, "
          f"p99 {times[int(0.99 * len(times))]:.3f} ms, max {times[-1]:.3f} ms "
          f"over {picks} picks")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--source", choices=("replay", "none"), default="replay")
    ap.add_argument("--scan-files", type=int, default=2000)
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--skip", nargs="*", default=(), choices=("run", "scan", "pick"))
    args = ap.parse_args()
    if "pick" not in args.skip:
        bench_pick(args.tracks, 1000)
    if "scan" not in args.skip:
        bench_scan(args.scan_files)
    if "run" not in args.skip:
        bench_run(args.seconds, args.source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
