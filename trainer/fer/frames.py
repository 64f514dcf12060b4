"""Camera-like frames built from FER2013 faces, for tests, benchmarks and the demo.

A FER2013 image is a tight 48x48 crop; pasted bare onto a flat background the Haar
cascade misses about half of them for lack of context. Extending the crop by replicating
its border gives the cascade a hairline and chin to work with, as a real frame would.
"""

from __future__ import annotations

import cv2
import numpy as np


def face_in_frame(
    face: np.ndarray,
    x: int,
    y: int,
    side: int = 160,
    context: float = 0.15,
    size: tuple[int, int] = (480, 640),
    background: int = 120,
) -> np.ndarray:
    """Gray ``size`` frame with ``face`` upscaled to ``side`` px, its top-left at (x, y)."""
    pad = round(face.shape[0] * context)
    padded = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    full = round(side * padded.shape[0] / face.shape[0])
    big = cv2.resize(padded, (full, full), interpolation=cv2.INTER_CUBIC)
    frame = np.full(size, background, np.uint8)
    off = round(side * pad / face.shape[0])
    x0, y0 = x - off, y - off
    sx0, sy0 = max(0, -x0), max(0, -y0)
    x1, y1 = min(size[1], x0 + full), min(size[0], y0 + full)
    frame[max(0, y0) : y1, max(0, x0) : x1] = big[sy0 : sy0 + y1 - max(0, y0),
                                                  sx0 : sx0 + x1 - max(0, x0)]
    return frame
