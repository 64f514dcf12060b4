"""Camera sources behind one interface (``FrameSource``): picamera2, OpenCV, replay."""

from device.perception.camera.base import CameraError, FrameSource
from device.perception.camera.factory import open_source

__all__ = ["CameraError", "FrameSource", "open_source"]
