"""``moodspeaker``: the speaker's command line. Each subcommand lives in ``device.commands``."""

from __future__ import annotations

import argparse
import sys

from . import clirunner

#: Modules with a ``register(subparsers)`` function; imported cheaply, heavy work in handlers.
COMMAND_MODULES: tuple[str, ...] = (
    "device.commands.mood",
    "device.commands.run",
    "device.commands.demo",
    "device.commands.library",
    "device.commands.pick",
    "device.commands.journal",
    "device.commands.user",
    "device.commands.install",
)


def build_parser() -> argparse.ArgumentParser:
    return clirunner.build_parser("moodspeaker", "Mood-aware music speaker.", COMMAND_MODULES)


def main(argv: list[str] | None = None) -> int:
    return clirunner.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
