"""``moodspeaker-train fer train|export|evaluate``."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

from device.shared.errors import UserError

log = logging.getLogger(__name__)
DEFAULT_CHECKPOINTS = Path.home() / ".cache" / "moodspeaker" / "fer"


def _load(path: Path, splits=None):
    from .dataset import load_fer_csv

    data = load_fer_csv(path, splits)
    for bad in data.bad_rows[:20]:
        log.warning("%s: line %d: %s (skipped)", path, bad.line, bad.reason)
    if len(data.bad_rows) > 20:
        log.warning("%s: %d more bad rows skipped", path, len(data.bad_rows) - 20)
    if data.bad_rows:
        log.warning("%s: %d bad row(s) skipped in all", path, len(data.bad_rows))
    return data


def _train_config(args) -> object:
    from .train import TrainConfig

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
              if getattr(args, f.name, None) is not None}
    return TrainConfig(**values)


def cmd_train(args) -> int:
    from .export import export
    from .train import run_lineage, train

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
    from .ablation import run_ablation

    cfg = _train_config(args)
    data = _load(args.data, ("Training", "PublicTest"))
    run_ablation(data.split("Training"), data.split("PublicTest"), cfg, args.out)
    return 0


def cmd_export(args) -> int:
    import keras

    from . import losses  # noqa: F401  registers the custom loss and metric for loading
    from .export import export
    from .train import run_lineage

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
    from device.shared.manifest import ManifestError, load_manifest

    from .export import evaluate_file, fer_spec

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


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", help="moodnet (default), paper, tiny")
    p.add_argument("--width", type=int, help="moodnet base channel count (default 30)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--hard-label-weight", type=float,
                   help="weight of the FER2013 label vs the FER+ vote distribution (0..1)")
    p.add_argument("--class-balance", type=float, help="0 none .. 1 fully balanced")
    p.add_argument("--disputed-weight", type=float,
                   help="sample weight of faces whose FER+ majority disputes the label (1)")
    p.add_argument("--patience", type=int, help="epochs without a PublicTest gain before stopping")
    p.add_argument("--seed", type=int)
    p.add_argument("--max-train-rows", type=int, help="train on a random subset")
    p.add_argument("--no-augment", dest="augment", action="store_const", const=False)
    p.add_argument("--augment-strength", type=float,
                   help="scale of rotation/zoom/shift/contrast augmentation (1; 0 = flips only)")
    p.add_argument("--random-erasing", type=float,
                   help="chance (up to) of erasing a random patch of each face (0 = off)")
    p.add_argument("--mood-loss", type=float,
                   help="weight of the 4-mood cross-entropy added to the 7-class one (0)")
    p.add_argument("--select-on", choices=("accuracy", "mood_accuracy"),
                   help="PublicTest metric for best.keras and early stopping (accuracy)")
    p.add_argument("--init", help="start from this .keras checkpoint (fine-tuning)")
    p.add_argument("--teacher", action="append",
                   help="distil from this .keras checkpoint's predictions (repeat the option "
                   "for an ensemble: their mean)")
    p.add_argument("--teacher-weight", type=float,
                   help="share of the teacher's distribution in the targets (0.5)")
    p.add_argument("--teacher-temperature", type=float,
                   help="softmax temperature of the teacher's logits (1)")


def _flip_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-flip-average", dest="flip_average", action="store_false",
                   help="export without the test-time mirrored view (half the compute)")


def register(subparsers) -> None:
    fer = subparsers.add_parser("fer", help="facial-expression model")
    sub = fer.add_subparsers(dest="fer_command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train (or resume), then export int8 model and report")
    p.add_argument("--data", type=Path, required=True, help="FER2013 CSV (plain or .gz)")
    p.add_argument("--out", type=Path, required=True, help="where fer_int8.tflite, "
                   "manifest.json and fer_report/ go (models/ to ship it)")
    p.add_argument("--checkpoint-dir", type=Path,
                   help=f"resumable run directory (default {DEFAULT_CHECKPOINTS}/ARCH)")
    _train_options(p)
    _flip_option(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("ablate", help="short same-seed runs: FER+ soft labels, balancing")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="run directories and ablation.md")
    _train_options(p)
    p.set_defaults(handler=cmd_ablate)

    p = sub.add_parser("export", help="export a Keras checkpoint as int8 TFLite with report")
    p.add_argument("--checkpoint", type=Path, required=True, help="best.keras of a run")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    _flip_option(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("evaluate", help="accuracy of a TFLite model on one split")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", default="PublicTest", choices=("Training", "PublicTest",
                                                             "PrivateTest"))
    p.add_argument("--runtime", help="ai_edge_litert, tflite_runtime or tensorflow")
    p.add_argument("--json", type=Path, help="write all metrics here")
    p.set_defaults(handler=cmd_evaluate)
