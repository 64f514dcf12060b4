"""``moodspeaker-train music-mood``'s handlers (``trainer.music_mood.cli`` holds their
arguments)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from device.shared.audio_features import DEFAULT_PARAMS

from .dataset import load_dataset
from .evidence import study
from .export import export, metadata_digest
from .train import TrainConfig, cross_validate, fit
from .transfer import transfer


def cmd_train(args: argparse.Namespace) -> int:
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
    tables = study(args.emotify, args.mumr)
    for table in tables.values():
        print(table.markdown())
        print()
    if args.json:
        print(json.dumps({k: t.as_dict() for k, t in tables.items()}, indent=1))
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    result = transfer(args.models, args.emotify, limit=args.limit)
    print(result.summary())
    return 0 if result.within(args.tolerance) else 1

