"""``moodspeaker-train``: the desktop trainer. Each area registers its own subcommands (its
``cli`` module: the arguments only; each handler is imported when its subcommand runs)."""

from __future__ import annotations

import argparse
import sys

from device.shared import clirunner
from trainer.fer import cli as fer_cli
from trainer.music_mood import cli as music_mood_cli
from trainer.provision import cli as provision_cli
from trainer.sync import cli as sync_cli
from trainer.sync import rollout_cli
from trainer.taste import cli as taste_cli


def build_parser() -> argparse.ArgumentParser:
    return clirunner.build_parser(
        "moodspeaker-train", "Train Moodspeaker's models and export them.",
        (fer_cli.register, taste_cli.register, sync_cli.register, music_mood_cli.register,
         provision_cli.register, rollout_cli.register),
    )


def main(argv: list[str] | None = None) -> int:
    return clirunner.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
