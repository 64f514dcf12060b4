"""The camera thread: frames -> mood estimator -> smoother -> the latest MoodEstimate.

It runs beside the music so that a slow detector or a dead camera never stalls playback.
A camera that fails is closed and retried with exponential backoff (1, 2, 4 ... 60 s);
meanwhile the mood is "unknown" and the music simply goes on. Frames are dropped as soon
as they are analysed; only with ``camera.debug_snapshots`` on are a few kept on disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from device.perception.camera import CameraError, FrameSource
from device.shared.backoff import Backoff
from device.shared.moods import UNKNOWN

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class MoodReading:
    """What the speaker loop sees: the smoothed mood plus camera health."""

    mood: str
    confidence: float
    since: float  # monotonic time the mood was entered
    faces: int = 0
    camera_ok: bool = False
    frames: int = 0


class MoodSource(Protocol):
    """Anything the speaker loop can ask for the current mood (camera thread or fixed)."""

    def latest(self) -> MoodReading: ...


class Smoother(Protocol):
    """``device.perception.smoothing.MoodSmoother``: per-frame face -> lasting mood."""

    def update(self, face: Any, now: float) -> Any: ...


class FixedMood:
    """A MoodSource that always says the same thing (no camera; tests and headless use)."""

    def __init__(self, mood: str = UNKNOWN, confidence: float = 0.0):
        self.reading = MoodReading(mood, confidence, time.monotonic())

    def latest(self) -> MoodReading:
        return self.reading


class MoodWatcher:
    """Owns the camera and the perception pipeline on its own daemon thread."""

    def __init__(
        self,
        make_source: Callable[[], FrameSource],
        analyze: Callable[[np.ndarray], Any],  # MoodEstimator.analyze -> FrameAnalysis
        smoother: Smoother,
        *,
        fps: float = 2.0,
        backoff: Backoff | None = None,
        snapshot_dir: Path | None = None,
        snapshot_keep: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._make_source = make_source
        self._analyze = analyze
        self._smoother = smoother
        self.period = 1.0 / fps
        self.backoff = backoff or Backoff()
        self.snapshot_dir = snapshot_dir
        self.snapshot_keep = snapshot_keep
        self._clock = clock
        self._lock = threading.Lock()
        self._reading = MoodReading(UNKNOWN, 0.0, clock())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.frames = 0
        self.last_error: str | None = None

    def latest(self) -> MoodReading:
        with self._lock:
            return self._reading

    def replace_analyzer(self, analyze: Callable[[np.ndarray], Any]) -> None:
        """A reloaded model: used from the next frame on (one reference swap)."""
        self._analyze = analyze

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mood-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _set(self, reading: MoodReading) -> None:
        with self._lock:
            self._reading = reading

    def _run(self) -> None:
        while not self._stop.is_set():
            source = self._make_source()
            try:
                source.open()
                if self.failures:
                    log.info("camera %s is back after %d failures", source.name, self.failures)
                self.failures = 0
                self._capture(source)
            except CameraError as exc:
                self.failures += 1
                self.last_error = str(exc)
                delay = self.backoff.delay(self.failures)
                log.warning("camera: %s; retrying in %.0f s (mood unknown meanwhile)", exc, delay)
                self._set(MoodReading(UNKNOWN, 0.0, self._clock(), camera_ok=False,
                                      frames=self.frames))
                self._stop.wait(delay)
            except Exception:  # a perception bug must not kill the thread silently
                self.failures += 1
                log.exception("mood pipeline failed; restarting it")
                self._set(MoodReading(UNKNOWN, 0.0, self._clock(), frames=self.frames))
                self._stop.wait(self.backoff.delay(self.failures))
            finally:
                source.close()

    def _capture(self, source: FrameSource) -> None:
        next_t = self._clock()
        while not self._stop.is_set():
            frame = source.read()
            now = self._clock()
            analysis = self._analyze(frame)
            est = self._smoother.update(analysis.main, now=now)
            self.frames += 1
            if self.snapshot_dir is not None:
                self._snapshot(frame)
            del frame
            self._set(MoodReading(est.mood, float(est.confidence), est.since,
                                  faces=len(analysis.faces), camera_ok=True, frames=self.frames))
            next_t += self.period
            wait = next_t - self._clock()
            if wait < 0:  # fell behind (slow CPU): do not try to catch up in a burst
                next_t, wait = self._clock(), 0.0
            self._stop.wait(wait)

    def _snapshot(self, frame) -> None:
        """Debug snapshots: only when the owner enabled them; a small rotating set."""
        assert self.snapshot_dir is not None
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(self.snapshot_dir / f"frame-{self.frames % self.snapshot_keep:04d}.jpg"),
                    frame)
