"""From a detected face box to the classifier's real-valued input tensor.

The crop is square around the box centre, widened (or narrowed) by a margin so that it
frames the face the way FER2013's registration did (see ``estimator.DEFAULT_MARGIN``).
Areas outside the frame are filled by edge replication rather than black, which the model
never saw in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h



def to_gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(frame, code)
    raise ValueError(f"unsupported frame shape {frame.shape}")


def crop_face(gray: np.ndarray, box: Box, margin: float, side: int) -> np.ndarray:
    """Square crop around ``box``, each side widened by ``margin`` x box size, resized."""
    size = max(box.w, box.h) * (1.0 + 2.0 * margin)
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    x0, y0 = round(cx - size / 2), round(cy - size / 2)
    x1, y1 = x0 + round(size), y0 + round(size)
    h, w = gray.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = gray[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if crop.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(crop, (side, side), interpolation=interp)


def to_input(face: np.ndarray, input_range: tuple[float, float]) -> np.ndarray:
    """uint8 face (H, W) -> float32 (1, H, W, 1) with pixel 0 -> lo and 255 -> hi."""
    lo, hi = input_range
    real = lo + (hi - lo) * (face.astype(np.float32) / 255.0)
    return real[None, :, :, None]
