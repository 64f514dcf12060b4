"""The active listener, in one place: ``<state>/active_user``.

It is the one source of truth: the ``user`` command and ``moodspeaker user NAME`` both
write it (atomically), the running speaker follows it within a tick, and it survives
restarts; ``[user] active`` is only the default until it exists.
"""

from __future__ import annotations

import os
from pathlib import Path

from device.system.config import Config


def user_file(cfg: Config) -> Path:
    return cfg.state.dir / "active_user"


def active_user(cfg: Config) -> str:
    try:
        return user_file(cfg).read_text(encoding="utf-8").strip() or cfg.user.active
    except OSError:
        return cfg.user.active


def write_active_user(path: Path, name: str) -> None:
    """Replace the file in one rename: a reader never sees half a name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, path)
