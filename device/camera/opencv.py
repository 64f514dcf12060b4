"""A V4L2 / USB camera through OpenCV (``opencv:0`` or ``opencv:/dev/video0``)."""

from __future__ import annotations

import numpy as np

from .base import CameraError, FrameSource


class OpenCvSource(FrameSource):
    name = "opencv"

    def __init__(self, device: str, width: int = 640, height: int = 480):
        self.device: int | str = int(device) if device.isdigit() else device
        self.size = (width, height)
        self._cap = None

    def open(self) -> None:
        import cv2

        backend = cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY
        cap = cv2.VideoCapture(self.device, backend)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"opencv: cannot open camera {self.device!r}")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # at 2 fps we want the newest frame, not a queue
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError("opencv: not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraError(f"opencv: camera {self.device!r} returned no frame")
        return frame

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
