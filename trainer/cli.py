"""``moodspeaker-train``: the desktop trainer. Each area registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from device.errors import UserError

COMMAND_MODULES: tuple[str, ...] = (
    "trainer.fer.cli",
    "trainer.taste.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moodspeaker-train", description="Train Moodspeaker's models and export them."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="area", required=True, metavar="AREA")
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
        print(f"moodspeaker-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
