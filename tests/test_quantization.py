"""Preprocessing and int8 quantization arithmetic, as the device applies them."""

from __future__ import annotations

import numpy as np

from device.shared.fer_input import Box, crop_face, to_gray, to_input
from device.shared.tflite import Quantization


def test_pixel_range_quantizes_exactly_with_unit_range():
    # The exported model takes [0, 1] with scale 1/255, zero point -128: pixel p -> p - 128.
    q = Quantization(scale=1 / 255, zero_point=-128, dtype=np.dtype(np.int8))
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    real = to_input(pixels, (0.0, 1.0))
    assert real.shape == (1, 16, 16, 1) and real.dtype == np.float32
    np.testing.assert_array_equal(q.quantize(real)[0, :, :, 0], pixels.astype(np.int16) - 128)


def test_quantize_saturates_and_round_trips():
    q = Quantization(scale=0.5, zero_point=10, dtype=np.dtype(np.int8))
    real = np.array([-1000.0, -1.0, 0.0, 0.26, 1000.0])
    quantized = q.quantize(real)
    assert quantized.tolist() == [-128, 8, 10, 11, 127]
    np.testing.assert_allclose(q.dequantize(quantized)[1:4], [-1.0, 0.0, 0.5])


def test_float_tensor_passes_through():
    q = Quantization(scale=0.0, zero_point=0, dtype=np.dtype(np.float32))
    assert not q.quantized
    x = np.array([0.25, -3.0], dtype=np.float64)
    assert q.quantize(x).dtype == np.float32
    np.testing.assert_array_equal(q.dequantize(q.quantize(x)), x.astype(np.float32))


def test_input_range_maps_pixel_ends():
    real = to_input(np.array([[0, 255]], dtype=np.uint8), (-1.0, 1.0))
    np.testing.assert_allclose(real.ravel(), [-1.0, 1.0])


def test_crop_face_square_with_margin_and_edge_padding():
    gray = np.zeros((100, 200), dtype=np.uint8)
    gray[40:60, 90:110] = 255  # a bright 20x20 "face"
    crop = crop_face(gray, Box(90, 40, 20, 20), margin=0.5, side=40)
    assert crop.shape == (40, 40)
    # margin 0.5 doubles the side: the face fills the central half of the crop
    assert crop[15:25, 15:25].min() > 200 and crop[:5, :5].max() < 50
    # a box at the corner is padded by replicating the edge, not with black
    gray[:] = 90
    corner = crop_face(gray, Box(0, 0, 30, 30), margin=0.25, side=48)
    assert corner.shape == (48, 48) and int(corner.min()) == 90


def test_to_gray_accepts_gray_bgr_bgra():
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 2] = 255  # red
    assert to_gray(bgr).shape == (4, 5) and 70 < to_gray(bgr)[0, 0] < 80
    assert to_gray(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5)
    assert to_gray(np.zeros((4, 5), np.uint8)).shape == (4, 5)
