"""``moodspeaker-train music-mood train|evidence|transfer``: the arguments (the handlers
are in ``trainer.music_mood.commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path

DATA = Path("../shared/data")


def register(sub: argparse._SubParsersAction) -> None:
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
    t.set_defaults(handler="trainer.music_mood.commands:cmd_train")

    e = msub.add_parser("evidence", help="which music people in each mood liked")
    e.add_argument("--emotify", type=Path, default=DATA / "emotify_sample")
    e.add_argument("--mumr", type=Path, default=DATA / "mumr_field_study")
    e.add_argument("--json", action="store_true")
    e.set_defaults(handler="trainer.music_mood.commands:cmd_evidence")

    r = msub.add_parser("transfer",
                        help="full-quality files vs 40 kbps re-encodes; felt energy")
    r.add_argument("--models", type=Path, default=Path("models"))
    r.add_argument("--emotify", type=Path, default=DATA / "emotify_sample")
    r.add_argument("--limit", type=int, default=None, help="only the first N clips")
    r.add_argument("--tolerance", type=float, default=0.25,
                   help="largest allowed |difference| in valence or arousal (-1..1)")
    r.set_defaults(handler="trainer.music_mood.commands:cmd_transfer")
