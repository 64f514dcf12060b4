"""Whose inputs are whose: ``--user NAME`` for one person, a people file for a household.

The people file (TOML), one table per person, paths relative to the file::

    [ann]
    posts = ["ann/archive-20240315.tar.gz"]
    listens = ["ann/my_spotify_data.zip", "ann/scrobbles.csv"]

    [bo]
    posts = "bo/weibo.csv"
    listens = "bo/spotify"
    listeners = ["bo@kitchen", "bo@bedroom"]  # the ingest store's rows that are bo's

In the ingest store (every speaker's listens) a listener is the user on a speaker,
``user@device``: the same name on two speakers is two people until ``listeners`` says
they are one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from device.shared.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Input:
    path: Path | str  # a str only for a store URL (``postgresql://...``)
    role: str  # "posts" | "listens"
    owner: str | None  # None: the rows name their user (project tables, the journal)


def read_people(path: Path) -> list[Input]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the people file: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    inputs: list[Input] = []
    for person, entry in data.items():
        if not isinstance(entry, dict):
            raise UserError(f"{path}: [{person}] must be a table with posts and listens")
        if not person.strip():
            raise UserError(f"{path}: a person needs a name")
        unknown = set(entry) - {"posts", "listens", "listeners"}
        if unknown:
            raise UserError(f"{path}: [{person}]: unknown key(s) {', '.join(sorted(unknown))} "
                            "(expected posts, listens, listeners)")  # fmt: skip
        for role in ("posts", "listens"):
            value = entry.get(role, [])
            files = [value] if isinstance(value, str) else value
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise UserError(f"{path}: [{person}] {role} must be a path or a list of paths")
            inputs += [Input(path.parent / Path(f).expanduser(), role, person.strip())
                       for f in files]  # fmt: skip
    if not inputs and not read_listeners(path):
        raise UserError(f"{path}: names nobody's posts or listens")
    return inputs


def read_listeners(path: Path) -> dict[str, str]:
    """``user@device`` -> person, from each person's ``listeners`` (a listener belongs to
    one person only)."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))  # read_people checked it
    out: dict[str, str] = {}
    for person, entry in data.items():
        names = entry.get("listeners", []) if isinstance(entry, dict) else []
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not all(isinstance(n, str) and "@" in n
                                                  for n in names):
            raise UserError(f"{path}: [{person}] listeners must be a list of user@device")
        for name in names:
            if out.get(name, person.strip()) != person.strip():
                raise UserError(f"{path}: listener {name} is both {out[name]}'s and "
                                f"{person}'s")
            out[name] = person.strip()
    return out
