"""``kill -9``: the real ``moodspeaker run`` in a subprocess (real libvlc on the dummy
output, real MP3 clips from ../shared/data, real SQLite; no camera) is killed without
warning, mid-track and while it writes the journal several times a second, then restarted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from tests.harness.faults import assert_journal_intact, journal_rows, moodspeaker, write_config
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import copy_clips

require_libvlc()


def _config(tmp_path, interval: float):
    lib = copy_clips(tmp_path / "music", per_genre=1)
    return write_config(
        tmp_path / "config.toml",
        camera={"source": "none"}, library={"path": lib},
        audio={"output": "dummy", "fade_s": 0.2}, state={"dir": tmp_path / "state"},
        user={"active": "ann"}, journal={"position_interval_s": interval},
        resume={"enabled": True, "rewind_s": 1.0},
    )


def _wait_for(db, ready, timeout: float = 30.0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = journal_rows(db)
        if ready(rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"the speaker did not get there in {timeout} s: {journal_rows(db)}")


def _kill_9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def _run_briefly(cfg, seconds: float = 2.0) -> str:
    proc = moodspeaker("run", "--config", str(cfg), "--seconds", str(seconds))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def test_kill_9_mid_track_loses_no_earlier_listen_and_the_restart_resumes(tmp_path):
    """kill -9 mid-track"""
    cfg = _config(tmp_path, interval=0.5)
    db = tmp_path / "state" / "journal.sqlite3"
    _run_briefly(cfg)  # one listen recorded and closed before the crash
    (before,) = journal_rows(db)
    proc = moodspeaker("run", "--config", str(cfg), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    try:
        rows = _wait_for(db, lambda r: len(r) == 2 and r[1][4] >= r[1][7] + 2.0)
        _kill_9(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    cut = journal_rows(db)[1]
    assert cut[3] is None and cut[5] is None and cut[4] >= rows[1][4]  # open, as it was cut
    err = _run_briefly(cfg)
    assert "cut off" in err and "closed as interrupted" in err
    rows = assert_journal_intact(db)
    assert len(rows) == 3 and rows[0] == before  # the earlier listen is untouched
    closed = rows[1]
    assert closed[0] == cut[0] and closed[5] == "interrupted" and closed[4] == cut[4]
    resumed = rows[2]  # the same track, from where it was cut off (1 s rewind)
    assert resumed[1] == cut[1] and resumed[7] == pytest.approx(cut[4] - 1.0, abs=0.01)
    assert resumed[5] == "stopped" and resumed[4] > resumed[7]


def test_repeated_kill_9_during_journal_writes_keeps_the_journal_consistent(tmp_path):
    """kill -9 during journal writes (5 kills, positions written 5 times a second)"""
    cfg = _config(tmp_path, interval=0.2)
    db = tmp_path / "state" / "journal.sqlite3"
    rng = random.Random(13)
    cut_ids: list[str] = []
    for _ in range(5):
        seen = len(journal_rows(db))
        proc = moodspeaker("run", "--config", str(cfg), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        try:
            # this run has closed the last one's cut listen and is writing positions
            rows = _wait_for(db, lambda r, n=seen: len(r) > n and r[-1][4] > r[-1][7])
            assert all(r[5] == "interrupted" for r in rows[:-1] if r[0] in cut_ids)
            time.sleep(rng.uniform(0.0, 1.0))  # land anywhere among the writes
            _kill_9(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        rows = journal_rows(db)
        open_rows = [r for r in rows if r[3] is None]
        assert len(open_rows) == 1 and open_rows[0] == rows[-1]  # only the listen just cut
        cut_ids.append(rows[-1][0])
    _run_briefly(cfg)
    rows = assert_journal_intact(db)
    by_id = {r[0]: r for r in rows}
    assert all(by_id[i][5] == "interrupted" for i in cut_ids)  # every cut listen kept
    assert len(rows) == len(cut_ids) + 1 and rows[-1][5] == "stopped"
