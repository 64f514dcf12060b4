"""Write the fitted music-mood model (``music_mood.npz``) and its manifest entry."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from device.shared.audio_features import EXTRACTOR_VERSION, ExtractorParams, feature_names
from device.shared.manifest import file_sha256, write_entry

from .train import FittedModel

FILE_NAME = "music_mood.npz"


def export(model: FittedModel, out: str | Path, params: ExtractorParams,
           info: dict[str, Any]) -> Path:
    """Save the arrays (float32, no pickle) atomically, then the ``music_mood`` entry."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE_NAME
    tmp = out / (FILE_NAME + ".tmp.npz")
    trees = {} if model.trees is None else {
        **model.trees.arrays(), "tree_weight": np.float64(model.tree_weight)}
    np.savez_compressed(
        tmp,
        mean=model.mean.astype(np.float32), scale=model.scale.astype(np.float32),
        coef=model.coef.astype(np.float32), intercept=model.intercept.astype(np.float32),
        **trees,
    )
    os.replace(tmp, path)
    entry = {
        "file": FILE_NAME,
        "sha256": file_sha256(path),
        "extractor_version": EXTRACTOR_VERSION,
        "extractor_params": params.as_dict(),
        "features": list(feature_names(params)),
        "outputs": ["valence", "arousal"],
        "output_range": [-1.0, 1.0],
        "model": "multinomial logistic regression over Q1..Q4 on standardised features"
                 + ("" if model.trees is None else
                    f", averaged with {len(model.trees.root)} extra trees (weight "
                    f"{model.tree_weight:g})"),
        "classes": ["Q1 happy/excited", "Q2 angry/tense", "Q3 sad", "Q4 calm"],
        "l2_c": model.c,
        "size_bytes": path.stat().st_size,
        **info,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_entry(out, "music_mood", entry)
    return path


def metadata_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
