"""The speaker loop end to end on real libvlc (dummy output), in real time: the mood-switch
case of tests/test_speaker_loop.py (which runs the loop on the in-memory ``FakePlayer`` and
a test clock) once more with the real player, so that the fake cannot drift from libvlc
unnoticed. ``VlcPlayer`` alone is tested in tests/test_speaker_player.py.
"""

from __future__ import annotations

import threading
import time

from device.system.app import build
from device.system.demo import make_library
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import MoodTaste
from tests.test_speaker_loop import ScriptedMood, _cfg, _with_taste, check_mood_switch

require_libvlc()


def test_mood_change_switches_genre_and_journal_holds_exactly_the_listens_on_real_libvlc(
        tmp_path):
    make_library(tmp_path / "lib", per_genre=2, seconds=2.0)
    cfg = _cfg(tmp_path)
    with build(cfg, mood=ScriptedMood(time.monotonic, switch_at=4.0)) as parts:
        _with_taste(parts, MoodTaste())
        stats = parts.speaker.run(threading.Event(), 9.0)
        listens = parts.journal.all()
    check_mood_switch(cfg, stats, listens)
