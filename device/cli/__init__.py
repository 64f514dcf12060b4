"""``moodspeaker``: the speaker's command line. Each subcommand lives in ``device.cli``."""

from __future__ import annotations

import argparse
import sys

from device.shared import clirunner

#: Modules with a ``register(subparsers)`` function; imported cheaply, heavy work in handlers.
COMMAND_MODULES: tuple[str, ...] = (
    "device.cli.mood",
    "device.cli.run",
    "device.cli.demo",
    "device.cli.library",
    "device.cli.pick",
    "device.cli.journal",
    "device.cli.user",
    "device.cli.install",
)


def build_parser() -> argparse.ArgumentParser:
    return clirunner.build_parser("moodspeaker", "Mood-aware music speaker.", COMMAND_MODULES)


def main(argv: list[str] | None = None) -> int:
    return clirunner.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
