"""What both command lines share: subcommands from modules, logging, user errors."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Callable, Sequence

from device.shared.errors import UserError


def package_version() -> str:
    """The installed package's version: the one place it is written is pyproject.toml."""
    try:
        return importlib.metadata.version("moodspeaker")
    except importlib.metadata.PackageNotFoundError:  # a bare checkout, never pip-installed
        return "unknown (not installed)"


def positive_int(text: str) -> int:
    """An argparse type for counts: ``-n -1`` is a mistake, not "everything"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive count")
    return value


Subparsers = argparse._SubParsersAction
Register = Callable[[Subparsers], None]


def build_parser(prog: str, description: str,
                 registers: Sequence[Register]) -> argparse.ArgumentParser:
    """A parser whose subcommands each ``register(subparsers)`` adds. They add only the
    arguments, and name each handler as ``"module:function"`` (see ``resolve``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in registers:
        register(sub)
    return parser


Handler = Callable[[argparse.Namespace], int | None]


def resolve(handler: Handler | str) -> Handler:
    """A subcommand's handler: a function, or ``"package.module:function"``, imported only
    when that subcommand runs, so that listing the commands (``--help``) or running one
    loads none of the others' dependencies (TensorFlow, the whole speaker)."""
    if not isinstance(handler, str):
        return handler
    module, _, name = handler.partition(":")
    function: Handler = getattr(importlib.import_module(module), name)
    return function


def run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, set up logging, call the handler; a UserError prints one line, exit 2."""
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(resolve(args.handler)(args) or 0)
    except UserError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
