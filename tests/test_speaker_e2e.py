"""End to end with the real model: replayed happy then sad faces change the music.

Real parts: replay camera over the bundled FER2013 frames, the Haar detector, the int8
classifier, the smoother, the loop, libvlc (dummy output) and the journal. The taste table
is a stand-in with one obvious genre per mood, so the test checks that the *mood* drives
the genre whatever the shipped taste artifact says (a flat prior would hide it).
"""

from __future__ import annotations

import threading

import pytest

from device.music.picker import Picker
from device.shared.paths import default_models_dir
from device.system.app import build, make_mood_watcher
from device.system.config import PickerConfig
from device.system.demo import demo_config, make_library
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import MoodTaste

require_libvlc()
MODEL = default_models_dir() / "fer_int8.tflite"


@pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is absent (the trained FER model)")
def test_happy_then_sad_faces_change_mood_and_genre(tmp_path):
    cfg = demo_config(tmp_path, fps=4.0)
    cfg.camera.replay_repeat = 12  # 3 s per image: 12 s happy, then 12 s sad
    cfg.camera.replay_loop = False
    cfg.mood.switch_after_s = 1.5
    cfg.picker.temperature = 0.05
    make_library(cfg.library.path, per_genre=2, seconds=3.0)
    watcher = make_mood_watcher(cfg, cfg.models.dir)
    with build(cfg, mood=watcher) as parts:
        sp = parts.speaker
        sp.picker = Picker([t for ts in sp.picker.by_genre.values() for t in ts], MoodTaste(),
                           PickerConfig(temperature=0.05, no_repeat=1),
                           feedback=sp.picker.feedback)
        watcher.start()
        try:
            sp.run(threading.Event(), 22.0)
        finally:
            watcher.stop()
        listens = parts.journal.all()
    moods = [r.mood for r in listens]
    assert moods[0] == "happy"  # the first pick waited for the camera's first face
    assert "happy" in moods and "sad" in moods, moods
    assert moods.index("happy") < len(moods) - 1 - moods[::-1].index("sad")
    assert {r.genre for r in listens if r.mood == "happy"} == {"pop"}
    assert {r.genre for r in listens if r.mood == "sad"} == {"classical"}
    assert all(r.ended_at is not None for r in listens)
