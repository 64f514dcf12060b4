"""The one interface every camera implements (``device.perception.camera.factory`` builds
them from ``camera.source``)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


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
