"""Face detection with OpenCV's pretrained Haar cascade (the paper's choice; cheap on a Pi)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import cv2.data  # the bundled cascades' folder (opencv's stubs need it imported)
import numpy as np

from device.shared.fer_input import Box
from device.shared.tflite import ModelLoadError


@dataclass(frozen=True)
class DetectorConfig:
    cascade: str = "haarcascade_frontalface_default.xml"
    #: frames are shrunk to this width before detection: 4x fewer pixels at 640x480,
    #: and a listener's face at speaker distance is still far above the cascade's 24 px
    detect_width: int = 320
    scale_factor: float = 1.1
    min_neighbors: int = 5
    #: smallest face, as a fraction of the shorter frame side
    min_face_fraction: float = 0.08


class HaarFaceDetector:
    def __init__(self, config: DetectorConfig | None = None):
        self.config = config or DetectorConfig()
        path = Path(self.config.cascade)
        if not path.is_absolute():
            path = Path(cv2.data.haarcascades) / path
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ModelLoadError(f"{path}: cannot load Haar cascade")

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Faces in a grayscale frame, largest first, in the frame's own coordinates."""
        cfg = self.config
        h, w = gray.shape[:2]
        scale = min(1.0, cfg.detect_width / w) if cfg.detect_width else 1.0
        small = cv2.resize(gray, (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else gray
        small = cv2.equalizeHist(small)
        min_side = max(24, int(min(small.shape[:2]) * cfg.min_face_fraction))
        found = self._cascade.detectMultiScale(
            small, scaleFactor=cfg.scale_factor, minNeighbors=cfg.min_neighbors,
            minSize=(min_side, min_side),
        )
        boxes = [
            Box(round(x / scale), round(y / scale), round(bw / scale), round(bh / scale))
            for (x, y, bw, bh) in (found if len(found) else [])
        ]
        return sorted(boxes, key=lambda b: b.area, reverse=True)
