"""Training targets and sample weights (trainer.fer.train.prepare): pure numpy, no Keras."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.fer.dataset import FERPLUS_COLUMNS, FerData
from trainer.fer.train import TrainConfig, prepare


def _votes(**counts: int) -> list[float]:
    return [float(counts.get(c, 0)) for c in FERPLUS_COLUMNS]


@pytest.fixture
def train() -> FerData:
    votes = np.array([
        _votes(happiness=10),           # happy, agreed
        _votes(sadness=4, neutral=6),   # labelled sad, FER+ majority neutral: disputed
        _votes(neutral=10),             # neutral, agreed
        _votes(NF=8, neutral=2),        # not a face
    ], dtype=np.float32)  # fmt: skip
    return FerData(
        images=np.zeros((4, 48, 48), np.uint8),
        labels=np.array([3, 4, 6, 6]),
        usage=np.array(["Training"] * 4),
        votes=votes,
    )


@pytest.fixture
def val() -> FerData:
    return FerData(np.zeros((1, 48, 48), np.uint8), np.array([0]), np.array(["PublicTest"]), None)


def test_targets_mix_label_and_votes_and_drop_non_faces(train, val):
    data = prepare(train, val, TrainConfig(hard_label_weight=0.7, class_balance=0.0))
    assert len(data.y_train) == 3  # the not-a-face row is gone
    np.testing.assert_allclose(data.y_train.sum(axis=1), 1.0, atol=1e-6)
    sad = data.y_train[1]
    assert sad[4] == pytest.approx(0.7 + 0.3 * 0.4)
    assert sad[6] == pytest.approx(0.3 * 0.6)
    np.testing.assert_allclose(data.w_train, 1.0)


def test_disputed_weight_scales_only_disputed_faces(train, val):
    cfg = TrainConfig(hard_label_weight=1.0, class_balance=0.0, disputed_weight=2.0)
    w = prepare(train, val, cfg).w_train
    assert w.mean() == pytest.approx(1.0)
    assert w[1] == pytest.approx(2 * w[0])
    assert w[0] == pytest.approx(w[2])


def test_class_balance_weights_rare_classes_up(train, val):
    w = prepare(train, val, TrainConfig(class_balance=1.0, drop_not_face=False)).w_train
    # neutral appears twice, happy and sad once each
    assert w[0] == pytest.approx(w[1])
    assert w[0] == pytest.approx(2 * w[2])
