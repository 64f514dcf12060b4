"""``moodspeaker-train music-mood train|evidence|transfer``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DATA = Path("../shared/data")


def cmd_train(args: argparse.Namespace) -> int:
    import numpy as np

    from device.shared.audio_features import DEFAULT_PARAMS

    from .dataset import load_dataset
    from .export import export, metadata_digest
    from .train import TrainConfig, cross_validate, fit

    cfg = TrainConfig(folds=args.folds, repeats=args.repeats, seed=args.seed)
    data = load_dataset(args.data, cache=args.cache, jobs=args.jobs)
    print(f"{len(data.clips)} clips, {len(set(data.artists))} artists, "
          f"{data.features.shape[1]} features")
    report = cross_validate(data, cfg)
    print(report.summary())
    if args.oof is not None:
        args.oof.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.oof, songs=np.array([c.song for c in data.clips]),
                 quadrant=data.quadrant, genres=np.array([c.genres for c in data.clips]),
                 artists=data.artists, valence=2 * report.oof[:, 0] - 1,
                 arousal=2 * report.oof[:, 1] - 1)
        print(f"out-of-fold scores: {args.oof}")
    model = fit(data, cfg)
    meta = Path(args.data) / "metadata.csv"
    path = export(model, args.out, DEFAULT_PARAMS, {
        "training_data": {"set": "4Q audio emotion dataset (Panda et al. 2018), mer_4q",
                          "metadata_sha256": metadata_digest(meta), "clips": len(data.clips),
                          "artists": len(set(data.artists))},
        "cv": {**report.as_dict(), "grouped_by": "artist", "repeats": cfg.repeats},
    })
    print(f"wrote {path} ({path.stat().st_size} bytes, C={model.c}) and the music_mood entry"
          f" of {args.out}/manifest.json")
    return 0


def cmd_evidence(args: argparse.Namespace) -> int:
    from .evidence import study

    tables = study(args.emotify, args.mumr)
    for table in tables.values():
        print(table.markdown())
        print()
    if args.json:
        print(json.dumps({k: t.as_dict() for k, t in tables.items()}, indent=1))
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from .transfer import transfer

    result = transfer(args.models, args.emotify, limit=args.limit)
    print(result.summary())
    return 0 if result.within(args.tolerance) else 1


def register(sub) -> None:
    p = sub.add_parser("music-mood", help="the audio valence/arousal model (4Q set)")
    msub = p.add_subparsers(dest="music_mood_command", required=True, metavar="ACTION")

    t = msub.add_parser("train", help="extract features, cross-validate by artist, export")
    t.add_argument("--data", type=Path, default=DATA / "mer_4q")
    t.add_argument("--out", type=Path, default=Path("models"))
    t.add_argument("--cache", type=Path, default=None,
                   help="feature cache (.npz): reruns extract only new or changed clips")
    t.add_argument("--jobs", type=int, default=1, help="feature extraction processes")
    t.add_argument("--folds", type=int, default=5)
    t.add_argument("--repeats", type=int, default=3, help="CV repeats with other fold seeds")
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--oof", type=Path, default=None,
                   help="also save each clip's out-of-fold valence/arousal (.npz) for benches")
    t.set_defaults(handler=cmd_train)

    e = msub.add_parser("evidence", help="which music people in each mood liked")
    e.add_argument("--emotify", type=Path, default=DATA / "emotify_sample")
    e.add_argument("--mumr", type=Path, default=DATA / "mumr_field_study")
    e.add_argument("--json", action="store_true")
    e.set_defaults(handler=cmd_evidence)

    r = msub.add_parser("transfer",
                        help="full-quality files vs 40 kbps re-encodes; felt energy")
    r.add_argument("--models", type=Path, default=Path("models"))
    r.add_argument("--emotify", type=Path, default=DATA / "emotify_sample")
    r.add_argument("--limit", type=int, default=None, help="only the first N clips")
    r.add_argument("--tolerance", type=float, default=0.25,
                   help="largest allowed |difference| in valence or arousal (-1..1)")
    r.set_defaults(handler=cmd_transfer)
