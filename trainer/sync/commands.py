"""``moodspeaker-train ingest`` and ``publish``: the handlers (``trainer.sync.cli`` holds
their arguments)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading

from device.shared.errors import UserError
from device.shared.mqtt_client import settings_from_args
from device.shared.mqtt_protocol import ProtocolError, Topics

from .ingest import Ingest
from .publish import plan, publish

log = logging.getLogger(__name__)


def cmd_ingest(args: argparse.Namespace) -> int:
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

