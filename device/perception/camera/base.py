"""The one interface every camera implements, and the factory that reads ``camera.source``."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from device.shared.errors import UserError


class CameraError(Exception):
    """The camera could not be opened or stopped delivering frames (retried, not fatal)."""


class FrameSource(ABC):
    """A camera: ``open()``, then ``read()`` one BGR or gray uint8 frame at a time.

    Frames stay in memory: a source never writes them anywhere. ``read()`` raises
    CameraError on failure; the caller closes the source and retries with backoff.
    """

    name: str = "camera"

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def read(self) -> np.ndarray: ...

    def close(self) -> None:  # noqa: B027 - optional hook, most sources need it
        pass

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(spec: str, *, width: int = 640, height: int = 480, fps: float = 2.0,
                replay_repeat: int = 1, replay_loop: bool = True) -> FrameSource:
    """Build (not open) the source named by ``camera.source``."""
    if spec == "picamera2":
        from device.perception.camera.picamera import PiCameraSource

        return PiCameraSource(width=width, height=height)
    kind, _, arg = spec.partition(":")
    if kind == "opencv" and arg:
        from device.perception.camera.opencv import OpenCvSource

        return OpenCvSource(arg, width=width, height=height)
    if kind == "replay" and arg:
        from device.perception.camera.replay import ReplaySource

        return ReplaySource(arg, repeat=replay_repeat, loop=replay_loop, fps=fps)
    raise UserError(f"camera.source: {spec!r} is not 'picamera2', 'opencv:N' or 'replay:PATH'")
