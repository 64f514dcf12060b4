"""``moodspeaker-train rollout``: the arguments (the handler, ``trainer.sync.rollout.cmd_rollout``,
is imported only when the subcommand runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from device.shared.mqtt_client import add_connection_args
from device.shared.mqtt_protocol import BASE_TOPIC, DEFAULT_CHUNK_BYTES


def register(subparsers: argparse._SubParsersAction) -> None:
    r = subparsers.add_parser(
        "rollout", help="send models to a group of speakers or to all, a canary share first")
    add_connection_args(r)
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--all", action="store_true",
                     help="every speaker that has announced itself on the broker")
    who.add_argument("--group", help="a group of the --fleet file")
    who.add_argument("--device", action="append", help="a speaker (repeatable)")
    r.add_argument("--fleet", type=Path, help="TOML with [groups] NAME = [device ids]")
    r.add_argument("--models", type=Path, required=True,
                   help="folder with manifest.json and the model files")
    r.add_argument("--files", nargs="+", metavar="NAME",
                   help="which files (default: every file the manifest names)")
    r.add_argument("--canary", type=float, default=0.1,
                   help="share of the speakers that get it first (default 0.1, at least one)")
    r.add_argument("--parallel", type=int, default=8, help="transfers at once (default 8)")
    r.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for each stage's answers (default 120)")
    r.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_BYTES)
    r.add_argument("--report", type=Path, help="write the rollout report here (JSON)")
    r.add_argument("--base-topic", default=BASE_TOPIC)
    r.set_defaults(handler="trainer.sync.rollout:cmd_rollout")
