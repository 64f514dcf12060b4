"""A training loss and metric that see the four product moods, not just the 7 labels.

The speaker only acts on moods: label probabilities summed through the manifest's label ->
mood mapping (``export.DEFAULT_MOODS`` as a ``device.shared.manifest.mood_matrix``).
``MoodAwareLoss`` adds that 4-mood cross-entropy to the usual 7-class one, so training also
pays for mass a sad face puts on neutral, and ``MoodAccuracy`` is the 4-mood accuracy
exactly as ``metrics.py`` computes it, available for checkpoint selection. Both are
Keras-serialisable so checkpoints resume.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .dataset import FER_LABELS
from .metrics import true_moods


@keras.saving.register_keras_serializable(package="moodspeaker")
class MoodAwareLoss(keras.losses.Loss):
    """7-class cross-entropy + ``weight`` x cross-entropy of the mood sums.

    The mood target is the (soft) label target summed through the mapping, so a fear face
    adds nothing to the mood term and a face whose FER+ votes split sad/neutral keeps
    that split.
    """

    def __init__(self, mapping, weight: float = 1.0, name: str = "mood_aware_ce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mapping = np.asarray(mapping, dtype=np.float32).tolist()
        self.weight = float(weight)

    def call(self, y_true, y_pred):
        eps = 1e-7
        m = ops.convert_to_tensor(self.mapping, dtype=y_pred.dtype)
        ce = -ops.sum(y_true * ops.log(ops.clip(y_pred, eps, 1.0)), axis=-1)
        target, mass = ops.matmul(y_true, m), ops.matmul(y_pred, m)
        q = mass / (ops.sum(mass, axis=-1, keepdims=True) + eps)
        ce_mood = -ops.sum(target * ops.log(ops.clip(q, eps, 1.0)), axis=-1)
        return ce + self.weight * ce_mood

    def get_config(self):
        return {**super().get_config(), "mapping": self.mapping, "weight": self.weight}


@keras.saving.register_keras_serializable(package="moodspeaker")
class MoodAccuracy(keras.metrics.Metric):
    """4-mood accuracy on the faces whose label is angry, happy, sad or neutral."""

    def __init__(self, mapping, name: str = "mood_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mapping = np.asarray(mapping, dtype=np.float32).tolist()
        self.true_mood = true_moods(FER_LABELS).tolist()
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        m = ops.convert_to_tensor(self.mapping, dtype=y_pred.dtype)
        truth = ops.take(ops.convert_to_tensor(self.true_mood), ops.argmax(y_true, axis=-1))
        keep = ops.cast(truth >= 0, "float32")
        pred = ops.argmax(ops.matmul(y_pred, m), axis=-1)
        hit = ops.cast(ops.equal(ops.cast(pred, "int32"), ops.cast(truth, "int32")), "float32")
        self.hits.assign_add(ops.sum(hit * keep))
        self.total.assign_add(ops.sum(keep))

    def result(self):
        return self.hits / ops.maximum(self.total, 1.0)

    def reset_state(self):
        self.hits.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "mapping": self.mapping}
