"""Faults of the camera, with the real speaker on a thread (``run_speaker``), the real FER
model in TFLite and real libvlc (dummy output). The Pi camera is the one part faked (absent
hardware): a ``replay:`` folder of the demo face images stands in for it, wrapped, where it
must vanish, in a source that fails while it is "unplugged"."""

from __future__ import annotations

import shutil
import threading
import time

import cv2

from device.perception.camera import CameraError
from device.perception.camera.base import FrameSource
from device.perception.camera.replay import ReplaySource
from device.perception.mood_watch import MoodWatcher
from device.perception.smoothing import MoodSmoother
from device.shared.backoff import Backoff
from device.system.app import load_estimator
from device.system.demo import FRAMES_DIR, make_library
from tests.harness.faults import (
    assert_journal_intact,
    longest_silence,
    speaker_config,
    start_speaker,
)
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import until

require_libvlc()


def _camera_config(tmp_path, frames):
    make_library(tmp_path / "lib", per_genre=1, seconds=2.0)
    return speaker_config(
        tmp_path, tmp_path / "state",
        camera={"source": f"replay:{frames}", "fps": 4.0, "retry_initial_s": 0.2,
                "retry_max_s": 0.4},
        mood={"first_wait_s": 1.0})


class Unpluggable(FrameSource):
    """A camera on a cable: fails to open and to read while ``plugged`` is clear."""

    name = "unpluggable"

    def __init__(self, inner: FrameSource, plugged: threading.Event):
        self.inner, self.plugged = inner, plugged

    def open(self) -> None:
        if not self.plugged.is_set():
            raise CameraError("camera: not connected")
        self.inner.open()

    def read(self):
        if not self.plugged.is_set():
            raise CameraError("camera: it stopped answering")
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


def _frames(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in ("01_happy.jpg", "05_sad.jpg", "10_neutral.jpg"):
        shutil.copy(FRAMES_DIR / name, frames / name)
    return frames


def test_the_camera_vanishing_and_returning_never_stops_the_music(tmp_path):
    """the camera vanishing and returning"""
    frames = _frames(tmp_path)
    cfg = _camera_config(tmp_path, frames)
    plugged = threading.Event()
    plugged.set()
    watcher = MoodWatcher(lambda: Unpluggable(ReplaySource(frames, fps=4.0), plugged),
                          load_estimator(cfg, cfg.models.dir).analyze, MoodSmoother(),
                          fps=4.0, backoff=Backoff(0.2, 0.4))
    run = start_speaker(cfg, mood=watcher)
    try:
        assert run.ready.wait(60)
        speaker = run.parts.speaker
        until(lambda: watcher.frames >= 4 and speaker.stats.played >= 1, 20, "frames and music")
        plugged.clear()  # the camera goes away
        until(lambda: watcher.failures >= 2, 10, "the camera thread to notice")
        assert not watcher.latest().camera_ok and watcher.latest().mood == "unknown"
        played, seen = speaker.stats.played, watcher.frames
        time.sleep(3.0)  # the music goes on while the camera is away
        assert speaker.stats.played > played and speaker.status().state == "playing"
        assert watcher.frames == seen
        plugged.set()  # and it comes back
        until(lambda: watcher.frames >= seen + 4, 10, "frames again")
        assert watcher.failures == 0 and watcher.latest().camera_ok
    finally:
        stats = run.finish()
    rows = assert_journal_intact(cfg.journal_path)
    assert len(rows) == stats.played and stats.errors == 0
    assert longest_silence(rows) < 1.0  # no gap between tracks, camera or not


def test_a_replay_folder_removed_and_put_back_is_noticed(tmp_path):
    """a replay: camera folder removed, then put back"""
    frames = _frames(tmp_path)
    cfg = _camera_config(tmp_path, frames)
    run = start_speaker(cfg)
    try:
        assert run.ready.wait(60)
        speaker, watcher = run.parts.speaker, run.parts.mood
        until(lambda: watcher.frames >= 4 and speaker.stats.played >= 1, 20, "frames and music")
        frames.rename(tmp_path / "unplugged")  # the folder goes away
        until(lambda: watcher.failures >= 1, 5, "the camera thread to notice")
        assert not watcher.latest().camera_ok
        seen = watcher.frames
        (tmp_path / "unplugged").rename(frames)  # and comes back, all three images
        until(lambda: watcher.frames >= seen + 6 and watcher.latest().camera_ok, 10,
               "frames again")
    finally:
        stats = run.finish()
    rows = assert_journal_intact(cfg.journal_path)
    assert len(rows) == stats.played and stats.errors == 0


def test_one_unreadable_image_does_not_stall_the_replay_camera(tmp_path, caplog):
    """item 3: the replay camera with a zero-byte and a bit-flipped image"""
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(FRAMES_DIR / "01_happy.jpg", frames / "a.jpg")
    (frames / "b.jpg").write_bytes(b"")
    _, jpeg = cv2.imencode(".jpg", cv2.imread(str(FRAMES_DIR / "05_sad.jpg")))
    flipped = bytearray(jpeg.tobytes())
    for i in range(8):
        flipped[i] ^= 0xFF
    (frames / "c.jpg").write_bytes(bytes(flipped))
    shutil.copy(FRAMES_DIR / "05_sad.jpg", frames / "d.jpg")
    cfg = _camera_config(tmp_path, frames)
    run = start_speaker(cfg)
    try:
        assert run.ready.wait(60)
        speaker, watcher = run.parts.speaker, run.parts.mood
        until(lambda: watcher.frames >= 12 and speaker.stats.played >= 2, 30,
               "frames past the bad images, and music")
        assert watcher.failures == 0 and watcher.latest().camera_ok
    finally:
        stats = run.finish()
    skipped = [r.getMessage() for r in caplog.records if "skipped it" in r.getMessage()]
    assert len(skipped) == 2  # each bad file named once, not a warning every second
    assert "b.jpg" in skipped[0] and "c.jpg" in skipped[1]
    rows = assert_journal_intact(cfg.journal_path)
    assert len(rows) == stats.played and stats.errors == 0
