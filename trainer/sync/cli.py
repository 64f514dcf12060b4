"""``moodspeaker-train ingest`` and ``moodspeaker-train publish``: the trainer on MQTT
(the arguments; the handlers are in ``trainer.sync.commands``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from device.shared.mqtt_client import add_connection_args
from device.shared.mqtt_protocol import BASE_TOPIC, DEFAULT_CHUNK_BYTES

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    i = subparsers.add_parser(
        "ingest", help="store every speaker's listens from MQTT (runs until stopped)")
    add_connection_args(i)
    i.add_argument("--db", required=True, metavar="PATH|URL",
                   help="the listen store: an SQLite file, or postgresql://USER@HOST:PORT/DB")
    i.add_argument("--share", metavar="GROUP",
                   help="MQTT 5 shared subscription: workers in GROUP split the load")
    i.add_argument("--base-topic", default=BASE_TOPIC)
    i.add_argument("--client-id", help="MQTT client id (default: moodspeaker-ingest-<host>"
                   "[-GROUP]); each worker needs its own")
    i.set_defaults(handler="trainer.sync.commands:cmd_ingest")

    p = subparsers.add_parser(
        "publish", help="send models (and their manifest) to one speaker over MQTT")
    add_connection_args(p)
    p.add_argument("--device", required=True, help="the speaker's device id")
    p.add_argument("--models", type=Path, required=True,
                   help="folder with manifest.json and the model files")
    p.add_argument("--files", nargs="+", metavar="NAME",
                   help="which files (default: every file the manifest names)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for the device's result (default 120)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_BYTES,
                   help=f"bytes per chunk (default {DEFAULT_CHUNK_BYTES})")
    p.add_argument("--base-topic", default=BASE_TOPIC)
    p.set_defaults(handler="trainer.sync.commands:cmd_publish")
