"""Camera sources and the camera thread's retry with backoff."""

from __future__ import annotations

import time
import types

import cv2
import numpy as np
import pytest

from device.perception.camera import CameraError, FrameSource, open_source
from device.perception.camera.picamera import PiCameraSource
from device.perception.mood_watch import MoodWatcher
from device.shared.backoff import Backoff
from device.shared.errors import UserError
from device.system.demo import FRAMES_DIR


def test_replay_folder_in_name_order_with_repeat_and_loop():
    src = open_source(f"replay:{FRAMES_DIR}", replay_repeat=2)
    with src:
        frames = [src.read() for _ in range(22)]
    assert frames[0].shape == (480, 640, 3) and frames[0] is frames[1]
    assert not np.array_equal(frames[1], frames[2])
    assert np.array_equal(frames[20], frames[0])  # 10 images x 2, then it loops


def _numbered_video(path, fps, n):
    """An MJPG clip whose frame k is a flat gray of brightness 8 k (readable after JPEG)."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for k in range(n):
        w.write(np.full((48, 64, 3), 8 * k, np.uint8))
    w.release()
    return path


def _frame_numbers(src, reads):
    with src:
        return [round(float(src.read().mean()) / 8) for _ in range(reads)]


def test_replay_video_follows_its_own_timeline(tmp_path):
    # 3 s at 10 fps read by a 2 fps camera: every 5th frame (real time), then it loops
    clip = _numbered_video(tmp_path / "clip.avi", 10, 30)
    assert _frame_numbers(open_source(f"replay:{clip}", fps=2.0), 8) == [
        0, 5, 10, 15, 20, 25, 0, 5]
    # a camera faster than the video sees each video frame for as long as it lasts
    slow = _numbered_video(tmp_path / "slow.avi", 2, 4)
    assert _frame_numbers(open_source(f"replay:{slow}", fps=4.0), 10) == [
        0, 0, 1, 1, 2, 2, 3, 3, 0, 0]
    # without looping, the end of the video is a camera error (the watcher's retry path)
    src = open_source(f"replay:{clip}", fps=2.0, replay_loop=False)
    with src:
        for _ in range(6):
            src.read()
        with pytest.raises(CameraError, match="end of video"):
            src.read()


def test_missing_replay_and_bad_spec():
    with pytest.raises(CameraError, match="does not exist"):
        open_source("replay:/no/such/folder").open()
    with pytest.raises(UserError, match=r"camera\.source"):
        open_source("webcam")


def test_picamera2_with_a_fake_module():
    """picamera2 only exists on a Raspberry Pi: this fakes the module, nothing else."""
    calls = []

    class FakePicamera2:
        def create_still_configuration(self, main, buffer_count):
            calls.append(("config", main["size"], main["format"]))
            return {"main": main}

        def configure(self, cfg):
            calls.append("configure")

        def start(self):
            calls.append("start")

        def capture_array(self, name):
            return np.zeros((480, 640, 3), np.uint8)

        def stop(self):
            calls.append("stop")

        def close(self):
            calls.append("close")

    src = PiCameraSource(module=types.SimpleNamespace(Picamera2=FakePicamera2))
    with src:
        assert src.read().shape == (480, 640, 3)
    assert calls == [("config", (640, 480), "RGB888"), "configure", "start", "stop", "close"]
    # on this machine the real module is absent: a clear, retryable camera error
    with pytest.raises(CameraError, match="picamera2"):
        PiCameraSource().open()


class FlakySource(FrameSource):
    """Fails to open twice, then delivers frames (a camera being plugged in)."""

    opens = 0

    def open(self):
        FlakySource.opens += 1
        if FlakySource.opens <= 2:
            raise CameraError("no camera yet")

    def read(self):
        return np.zeros((10, 10), np.uint8)


def test_failing_camera_is_retried_with_backoff_and_mood_is_unknown_meanwhile():
    assert [Backoff(1, 60).delay(n) for n in (1, 2, 3, 7, 20)] == [1, 2, 4, 60, 60]
    face = types.SimpleNamespace(mood_probs={"happy": 1.0})
    analysis = types.SimpleNamespace(main=face, faces=[face])

    class Smoother:
        def update(self, face, now):
            return types.SimpleNamespace(mood="happy", confidence=0.9, since=now)

    w = MoodWatcher(FlakySource, lambda f: analysis, Smoother(), fps=20,
                    backoff=Backoff(0.05, 0.2))
    w.start()
    try:
        seen_unknown = False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            r = w.latest()
            seen_unknown |= (r.mood == "unknown" and not r.camera_ok)
            if r.mood == "happy":
                break
            time.sleep(0.01)
    finally:
        w.stop()
    assert seen_unknown and r.mood == "happy" and r.camera_ok and FlakySource.opens == 3
