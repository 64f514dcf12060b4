"""Keras model -> TFLite: float32 for reference, full-integer int8 for the device.

Full-integer quantization (int8 input and output too) needs a representative dataset to
calibrate activation ranges; a few hundred real training faces cover the range well.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def _converter(model):
    import tensorflow as tf  # heavy (TensorFlow, ~7 s): only training and export need it

    # Keras 3 models convert most reliably through a SavedModel export.
    tmp = tempfile.mkdtemp(prefix="moodspeaker-export-")
    model.export(tmp, format="tf_saved_model", verbose=False)
    return tf.lite.TFLiteConverter.from_saved_model(tmp)


def to_float_tflite(model) -> bytes:
    return _converter(model).convert()


def to_int8_tflite(model, representative: np.ndarray, samples: int = 500, seed: int = 0) -> bytes:
    """``representative``: float32 (N, H, W, 1) inputs in [0, 1] (pixel / 255)."""
    import tensorflow as tf  # heavy (TensorFlow, ~7 s): only training and export need it

    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(representative))[:samples]

    def gen():
        # Black and white frames pin the input range to exactly [0, 1], so the int8
        # input scale is 1/255 and every pixel value quantizes without rounding error.
        shape = (1, *representative.shape[1:])
        yield [np.zeros(shape, np.float32)]
        yield [np.ones(shape, np.float32)]
        for i in pick:
            yield [representative[i : i + 1].astype(np.float32)]

    converter = _converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def write(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
