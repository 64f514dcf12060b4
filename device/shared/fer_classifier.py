"""The FER classifier: a TFLite model checked against its manifest entry before use."""

from __future__ import annotations

import numpy as np

from device.shared.manifest import FerSpec, ManifestError, verify_file
from device.shared.tflite import TFLiteModel


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


class FerClassifier:
    def __init__(self, spec: FerSpec, threads: int = 1, runtime: str | None = None,
                 verify: bool = True):
        """``verify=False`` skips the sha256 check: for a model being evaluated before it
        has a manifest entry (trainer, benchmarks), never on the device."""
        if verify:
            verify_file(spec.path, spec.sha256)
        self.spec = spec
        self.model = TFLiteModel(spec.path, threads=threads, runtime=runtime)
        if self.model.input_shape != tuple(spec.input_shape):
            raise ManifestError(
                f"{spec.path}: input shape {list(self.model.input_shape)} does not match "
                f"the manifest's {list(spec.input_shape)}"
            )
        if self.model.output_shape[-1] != len(spec.labels):
            raise ManifestError(
                f"{spec.path}: model has {self.model.output_shape[-1]} outputs but the "
                f"manifest names {len(spec.labels)} labels"
            )
        self._to_mood = spec.label_to_mood_matrix()

    @property
    def side(self) -> int:
        return self.spec.input_shape[1]

    def probabilities(self, real_input: np.ndarray) -> np.ndarray:
        """Label probabilities for one (1, H, W, 1) real-valued input."""
        return self.to_probabilities(self.model.run(real_input)[0])

    def to_probabilities(self, output: np.ndarray) -> np.ndarray:
        """Label probabilities from one row of the model's raw output (logits or not)."""
        out = output.astype(np.float64)
        if self.spec.output == "logits":
            return softmax(out)
        probs = out
        total = probs.sum()
        return probs / total if total > 0 else np.full_like(probs, 1.0 / len(probs))

    def mood_probabilities(self, probs: np.ndarray) -> np.ndarray:
        """Sum label probabilities into the four moods; labels mapped to null are left out."""
        moods = probs @ self._to_mood
        total = moods.sum()
        return moods / total if total > 0 else np.full_like(moods, 1.0 / len(moods))
