"""``moodspeaker-train fer``'s handlers (``trainer.fer.cli`` holds their arguments)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

import keras

from device.shared.errors import UserError
from device.shared.manifest import ManifestError, load_manifest

from . import losses  # noqa: F401  registers the custom loss and metric for loading
from .ablation import run_ablation
from .cli import DEFAULT_CHECKPOINTS
from .dataset import load_fer_csv
from .export import evaluate_file, export, fer_spec
from .train import TrainConfig, run_lineage, train

log = logging.getLogger(__name__)



def _load(path: Path, splits=None):
    data = load_fer_csv(path, splits)
    for bad in data.bad_rows[:20]:
        log.warning("%s: line %d: %s (skipped)", path, bad.line, bad.reason)
    if len(data.bad_rows) > 20:
        log.warning("%s: %d more bad rows skipped", path, len(data.bad_rows) - 20)
    if data.bad_rows:
        log.warning("%s: %d bad row(s) skipped in all", path, len(data.bad_rows))
    return data


def _train_config(args) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
              if getattr(args, f.name, None) is not None}
    return TrainConfig(**values)


def cmd_train(args) -> int:
    cfg = _train_config(args)
    data = _load(args.data, ("Training", "PublicTest"))
    train_split, val = data.split("Training"), data.split("PublicTest")
    if not len(train_split) or not len(val):
        raise UserError(f"{args.data}: needs both Training and PublicTest rows")
    run_dir = args.checkpoint_dir or DEFAULT_CHECKPOINTS / cfg.arch
    model = train(train_split, val, cfg, run_dir)
    history, stages = run_lineage(run_dir)
    entry = export(model, data, args.data, args.out, history, asdict(cfg),
                   flip_average=args.flip_average, stages=stages)
    print(json.dumps(entry["metrics"], indent=2))
    return 0


def cmd_ablate(args) -> int:
    cfg = _train_config(args)
    data = _load(args.data, ("Training", "PublicTest"))
    run_ablation(data.split("Training"), data.split("PublicTest"), cfg, args.out)
    return 0


def cmd_export(args) -> int:
    if not args.checkpoint.is_file():
        raise UserError(f"{args.checkpoint}: no such checkpoint")
    state_path = args.checkpoint.parent / "state.json"
    cfg = json.loads(state_path.read_text())["config"] if state_path.exists() else {}
    data = _load(args.data, ("Training", "PublicTest"))
    model = keras.models.load_model(args.checkpoint, compile=False)
    history, stages = run_lineage(args.checkpoint.parent)
    entry = export(model, data, args.data, args.out, history, cfg,
                   flip_average=args.flip_average, stages=stages)
    print(json.dumps(entry["metrics"], indent=2))
    return 0


def cmd_evaluate(args) -> int:
    if not args.model.is_file():
        raise UserError(f"{args.model}: no such model file")
    spec = fer_spec(args.model)
    try:
        manifest = load_manifest(args.model.parent)
        if manifest.fer is not None and manifest.fer.path.name == args.model.name:
            spec = manifest.fer
    except ManifestError:
        log.info("no manifest beside %s: assuming the default labels and input range", args.model)
    data = _load(args.data, (args.split,))
    if not len(data):
        raise UserError(f"{args.data}: no rows in split {args.split}")
    metrics = evaluate_file(args.model, data, spec, runtime=args.runtime)
    result = {"model": str(args.model), "split": args.split, **metrics.to_dict()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.model}: {args.split}: 7-class accuracy {metrics.accuracy:.4f} "
          f"({metrics.n} faces), 4-mood accuracy {metrics.mood_accuracy:.4f} "
          f"({metrics.n_mood} faces)")
    return 0

