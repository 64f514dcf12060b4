"""The Raspberry Pi camera through picamera2 (imported lazily: only the Pi has it)."""

from __future__ import annotations

import numpy as np

from device.perception.camera.base import CameraError, FrameSource


class PiCameraSource(FrameSource):
    name = "picamera2"

    def __init__(self, width: int = 640, height: int = 480, *, module=None):
        self.size = (width, height)
        self._module = module  # tests inject a fake picamera2 module here
        self._cam = None

    def open(self) -> None:
        try:
            mod = self._module
            if mod is None:
                import picamera2  # only the Pi has it (from apt)

                mod = picamera2
            cam = mod.Picamera2()
            config = cam.create_still_configuration(
                main={"size": self.size, "format": "RGB888"}, buffer_count=2
            )
            cam.configure(config)
            cam.start()
        except ImportError:
            raise CameraError(
                "picamera2 is not installed (Raspberry Pi OS: sudo apt install python3-picamera2,"
                " and create the venv with --system-site-packages)"
            ) from None
        except Exception as exc:  # the library raises RuntimeError, OSError, ...
            raise CameraError(f"picamera2: cannot start the camera: {exc}") from None
        self._cam = cam

    def read(self) -> np.ndarray:
        if self._cam is None:
            raise CameraError("picamera2: not open")
        try:
            # "RGB888" in libcamera terms is BGR byte order in numpy: what OpenCV expects.
            frame = self._cam.capture_array("main")
        except Exception as exc:
            raise CameraError(f"picamera2: capture failed: {exc}") from None
        if frame is None or frame.size == 0:
            raise CameraError("picamera2: empty frame")
        return np.ascontiguousarray(frame[:, :, :3]) if frame.ndim == 3 else frame

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
                cam.close()
            except Exception:  # closing a failed camera must not mask the first error
                pass
