"""``kill -9`` in the middle of a track, then a restart: the journal stays consistent.

Runs the real ``moodspeaker run`` in a subprocess (real libvlc on the dummy output, the
real MP3 clips, camera "none" so no model is needed) and kills it without warning.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import REPO, copy_clips

require_libvlc()


def _config(tmp_path):
    lib = copy_clips(tmp_path / "music", per_genre=1)
    path = tmp_path / "config.toml"
    path.write_text(
        f'[camera]\nsource = "none"\n[library]\npath = "{lib}"\n'
        f'[audio]\noutput = "dummy"\nfade_s = 0.2\n[state]\ndir = "{tmp_path / "state"}"\n'
        '[user]\nactive = "ann"\n[journal]\nposition_interval_s = 0.5\n'
        '[resume]\nenabled = true\nrewind_s = 1.0\n'
    )
    return path


def _moodspeaker(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "device.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _rows(db):
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT event_id, track_id, position_s, ended_at, end_reason, start_offset_s"
            " FROM listens ORDER BY started_at"
        ).fetchall()
    except sqlite3.OperationalError:  # the speaker is still creating the schema
        return []
    finally:
        con.close()


def test_kill_9_mid_track_then_restart_marks_interrupted_and_resumes(tmp_path):
    cfg = _config(tmp_path)
    db = tmp_path / "state" / "journal.sqlite3"
    proc = _moodspeaker("run", "--config", str(cfg))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if db.exists():
                rows = _rows(db)
                if rows and rows[-1][2] >= 2.0:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("no listen with a position within 30 s:\n" + proc.stdout.read())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (crashed,) = _rows(db)
    assert crashed[3] is None and crashed[4] is None  # still open: the process never closed it
    assert crashed[2] >= 2.0

    out = _moodspeaker("run", "--config", str(cfg), "--seconds", "3").communicate(timeout=60)[0]
    rows = _rows(db)
    assert len(rows) == 2, out
    first, second = rows
    assert first[0] == crashed[0] and first[4] == "interrupted"
    assert first[2] == pytest.approx(crashed[2], abs=0.6)  # the last position it recorded
    assert first[3] is not None
    # resumed: same track, from (about) where it was cut off, closed cleanly at the end
    assert second[1] == first[1] and second[4] == "stopped"
    assert second[5] == pytest.approx(first[2] - 1.0, abs=0.01)
    assert second[2] > second[5]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
