"""``moodspeaker-train fer train|ablate|export|evaluate``: the arguments (the handlers are
in ``trainer.fer.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CHECKPOINTS = Path.home() / ".cache" / "moodspeaker" / "fer"


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


def register(subparsers: argparse._SubParsersAction) -> None:
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
    p.set_defaults(handler="trainer.fer.commands:cmd_train")

    p = sub.add_parser("ablate", help="short same-seed runs: FER+ soft labels, balancing")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="run directories and ablation.md")
    _train_options(p)
    p.set_defaults(handler="trainer.fer.commands:cmd_ablate")

    p = sub.add_parser("export", help="export a Keras checkpoint as int8 TFLite with report")
    p.add_argument("--checkpoint", type=Path, required=True, help="best.keras of a run")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    _flip_option(p)
    p.set_defaults(handler="trainer.fer.commands:cmd_export")

    p = sub.add_parser("evaluate", help="accuracy of a TFLite model on one split")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", default="PublicTest", choices=("Training", "PublicTest",
                                                             "PrivateTest"))
    p.add_argument("--runtime", help="ai_edge_litert, tflite_runtime or tensorflow")
    p.add_argument("--json", type=Path, help="write all metrics here")
    p.set_defaults(handler="trainer.fer.commands:cmd_evaluate")
