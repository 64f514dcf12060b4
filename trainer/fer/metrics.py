"""Classification metrics for FER: 7-class and 4-mood accuracy, per-class P/R/F1, confusion.

The 4-mood figure is computed exactly as the device computes a mood: label probabilities
summed through the manifest's label -> mood mapping (device.shared.manifest.FerSpec), on the faces
whose true label is angry, happy, sad or neutral.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from device.shared.moods import MOODS

#: The faces the 4-mood accuracy is measured on: FER2013 label -> true mood.
MOOD_OF_TRUE_LABEL = {"angry": "angry", "happy": "happy", "sad": "sad", "neutral": "neutral"}


@dataclass
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class FerMetrics:
    n: int
    accuracy: float
    n_mood: int
    mood_accuracy: float
    per_class: dict[str, ClassScores]
    per_mood: dict[str, ClassScores]
    confusion: list[list[int]]  # rows true, columns predicted, label order
    mood_confusion: list[list[int]]  # MOODS order

    def to_dict(self) -> dict:
        return asdict(self)


def confusion_matrix(true: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (true, pred), 1)
    return cm


def class_scores(cm: np.ndarray, names) -> dict[str, ClassScores]:
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        name: ClassScores(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, name in enumerate(names)
    }


def true_moods(label_names) -> np.ndarray:
    """Per label index: the MOODS index of a face with that true label, or -1 (not scored)."""
    return np.array([MOODS.index(MOOD_OF_TRUE_LABEL[name]) if name in MOOD_OF_TRUE_LABEL
                     else -1 for name in label_names])  # fmt: skip


def compute_metrics(
    probs: np.ndarray, labels: np.ndarray, label_names, label_to_mood: np.ndarray
) -> FerMetrics:
    """``probs`` (N, L); ``labels`` (N,) true label indices; ``label_to_mood`` (L, 4)."""
    k = len(label_names)
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(labels, pred, k)
    true_mood = true_moods(label_names)[labels]
    keep = true_mood >= 0
    mood_pred = (probs[keep] @ label_to_mood).argmax(axis=1)
    mcm = confusion_matrix(true_mood[keep], mood_pred, len(MOODS))
    return FerMetrics(
        n=len(labels),
        accuracy=float((pred == labels).mean()) if len(labels) else 0.0,
        n_mood=int(keep.sum()),
        mood_accuracy=float((mood_pred == true_mood[keep]).mean()) if keep.any() else 0.0,
        per_class=class_scores(cm, label_names),
        per_mood=class_scores(mcm, MOODS),
        confusion=cm.tolist(),
        mood_confusion=mcm.tolist(),
    )
