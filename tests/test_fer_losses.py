"""The mood-aware loss and the 4-mood metric used for checkpoint selection."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from device.shared.manifest import mood_matrix  # noqa: E402
from trainer.fer.dataset import FER_LABELS  # noqa: E402
from trainer.fer.export import DEFAULT_MOODS  # noqa: E402
from trainer.fer.losses import MoodAccuracy, MoodAwareLoss  # noqa: E402
from trainer.fer.metrics import compute_metrics  # noqa: E402

MAPPING = mood_matrix(FER_LABELS, DEFAULT_MOODS)


def _probs(n: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).normal(size=(n, 7)) * 2
    p = np.exp(z)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def test_mapping_rows_follow_the_manifest_moods():
    assert MAPPING.shape == (7, 4)
    assert MAPPING[FER_LABELS.index("fear")].sum() == 0  # fear has no mood
    assert MAPPING[FER_LABELS.index("disgust")].argmax() == MAPPING[0].argmax()  # -> angry


def test_mood_aware_loss_is_cross_entropy_plus_weighted_mood_term():
    y_true = np.eye(7, dtype=np.float32)[[4, 4, 2, 6]]  # sad, sad, fear, neutral
    y_true[1] = 0.7 * y_true[1] + 0.3 * np.eye(7)[6]  # soft: some neutral votes
    y_pred = _probs(4, 0)
    ce = -(y_true * np.log(y_pred)).sum(axis=1)
    q = y_pred @ MAPPING
    q /= q.sum(axis=1, keepdims=True)
    ce_mood = -((y_true @ MAPPING) * np.log(q)).sum(axis=1)
    assert ce_mood[2] == 0  # a fear face adds nothing to the mood term
    loss = MoodAwareLoss(MAPPING, weight=0.5, reduction=None)
    got = keras.ops.convert_to_numpy(loss(y_true, y_pred))
    assert got == pytest.approx(ce + 0.5 * ce_mood, rel=1e-4)
    plain = MoodAwareLoss(MAPPING, weight=0.0, reduction=None)
    assert keras.ops.convert_to_numpy(plain(y_true, y_pred)) == pytest.approx(ce, rel=1e-4)
    clone = MoodAwareLoss.from_config(loss.get_config())
    assert clone.weight == 0.5 and np.array_equal(clone.mapping, loss.mapping)


def test_mood_accuracy_matches_the_report_metric():
    labels = np.random.default_rng(1).integers(7, size=300)
    probs = _probs(300, 2)
    metric = MoodAccuracy(MAPPING)
    metric.update_state(np.eye(7, dtype=np.float32)[labels[:120]], probs[:120])
    metric.update_state(np.eye(7, dtype=np.float32)[labels[120:]], probs[120:])  # batches add
    expected = compute_metrics(probs, labels, FER_LABELS, MAPPING).mood_accuracy
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0
