"""FER network architectures, registered by name.

Every model takes ``(48, 48, 1)`` float input in ``[0, 1]`` (pixel / 255) and returns
softmax probabilities over the 7 FER2013 classes. Augmentation lives outside the model so
the exported graph is exactly what runs on the device.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from device.shared.errors import UserError

from .dataset import FER_LABELS, SIDE

INPUT_SHAPE = (SIDE, SIDE, 1)
NUM_CLASSES = len(FER_LABELS)


def _conv(x, filters: int, separable: bool = False):
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def paper_cnn() -> keras.Model:
    """The paper's network: 256-map 3x3 convolutions with ReLU, max-pooling after each
    group, dense layers and a softmax (method.md section 5). Heavy: ~19 min/epoch on 2 cores.
    """
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = inputs
    for _ in range(3):
        x = layers.Conv2D(256, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(256, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="paper_cnn")


def moodnet(width: int = 30, dropout: float = 0.4) -> keras.Model:
    """Edge network: plain 3x3 convolutions where the image is large (they carry the
    accuracy and cost few weights), depthwise-separable ones deeper down (where weights
    would otherwise pile up), global average pooling instead of a big dense head.
    ~0.23M parameters at the default width (an int8 file under 300 KB; width 32 gives
    0.26M and 306 KiB).
    """
    w = width
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = _conv(inputs, w)
    x = _conv(x, w)
    x = layers.MaxPooling2D()(x)  # 24x24
    x = _conv(x, 2 * w)
    x = _conv(x, 2 * w)
    x = layers.MaxPooling2D()(x)  # 12x12
    x = _conv(x, 4 * w)
    x = _conv(x, 4 * w, separable=True)
    x = layers.MaxPooling2D()(x)  # 6x6
    x = _conv(x, 8 * w, separable=True)
    x = _conv(x, 8 * w, separable=True)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="moodnet")


def tiny() -> keras.Model:
    """A few-thousand-parameter network for smoke tests of the whole training pipeline."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = _conv(inputs, 8)
    x = layers.MaxPooling2D(4)(x)
    x = _conv(x, 16, separable=True)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="tiny")


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {
    "moodnet": moodnet,
    "paper": paper_cnn,
    "tiny": tiny,
}


def build(name: str, width: int | None = None) -> keras.Model:
    """The named architecture; ``width`` applies to moodnet only."""
    try:
        factory = ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise UserError(f"unknown architecture {name!r} (known: {known})") from None
    if name == "moodnet" and width:
        return moodnet(width=width)
    return factory()
