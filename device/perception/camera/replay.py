"""Replay a folder of images (sorted by name) or a video file as if it were a camera.

For demos, tests and debugging a misbehaving mood: the same frames in, the same moods out.
A video keeps its own timeline: each camera frame advances it by ``1 / camera fps``
seconds, so a 30 fps clip read at 2 fps skips 14 frames of 15 instead of playing in slow
motion (and a clip slower than the camera repeats frames).

An image that cannot be decoded (a zero-byte or damaged file) is skipped, counted and
named once in the log: it must not stall the mood, and reopening the source (what the
camera thread does after an error) would only come back to the same file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from device.perception.camera.base import CameraError, FrameSource

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".webp"})


class ReplaySource(FrameSource):
    name = "replay"

    def __init__(self, path: str | Path, *, repeat: int = 1, loop: bool = True,
                 fps: float = 2.0):
        self.path = Path(path)
        self.repeat = max(1, int(repeat))  # images only: hold each image this many frames
        self.loop = loop
        self.fps = float(fps)  # the camera rate the video is sampled at
        self._images: list[Path] = []
        self._video: cv2.VideoCapture | None = None
        self._video_fps = 0.0
        self._i = 0  # images: frames delivered; video: camera frames delivered
        self._decoded = -1  # video: index of the last frame decoded
        self._held: tuple[object, np.ndarray] | None = None  # (image path or video frame, frame)
        self.skipped = 0  # unreadable images dropped from the rotation

    def open(self) -> None:
        if self.path.is_dir():
            self._images = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not self._images:
                raise CameraError(f"replay: no images in {self.path}")
            self._i, self._held = 0, None
            self._read_image()  # fails now if no image is readable, so retries back off
            self._i = 0  # the first read() returns the image just decoded and held
        elif self.path.is_file():
            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise CameraError(f"replay: cannot open video {self.path}")
            fps = cap.get(cv2.CAP_PROP_FPS)
            # a container without a rate: fall back to one video frame per camera frame
            self._video_fps = fps if fps and 0 < fps < 1000 else self.fps
            self._video = cap
            self._i, self._decoded, self._held = 0, -1, None
        else:
            raise CameraError(f"replay: {self.path} does not exist")

    def read(self) -> np.ndarray:
        if self._video is not None:
            return self._read_video()
        if not self._images:
            raise CameraError("replay: not open")
        return self._read_image()

    def _read_image(self) -> np.ndarray:
        """The next readable image; an unreadable one leaves the rotation for good. A
        folder that is gone (an unplugged disk) fails the read, so the camera thread
        reopens it, with backoff, and lists its images again when it is back."""
        if not self.path.is_dir():
            raise CameraError(f"replay: folder {self.path} is gone")
        while self._images:
            if self._i >= len(self._images) * self.repeat:
                if not self.loop:
                    raise CameraError("replay: end of frames")
                self._i = 0
            idx = self._i // self.repeat
            path = self._images[idx]
            try:
                frame = self._hold(path, partial(self._imread, path))
            except CameraError as exc:
                del self._images[idx]  # the next image now sits at idx
                self._i = idx * self.repeat
                self.skipped += 1
                log.warning("%s; skipped it (%d unreadable so far)", exc, self.skipped)
                continue
            self._i += 1
            return frame
        raise CameraError(f"replay: no readable image in {self.path} "
                          f"({self.skipped} unreadable)")

    def _hold(self, key: object, load: Callable[[], np.ndarray]) -> np.ndarray:
        """Return frame ``key``, decoding it only if it is not the one already held."""
        if self._held is None or self._held[0] != key:
            self._held = (key, load())
        return self._held[1]

    @staticmethod
    def _imread(path: Path) -> np.ndarray:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise CameraError(f"replay: cannot read image {path}")
        return frame

    def _read_video(self) -> np.ndarray:
        """The video frame shown at camera time ``i / fps``; grabs (no decode) past the rest."""
        target = int(self._i * self._video_fps / self.fps + 1e-6)
        self._i += 1
        if self._held is not None and self._held[0] == target:
            return self._held[1]
        cap = self._video
        if cap is None:
            raise CameraError("replay: not open")
        while self._decoded < target - 1:
            if not cap.grab():
                return self._rewind_or_end()
            self._decoded += 1
        ok, frame = cap.read()
        if not ok or frame is None:
            return self._rewind_or_end()
        self._decoded = target
        self._held = (target, frame)
        return frame

    def _rewind_or_end(self) -> np.ndarray:
        if not self.loop or self._decoded < 0:  # an empty video would loop forever
            raise CameraError(f"replay: end of video {self.path}")
        self.close()  # reopening rewinds reliably; seeking to 0 does not with every codec
        self.open()
        return self._read_video()

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
        self._held = None
