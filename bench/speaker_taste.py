"""Taste recovered from speaker use: posts only, speaker only, both, against counting.

The same people (planted tastes, ``taste simulate``) publish held-out posts with plays
around them (the paper's evidence) and use the speaker for a month
(``taste simulate-speaker``: camera moods through the FER model's validation confusion,
near-uniform offers, completions with probability taste / 10, early skips otherwise).
Reported: Spearman between the built preferences and the planted ones, per mood, for

- ``count``: completions per (person, mood seen, genre), the baseline;
- ``speaker``: ``taste build`` on the journal only;
- ``posts``: ``taste build`` on posts and the plays around them only;
- ``both``: everything.

``--choose`` runs the validation grid (SMP2020 eval posts, seeds 101-103) the shipped
settings were chosen on: speaker weight against plays around posts, and how the camera's
errors are modelled. The default run reports on NLPCC 2014's held-out posts, seeds 1-3.

    .venv/bin/python -m bench.speaker_taste [--users 60] [--seeds 1 2 3] [--choose]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from device.shared.moods import MOODS
from trainer.taste.build import BuildConfig, build_artifact, camera_confusion, classify_posts
from trainer.taste.evalsim import spearman_per_slice
from trainer.taste.simulate import simulate
from trainer.taste.speaker import SpeakerConfig
from trainer.taste.speaker_sim import completion_counts, simulate_speaker

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def people(n_users: int, seed: int, posts_from: str, confusion: np.ndarray | None):
    """Posts with plays around them and a month of speaker listens, for the same people."""
    source = DATA / ("nlpcc2014_weibo_emotion" if posts_from == "nlpcc" else "smp2020_ewect")
    sim = simulate(source, DATA / "lastfm1k_subset", n_users, 60, seed=seed,
                   posts_from=posts_from)  # fmt: skip
    heard = simulate_speaker(sim.truth, sim.users, confusion, seed=seed + 10_000)
    return sim, heard


def score(arrays: dict, users: tuple[str, ...], truth: np.ndarray) -> np.ndarray:
    pos = {str(u): i for i, u in enumerate(arrays["users"])}
    prefs = arrays["preferences"][[pos[u] for u in users]]
    return spearman_per_slice(prefs, truth).mean(axis=0)


def run(n_users: int, seeds: list[int], posts_from: str,
        configs: dict[str, BuildConfig], counts: np.ndarray) -> dict:  # fmt: skip
    out: dict[str, list] = {}
    for seed in seeds:
        sim, heard = people(n_users, seed, posts_from, counts)
        mood_posts, _ = classify_posts(sim.posts, BuildConfig().post_min_confidence())
        out.setdefault("count", []).append(spearman_per_slice(
            completion_counts(heard.listens, sim.users), sim.truth).mean(axis=0))  # fmt: skip
        for name, cfg in configs.items():
            for kind, posts, listens in (
                ("speaker", [], heard.listens),
                ("posts", mood_posts, sim.listens),
                ("both", mood_posts, sim.listens + heard.listens),
            ):
                if kind == "posts" and name != "shipped":
                    continue  # the grid varies the speaker's side only
                if kind == "speaker" and name.startswith("weight"):
                    continue  # the weight matters only with both
                art = build_artifact(posts, listens, cfg, {}, sim.users)
                out.setdefault(f"{kind} {name}", []).append(
                    score(art.arrays, sim.users, sim.truth))
    return {k: np.mean(v, axis=0) for k, v in out.items()}


def table(result: dict) -> str:
    lines = ["| evidence | " + " | ".join(MOODS) + " | happy/sad/angry | all |",
             "|---" * (len(MOODS) + 3) + "|"]  # fmt: skip
    for name, rho in result.items():
        cells = " | ".join(f"{v:.3f}" for v in rho)
        lines.append(f"| {name} | {cells} | {rho[:3].mean():.3f} | {rho.mean():.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--choose", action="store_true",
                        help="the validation grid (SMP2020 eval posts, seeds 101-103)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text(encoding="utf-8"))
    counts = np.asarray(manifest["fer"]["mood_confusion"], dtype=float)
    shipped = BuildConfig(camera_confusion=camera_confusion(ROOT / "models"))
    configs = {"shipped": shipped}
    if args.choose:
        seeds, posts_from = args.seeds or [101, 102, 103], "smp-eval"
        for w in (0.5, 1.0, 2.0, 4.0):
            configs[f"weight {w:g}"] = replace(shipped, speaker_weight=w)
        configs["camera certain"] = replace(shipped, camera_confusion=None)
        for q in (0.5, 1.0):
            configs[f"confidence {q:g}"] = replace(
                shipped, speaker=SpeakerConfig(confidence_weight=q))
    else:
        seeds, posts_from = args.seeds or [1, 2, 3], "nlpcc"
    t0 = time.perf_counter()
    result = run(args.users, seeds, posts_from, configs, counts)
    print(f"{args.users} people, seeds {seeds}, posts from {posts_from} "
          f"({time.perf_counter() - t0:.0f} s)")
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps({k: v.round(4).tolist() for k, v in result.items()},
                                        indent=1) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
