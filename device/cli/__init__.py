"""``moodspeaker``: the speaker's command line. The arguments are in ``device.cli.parser``;
each subcommand's handler lives in its own module of ``device.cli``."""

from __future__ import annotations

from device.cli.parser import build_parser
from device.shared import clirunner

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    return clirunner.run(build_parser(), argv)
