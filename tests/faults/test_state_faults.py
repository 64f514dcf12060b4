"""Faults of the speaker's own state (issue 13, items 2, 4, 7 and 8): a full disk, a second
instance, a music folder that is not there yet, a truncated file. Real speaker, real
libvlc (dummy output), real SQLite; the camera is absent (FixedMood). The full disk is a
real 16 MiB tmpfs (root only; skipped elsewhere)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from device.shared.backoff import Backoff
from device.storage.journal import Journal, JournalError
from device.system.demo import make_library
from device.system.startup import StateLock, wait_for_library
from tests.harness.faults import journal_rows, speaker_config, start_speaker
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import REPO, clips_dir

require_libvlc()


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
            capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs mounts to fill a disk for real")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the disk to the last byte."""
    ballast = folder / "ballast"
    with open(ballast, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return ballast


def test_a_disk_that_fills_up_and_is_freed_loses_nothing_and_the_music_goes_on(
        tmp_path, tmpfs, caplog):
    """the disk filling up while playing, then freed (16 MiB tmpfs)"""
    make_library(tmp_path / "lib", per_genre=1, seconds=2.0)
    cfg = speaker_config(tmp_path, tmpfs / "state")
    run = start_speaker(cfg)
    try:
        assert run.ready.wait(30)
        speaker = run.parts.speaker
        time.sleep(1.0)
        ballast = _fill(tmpfs)
        played = speaker.stats.played
        time.sleep(5.0)  # tracks end and start, positions are written: all wait in memory
        assert run.thread.is_alive() and speaker.stats.played > played
        assert run.parts.journal.pending > 0
        assert "is full" in caplog.text and "music goes on" in caplog.text
        ballast.unlink()  # space again: the waiting writes are saved within a few seconds
        deadline = time.monotonic() + 15
        while run.parts.journal.pending and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run.parts.journal.pending == 0
    finally:
        run.finish()
    stats = run.stats
    db = sqlite3.connect(cfg.journal_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT ended_at, end_reason FROM listens").fetchall()
    assert len(rows) == stats.played and all(ended is not None for ended, _ in rows)


def test_a_start_on_a_full_disk_plays_and_says_disk_full_not_corrupt(tmp_path, tmpfs, caplog):
    """a start on a full disk (16 MiB tmpfs)"""
    make_library(tmp_path / "lib", per_genre=1, seconds=2.0)
    cfg = speaker_config(tmp_path, tmpfs / "state")
    run = start_speaker(cfg)  # a first run makes the journal and the index
    assert run.ready.wait(30)
    time.sleep(1.0)
    run.finish()
    before = run.stats.played
    ballast = _fill(tmpfs)
    with pytest.raises(JournalError, match="disk is full") as err:
        Journal(cfg.journal_path)  # a command-line reader is told why, in words
    assert "recover" not in str(err.value)
    run = start_speaker(cfg)
    try:
        assert run.ready.wait(30)
        time.sleep(3.0)
        assert run.thread.is_alive() and run.parts.speaker.stats.played >= 1
    finally:
        run.finish()
    ballast.unlink()
    with Journal(cfg.journal_path) as j:
        rows = j.all()
    assert len(rows) >= before  # nothing recorded before was lost
    db = sqlite3.connect(cfg.journal_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_second_instance_on_the_same_state_folder_is_refused_naming_the_pid(tmp_path):
    """a second instance on the same state folder (item 4)"""
    make_library(tmp_path / "lib", per_genre=1, seconds=5.0)
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(
        f'[camera]\nsource = "none"\n[library]\npath = "{tmp_path / "lib"}"\n'
        f'[audio]\noutput = "dummy"\n[state]\ndir = "{tmp_path / "state"}"\n')
    exe = [sys.executable, "-m", "device.cli", "run", "--config", str(cfg_path)]
    first = subprocess.Popen([*exe, "--seconds", "20"], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (tmp_path / "state" / "journal.sqlite3"
                                                     ).exists():
            time.sleep(0.2)
        time.sleep(1.0)
        second = subprocess.run([*exe, "--seconds", "2"], cwd=REPO, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 2
        assert f"PID {first.pid}" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None  # the first one plays on, untouched
    finally:
        first.terminate()
        first.wait(30)
    with Journal(tmp_path / "state" / "journal.sqlite3") as j:
        rows = j.all()
    assert rows and all(r.end_reason != "interrupted" for r in rows)


def test_the_lock_is_released_when_the_holder_goes(tmp_path):
    """the state-folder lock released when its holder goes"""
    a = StateLock(tmp_path)
    a.acquire()
    with pytest.raises(Exception, match=f"PID {os.getpid()}"):
        StateLock(tmp_path).acquire()
    a.release()
    with StateLock(tmp_path):
        pass


def test_a_music_folder_mounted_late_is_waited_for_with_watchdog_pings(tmp_path):
    """music folder not mounted yet at start: watchdog pings while waiting (item 7)"""
    lib = tmp_path / "lib"
    said: list[str] = []
    pings: list[float] = []
    stop = threading.Event()
    result = {}
    t = threading.Thread(target=lambda: result.update(ok=wait_for_library(
        lib, stop, say=said.append, ping=lambda: pings.append(time.monotonic()),
        backoff=Backoff(0.3, 0.6))))
    t.start()
    time.sleep(1.5)
    assert t.is_alive() and said and "not mounted yet" in said[0] and len(pings) >= 2
    make_library(lib, per_genre=1, seconds=1.0)  # the disk appears
    t.join(5)
    assert result["ok"] is True


def test_run_waits_for_the_music_folder_instead_of_exiting(tmp_path):
    """music folder not mounted yet at start: the speaker waits, then plays (item 7)"""
    cfg = speaker_config(tmp_path, tmp_path / "state")
    run = start_speaker(cfg)
    time.sleep(2.5)
    assert run.thread.is_alive() and not run.ready.is_set()  # waiting, not exited ("not a folder")
    make_library(tmp_path / "lib", per_genre=1, seconds=2.0)
    assert run.ready.wait(30)  # it looks again (after 2, then 4 s) and starts
    time.sleep(1.0)
    run.finish()
    assert run.stats.played >= 1


def test_a_truncated_mp3_is_not_called_undecodable(tmp_path):
    """a truncated MP3 that played is not called undecodable (item 8)"""
    src = sorted(clips_dir().glob("*/*.mp3"))[0]
    lib = tmp_path / "lib" / "Classical"
    lib.mkdir(parents=True)
    (lib / "cut.mp3").write_bytes(src.read_bytes()[:30_000])  # about 1.5 s of audio
    (lib / "longer.mp3").write_bytes(src.read_bytes()[:80_000])  # about 4 s
    cfg = speaker_config(tmp_path, tmp_path / "state", picker={"no_repeat": 1})
    run = start_speaker(cfg)
    assert run.ready.wait(30)
    deadline = time.monotonic() + 20  # whichever is picked first, cut.mp3 comes next
    while time.monotonic() < deadline and not any(
            r[1].endswith("cut.mp3") and r[3] is not None
            for r in journal_rows(cfg.journal_path)):
        time.sleep(0.1)
    run.finish()
    with Journal(cfg.journal_path) as j:
        listens = j.all()
    cut = [r for r in listens if r.track_id.endswith("cut.mp3") and r.ended_at is not None]
    assert cut, listens
    for r in listens:
        assert r.error is None or "could not decode" not in r.error, r
