"""``moodspeaker``: the speaker's command line. Each subcommand lives in ``device.commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import UserError

#: Modules with a ``register(subparsers)`` function; imported cheaply, heavy work in handlers.
COMMAND_MODULES: tuple[str, ...] = (
    "device.commands.mood",
    "device.commands.run",
    "device.commands.demo",
    "device.commands.library",
    "device.commands.journal",
    "device.commands.user",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moodspeaker", description="Mood-aware music speaker."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"moodspeaker: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
