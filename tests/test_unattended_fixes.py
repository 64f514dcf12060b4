"""Issue 13: the smaller faults found by running the speaker unattended.

Each test here failed before its fix: a replay camera stalled by one bad image, a corrupt
taste.npz traceback, ``journal tail -n -1``, the status line cut at 160 columns, native
OpenCV warnings on each camera retry, and no ``--version``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import struct
import termios
import time
import types

import cv2
import numpy as np
import pytest

from device.cli import main
from device.loop.events import SpeakerStatus, TrackInfo
from device.perception.camera import CameraError, open_source
from device.perception.camera.opencv import OpenCvSource
from device.perception.mood_watch import MoodWatcher
from device.shared.backoff import Backoff
from device.shared.manifest import ManifestError
from device.shared.taste import load_taste
from device.system.demo import FRAMES_DIR
from device.system.status import StatusLine, format_status
from tests.conftest import MODELS
from tests.harness.speaker import copy_clips


def _gray(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


@pytest.fixture
def folder_with_bad_images(tmp_path):
    """a, d readable; b a zero-byte JPEG; c a JPEG whose header bits were flipped."""
    cv2.imwrite(str(tmp_path / "a.png"), _gray(40))
    (tmp_path / "b.jpg").write_bytes(b"")
    _, jpeg = cv2.imencode(".jpg", _gray(120))
    data = bytearray(jpeg.tobytes())
    for i in range(8):
        data[i] ^= 0xFF
    (tmp_path / "c.jpg").write_bytes(bytes(data))
    cv2.imwrite(str(tmp_path / "d.png"), _gray(200))
    return tmp_path


def test_replay_skips_unreadable_images_and_counts_them(folder_with_bad_images, caplog):
    src = open_source(f"replay:{folder_with_bad_images}", replay_repeat=2)
    with src:
        levels = [int(src.read().mean()) for _ in range(10)]
    assert levels == [40, 40, 200, 200, 40, 40, 200, 200, 40, 40]
    assert src.skipped == 2
    warned = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warned) == 2 and "b.jpg" in warned[0] and "c.jpg" in warned[1]


def test_replay_without_a_readable_image_fails_at_open(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    (tmp_path / "y.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(CameraError, match=r"no readable image .*\(2 unreadable\)"):
        open_source(f"replay:{tmp_path}").open()


def test_replay_without_loop_ends_after_the_last_readable_image(folder_with_bad_images):
    src = open_source(f"replay:{folder_with_bad_images}", replay_loop=False)
    with src:
        assert [int(src.read().mean()) for _ in range(2)] == [40, 200]
        with pytest.raises(CameraError, match="end of frames"):
            src.read()


def test_mood_watcher_gets_past_a_bad_image(folder_with_bad_images):
    """The fault as the speaker saw it: the mood never got past the bad file."""
    face = types.SimpleNamespace(mood_probs={})
    seen = []

    def analyze(frame):
        seen.append(int(frame.mean()))
        return types.SimpleNamespace(main=face, faces=[face])

    class Smoother:
        def update(self, face, now):
            return types.SimpleNamespace(mood="neutral", confidence=0.5, since=now)

    w = MoodWatcher(lambda: open_source(f"replay:{folder_with_bad_images}"), analyze,
                    Smoother(), fps=50, backoff=Backoff(5, 5))
    w.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(seen) < 6:
            time.sleep(0.01)
    finally:
        w.stop()
    assert seen[:6] == [40, 200, 40, 200, 40, 200] and w.failures == 0


def test_replay_of_the_demo_frames_is_unchanged():
    with open_source(f"replay:{FRAMES_DIR}") as src:
        assert src.read().shape == (480, 640, 3) and src.skipped == 0


@pytest.fixture
def taste_copy(tmp_path):
    copy = tmp_path / "models"
    copy.mkdir()
    shutil.copy(MODELS / "taste.npz", copy / "taste.npz")
    shutil.copy(MODELS / "manifest.json", copy / "manifest.json")
    return copy


def _corrupt_with_matching_hash(models, mutate):
    path = models / "taste.npz"
    path.write_bytes(mutate(path.read_bytes()))
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["taste"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (models / "manifest.json").write_text(json.dumps(manifest))


def _flip_middle(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 64]) + data[mid + 64:]


@pytest.mark.parametrize("mutate", [
    _flip_middle,
    lambda data: data[: len(data) // 2],  # truncated
    lambda data: b"not a zip file at all",
], ids=["bit-flipped", "truncated", "not-a-zip"])
def test_corrupt_taste_is_refused_like_a_corrupt_tflite(taste_copy, mutate):
    _corrupt_with_matching_hash(taste_copy, mutate)
    with pytest.raises(ManifestError, match=r"taste\.npz: not a usable taste model: "):
        load_taste(taste_copy)


def test_cli_reports_corrupt_taste_without_traceback(taste_copy, tmp_path, capsys):
    _corrupt_with_matching_hash(taste_copy, _flip_middle)
    config = tmp_path / "config.toml"
    music = copy_clips(tmp_path / "music", per_genre=1)
    config.write_text(f'[models]\ndir = "{taste_copy}"\n[camera]\nsource = "none"\n'
                      f'[state]\ndir = "{tmp_path / "state"}"\n'
                      f'[library]\npath = "{music}"\n[audio]\noutput = "dummy"\n')
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "not a usable taste model" in err and "Traceback" not in err


@pytest.mark.parametrize("n", ["-1", "0", "x"])
def test_journal_tail_refuses_a_count_that_is_not_positive(n, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["journal", "tail", "-n", n])
    assert exc.value.code == 2
    assert "argument -n: " in capsys.readouterr().err


def test_version_comes_from_the_installed_package(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"moodspeaker {importlib.metadata.version('moodspeaker')}")


def _status(title: str) -> SpeakerStatus:
    track = TrackInfo(title=title, artist="An Artist", album=None, track_id="pop/x.mp3",
                      duration_s=200.0, position_s=12.0)
    return SpeakerStatus(state="playing", user="default", mood="happy", confidence=0.8,
                         camera_ok=True, music_mood="happy", override=None,
                         override_until=None, volume=70, muted=False, track=track,
                         genre="pop", explanation="happy -> pop 7.0/10")


def _pty_stream(columns: int):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return master, os.fdopen(slave, "w")


def _read_all(fd: int) -> str:
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks).decode()


@pytest.mark.parametrize("columns", [60, 240])
def test_status_line_fits_the_terminal_width(columns):
    master, stream = _pty_stream(columns)
    try:
        st = _status("A very long artist name - " * 8)
        assert len(format_status(st)) > 200
        line = StatusLine(stream, interval_s=0.0)
        line(st)
        shown = _read_all(master).split("\x1b[K", 1)[1]
    finally:
        stream.close()
        os.close(master)
    assert len(shown) == columns - 1  # the last column would wrap on some terminals


def test_status_line_follows_a_resized_terminal():
    master, stream = _pty_stream(80)
    try:
        line = StatusLine(stream, interval_s=0.0)
        st = _status("x" * 300)
        line(st)
        fcntl.ioctl(stream.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        line(st)
        out = _read_all(master)
    finally:
        stream.close()
        os.close(master)
    first, second = out.split("\r\x1b[K")[1:3]
    assert (len(first), len(second)) == (79, 119)


def test_opencv_retry_prints_no_native_warnings(capfd):
    missing = next(str(n) for n in range(60, 100) if not os.path.exists(f"/dev/video{n}"))
    for spec in (missing, f"/dev/video{missing}"):
        for _ in range(2):
            with pytest.raises(CameraError, match=f"/dev/video{missing}"):
                OpenCvSource(spec).open()
    for _ in range(2):  # a device node that is no camera: OpenCV itself is asked, quietly
        with pytest.raises(CameraError, match="cannot open camera /dev/null"):
            OpenCvSource("/dev/null").open()
    err = capfd.readouterr().err
    assert "WARN" not in err and "VIDEOIO" not in err, err
