"""``moodspeaker-train ingest`` and ``moodspeaker-train publish``: the trainer on MQTT."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path

from device.shared.errors import UserError
from device.shared.mqtt_client import add_connection_args, settings_from_args
from device.shared.mqtt_protocol import BASE_TOPIC, DEFAULT_CHUNK_BYTES, ProtocolError, Topics

log = logging.getLogger(__name__)


def cmd_ingest(args: argparse.Namespace) -> int:
    from .ingest import Ingest

    try:
        ingest = Ingest(settings_from_args(args), args.db, base_topic=args.base_topic,
                        share=args.share, client_id=args.client_id)
    except ProtocolError as exc:
        raise UserError(str(exc)) from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ingest.run(stop)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from .publish import plan, publish

    try:
        Topics(args.device, args.base_topic)
    except ProtocolError as exc:
        raise UserError(str(exc)) from None
    delivery = plan(args.models, args.files, args.chunk_size)
    result = publish(settings_from_args(args), args.device, delivery,
                     base_topic=args.base_topic, timeout=args.timeout)
    print(json.dumps({"device": args.device, "transfer": result.transfer, "ok": result.ok,
                      "error": result.error, "files": result.files}))
    return 0 if result.ok else 1


def register(subparsers) -> None:
    i = subparsers.add_parser(
        "ingest", help="store every speaker's listens from MQTT (runs until stopped)")
    add_connection_args(i)
    i.add_argument("--db", type=Path, required=True, help="the listen store (SQLite)")
    i.add_argument("--share", metavar="GROUP",
                   help="MQTT 5 shared subscription: workers in GROUP split the load")
    i.add_argument("--base-topic", default=BASE_TOPIC)
    i.add_argument("--client-id", help="MQTT client id (default: moodspeaker-ingest-<host>"
                   "[-GROUP]); each worker needs its own")
    i.set_defaults(handler=cmd_ingest)

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
    p.set_defaults(handler=cmd_publish)
