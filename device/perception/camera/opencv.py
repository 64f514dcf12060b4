"""A V4L2 / USB camera through OpenCV (``opencv:0`` or ``opencv:/dev/video0``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import cv2
import numpy as np

from device.perception.camera.base import CameraError, FrameSource


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's native log (written straight to fd 2) for one call."""
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


class OpenCvSource(FrameSource):
    name = "opencv"

    def __init__(self, device: str, width: int = 640, height: int = 480):
        self.device: int | str = int(device) if device.isdigit() else device
        self.size = (width, height)
        self._cap: cv2.VideoCapture | None = None

    @property
    def node(self) -> str:
        """The device file: V4L2 maps index N to /dev/videoN."""
        return f"/dev/video{self.device}" if isinstance(self.device, int) else self.device

    def open(self) -> None:
        node = self.node
        if node.startswith("/dev/") and not os.path.exists(node):
            raise CameraError(f"opencv: no camera at {node} (unplugged?)")
        if node.startswith("/dev/") and not os.access(node, os.R_OK | os.W_OK):
            raise CameraError(f"opencv: no permission to open {node} "
                              "(is the service user in the 'video' group?)")
        backend = cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY
        with _quiet_opencv():  # our one-line error says it; a retry loop must not spam
            cap = cv2.VideoCapture(self.device, backend)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"opencv: cannot open camera {node}")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # at 2 fps we want the newest frame, not a queue
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError("opencv: not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise CameraError(f"opencv: camera {self.node} returned no frame")
        return frame

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
