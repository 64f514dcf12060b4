"""The factory that reads ``camera.source``: the one module that knows every camera."""

from __future__ import annotations

from device.perception.camera.base import FrameSource
from device.perception.camera.opencv import OpenCvSource
from device.perception.camera.picamera import PiCameraSource
from device.perception.camera.replay import ReplaySource
from device.shared.errors import UserError


def open_source(spec: str, *, width: int = 640, height: int = 480, fps: float = 2.0,
                replay_repeat: int = 1, replay_loop: bool = True) -> FrameSource:
    """Build (not open) the source named by ``camera.source``."""
    if spec == "picamera2":
        return PiCameraSource(width=width, height=height)
    kind, _, arg = spec.partition(":")
    if kind == "opencv" and arg:
        return OpenCvSource(arg, width=width, height=height)
    if kind == "replay" and arg:
        return ReplaySource(arg, repeat=replay_repeat, loop=replay_loop, fps=fps)
    raise UserError(f"camera.source: {spec!r} is not 'picamera2', 'opencv:N' or 'replay:PATH'")
