"""``moodspeaker-train``: the desktop trainer. Each area registers its own subcommands."""

from __future__ import annotations

import argparse
import sys

from device.shared import clirunner

COMMAND_MODULES: tuple[str, ...] = (
    "trainer.fer.cli",
    "trainer.taste.cli",
    "trainer.sync.cli",
    "trainer.music_mood.cli",
)


def build_parser() -> argparse.ArgumentParser:
    return clirunner.build_parser(
        "moodspeaker-train", "Train Moodspeaker's models and export them.", COMMAND_MODULES
    )


def main(argv: list[str] | None = None) -> int:
    return clirunner.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
