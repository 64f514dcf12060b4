"""``moodspeaker``'s arguments, every subcommand's. Each handler is named as
``"device.cli.MODULE:function"`` and imported only when its subcommand runs, so this module
(and ``moodspeaker --help``) loads none of the speaker."""

from __future__ import annotations

import argparse
from pathlib import Path

from device.shared import clirunner
from device.shared.clirunner import Subparsers, positive_int
from device.shared.moods import MOODS, UNKNOWN
from device.shared.paths import default_models_dir


def build_parser() -> argparse.ArgumentParser:
    return clirunner.build_parser(
        "moodspeaker", "Mood-aware music speaker.",
        (_mood, _run, _demo, _library, _pick, _journal, _user, _install))


# -------- moodspeaker mood

def _mood(sub: Subparsers) -> None:
    p = sub.add_parser("mood", help="faces and mood in still images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.add_argument("--models", type=Path, default=default_models_dir(),
                   help="models directory with manifest.json (default: %(default)s)")
    p.add_argument("--runtime", help="TFLite runtime: ai_edge_litert, tflite_runtime, tensorflow")
    p.set_defaults(handler="device.cli.mood:cmd_mood")


# -------- moodspeaker run

def _run(sub: Subparsers) -> None:
    p = sub.add_parser("run", help="run the speaker (the systemd service runs this)")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML config (default /etc/moodspeaker/config.toml; absent = defaults)")
    p.add_argument("--seconds", type=float, default=None, help="stop cleanly after N seconds")
    p.add_argument("--state-dir", type=Path, default=None, help="override [state] dir")
    p.set_defaults(handler="device.cli.run:cmd_run")


# -------- moodspeaker demo

def _demo(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="run the speaker on bundled faces and generated music")
    p.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    p.add_argument("--sound", action="store_true", help="play on the default audio device")
    p.add_argument("--wav", type=Path, default=None, help="write the audio to this WAV file")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="keep library, index and journal here (default: a temporary folder)")
    p.add_argument("--models", type=Path, default=None, help="models folder (default: shipped)")
    p.set_defaults(handler="device.cli.demo:cmd_demo")


# -------- moodspeaker library

def _library(sub: Subparsers) -> None:
    p = sub.add_parser("library", help="scan the music folder or show the index")
    lsub = p.add_subparsers(dest="library_command", required=True, metavar="ACTION")
    for name, help_ in (("scan", "index new and changed files"),
                        ("stats", "tracks per genre, unmapped, broken"),
                        ("list", "one line per track: genre, valence, arousal")):
        q = lsub.add_parser(name, help=help_)
        q.add_argument("--config", type=Path, default=None)
        q.add_argument("--path", type=Path, default=None, help="override [library] path")
        q.add_argument("--state-dir", type=Path, default=None, help="override [state] dir")
        if name == "stats":
            q.add_argument("--json", action="store_true")
        if name == "list":
            q.add_argument("--json", action="store_true", help="one JSON object per line")
            q.add_argument("--all", action="store_true", help="unmapped tracks too")
        if name == "scan":
            q.add_argument("--no-mood", action="store_true",
                           help="tags only: no valence/arousal from the audio")
            q.add_argument("--progress", action="store_true", help="print scoring progress")
        q.set_defaults(handler=f"device.cli.library:cmd_{name}")


# -------- moodspeaker pick

def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= n <= 100_000:
        raise argparse.ArgumentTypeError(f"--count must be 1-100000, not {n}")
    return n


def _pick(sub: Subparsers) -> None:
    p = sub.add_parser("pick", help="what would it play in this mood? (plays nothing)")
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--mood", required=True, choices=(*MOODS, UNKNOWN))
    p.add_argument("--count", type=_count, default=1,
                   help="picks, each as the first of a session (default 1)")
    p.add_argument("--user", default=None, help="listener (default: [user] active)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default [picker])")
    p.add_argument("--json", action="store_true", help="one JSON object per pick, per line")
    p.add_argument("--state-dir", type=Path, default=None, help="override [state] dir")
    p.add_argument("--models-dir", type=Path, default=None, help="override [models] dir")
    p.set_defaults(handler="device.cli.pick:cmd_pick")


# -------- moodspeaker journal

def _journal(sub: Subparsers) -> None:
    p = sub.add_parser("journal", help="the listening journal")
    jsub = p.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    q = jsub.add_parser("tail", help="show the latest listens")
    q.add_argument("-n", type=positive_int, default=20, help="how many (default 20)")
    q.add_argument("--json", action="store_true", help="one JSON object per listen")
    q.add_argument("--config", type=Path, default=None)
    q.add_argument("--state-dir", type=Path, default=None)
    q.set_defaults(handler="device.cli.journal:cmd_tail")


# -------- moodspeaker user

def _user(sub: Subparsers) -> None:
    p = sub.add_parser("user", help="show or set the active listener")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--state-dir", type=Path, default=None)
    p.set_defaults(handler="device.cli.user:cmd_user")


# -------- moodspeaker install

def _install_common(p: argparse.ArgumentParser, dry_run: bool = True) -> None:
    if dry_run:
        p.add_argument("--dry-run", action="store_true",
                       help="print every step and change nothing")
    p.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                   help="work on the tree under DIR instead of this machine (apt, users and "
                   "the running systemd are then left alone)")
    p.add_argument("--venv", type=Path, default=None,
                   help="run the service from this existing venv instead of making "
                   "/opt/moodspeaker/venv (e.g. the checkout's .venv)")
    p.add_argument("--user", default="moodspeaker", help="the service user (default moodspeaker)")


def _install(sub: Subparsers) -> None:
    p = sub.add_parser("install", help="install as a system service (root; idempotent)")
    _install_common(p)
    p.set_defaults(handler="device.cli.install:cmd_install")
    u = sub.add_parser("uninstall", help="remove the service; keeps journal and config")
    _install_common(u)
    u.add_argument("--purge", action="store_true",
                   help="also remove the config, the journal and library index, and the user")
    u.set_defaults(handler="device.cli.install:cmd_uninstall")
    c = sub.add_parser("check", help="what works: camera, sound card, library, models, broker")
    c.add_argument("--config", type=Path, default=None)
    c.add_argument("--service", action="store_true", help="also whether the service runs")
    c.set_defaults(handler="device.cli.install:cmd_check")
