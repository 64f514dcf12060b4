"""The background mood scorer stops when told, even in the moment its child starts (a
speaker opened and closed at once used to wait for the child to score the whole library)."""

from __future__ import annotations

from device.music.library import LibraryIndex, scan_library
from device.music.library.scoring import BackgroundScorer
from device.system.demo import make_library
from tests.conftest import MODELS


def test_a_stop_right_after_the_start_leaves_no_child_scoring(tmp_path):
    make_library(tmp_path / "lib", per_genre=2, seconds=2.0)
    with LibraryIndex(tmp_path / "library.sqlite3") as index:
        scan_library(tmp_path / "lib", index)
    for _ in range(5):  # the race is in the first milliseconds: try it a few times
        scorer = BackgroundScorer(tmp_path / "library.sqlite3", MODELS).start()
        scorer.stop(timeout=3.0)
        assert not scorer.running
        assert scorer._proc is None or scorer._proc.poll() is not None
