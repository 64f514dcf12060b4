"""Run a TFLite FER model over a FER2013 split with the device's own code path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.perception.preprocess import to_input
from device.perception.runtime import TFLiteModel

from .dataset import FerData


def predict(
    model_path: Path,
    data: FerData,
    input_range: tuple[float, float],
    runtime: str | None = None,
    threads: int = 2,
    progress: bool = False,
) -> np.ndarray:
    """Probabilities (N, labels) for every face, one face per invoke as on the device."""
    model = TFLiteModel(model_path, threads=threads, runtime=runtime)
    out = np.zeros((len(data), model.output_shape[-1]), dtype=np.float32)
    faces = data.images
    if progress:
        from tqdm import tqdm

        faces = tqdm(faces, desc=f"evaluate {model_path.name}", unit="face", leave=False)
    for i, face in enumerate(faces):
        out[i] = model.run(to_input(face, input_range))[0]
    return out
