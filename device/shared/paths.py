"""Where the shipped artifacts live when nothing else is configured."""

from __future__ import annotations

import os
from pathlib import Path


def default_models_dir() -> Path:
    """``$MOODSPEAKER_MODELS``, else the ``models/`` folder of this checkout."""
    env = os.environ.get("MOODSPEAKER_MODELS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"
