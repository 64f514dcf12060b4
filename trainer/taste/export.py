"""Write ``taste.npz`` and its ``taste`` section of ``manifest.json`` (device format)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.shared.genres import GENRES
from device.shared.manifest import file_sha256, write_entry
from device.shared.moods import MOODS
from device.shared.taste import FORMAT, validate_taste_arrays

FILE_NAME = "taste.npz"


@dataclass(frozen=True)
class TasteArtifact:
    arrays: dict[str, np.ndarray]
    info: dict[str, Any]


def export(artifact: TasteArtifact, out_dir: Path) -> Path:
    """Validate with the device's own reader, then write atomically and record the sha256."""
    arrays = {
        "moods": np.array(MOODS),
        "genres": np.array(GENRES),
        "format": np.array(FORMAT),
        **artifact.arrays,
    }
    validate_taste_arrays(arrays, "taste artifact being exported")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    buffer = io.BytesIO()
    # numpy's stub lets a **dict meet allow_pickle: bool as well as **kwds
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    tmp = path.with_suffix(".npz.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)
    entry = {"file": FILE_NAME, "sha256": file_sha256(path), "format": FORMAT, **artifact.info}
    write_entry(out_dir, "taste", entry)
    return path
