"""Faults of the music library, with the speaker as ``moodspeaker run`` builds it
(``device.system.app.build``), real SQLite and a real library index; no camera (a fixed
mood). The loop runs on a test clock (tests/harness/clock.py) and the player is the
in-memory ``FakePlayer`` (device/playback/fake.py), which refuses a missing file and
reports an undecodable one as libvlc does; the library is the synthesised demo tracks plus
real MP3 clips from ../shared/data where a fault needs a real MP3 (truncated, non-UTF-8
name). The real player is tested here once (a track shorter than a second: how libvlc
reports it), in tests/test_speaker_player.py, tests/test_speaker_loop_libvlc.py and, with
real ``moodspeaker run`` processes, in test_crash_faults.py and test_state_faults.py."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

from device.playback.fake import FakePlayer
from device.shared.backoff import Backoff
from device.storage.journal import Journal
from device.system.app import Parts, build
from device.system.demo import make_library
from tests.harness.clock import FakeClock, drive, drive_until, fixed_mood
from tests.harness.faults import (
    assert_journal_intact,
    longest_silence,
    speaker_config,
    start_speaker,
)
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import clips_dir, until


@contextlib.contextmanager
def faked_speaker(cfg) -> Iterator[tuple[Parts, FakeClock]]:
    """The speaker ``start_speaker`` runs (happy, 0.9: no camera), on the fake player and a
    test clock; drive it with ``drive_until(..., start=True)`` first. Shut down (the last
    listen closed, as at SIGTERM) and closed at the end of the block."""
    clock = FakeClock()
    with build(cfg, mood=fixed_mood(clock, "happy", 0.9), player=FakePlayer(clock),
               clock=clock.loop_clock()) as parts:
        try:
            yield parts, clock
        finally:
            parts.speaker.shutdown()


def test_a_music_folder_unplugged_while_playing_and_plugged_back(tmp_path):
    """music folder unplugged at run time, then plugged back"""
    lib = make_library(tmp_path / "lib", per_genre=1, seconds=1.5)
    cfg = speaker_config(tmp_path, tmp_path / "state")
    with faked_speaker(cfg) as (parts, clock):
        speaker = parts.speaker
        # the service waits 30 s, then longer, between tries
        speaker.picks.retry = Backoff(0.5, 0.5)
        size = speaker.picker.size
        drive_until(speaker, clock, lambda: speaker.stats.played >= 1, 10, "a first track",
                    start=True)
        away = tmp_path / "unplugged"
        lib.rename(away)  # the USB disk is pulled ...
        lib.mkdir()  # ... leaving an empty mount point
        drive_until(speaker, clock, lambda: speaker.note and "unreachable" in speaker.note, 10,
                    "the speaker to notice")
        played = speaker.stats.played
        # a few retries while it is away: no rows, nothing forgotten
        drive(speaker, clock, 1.5, start=False, shutdown=False)
        assert speaker.stats.played == played and speaker.status().state == "waiting"
        lib.rmdir()
        away.rename(lib)  # plugged back
        drive_until(speaker, clock, lambda: speaker.stats.played >= played + 2, 15,
                    "the music to come back")
        assert speaker.picker.size == size and len(parts.index.tracks()) == size
    stats = speaker.stats
    rows = assert_journal_intact(cfg.journal_path)
    assert len(rows) == stats.played
    assert stats.played >= played + 2 and stats.errors == 0


def test_unreadable_truncated_and_non_utf8_named_files_are_skipped_and_the_music_goes_on(
        tmp_path, caplog):
    """unreadable, truncated and non-UTF-8-named audio files"""
    lib = make_library(tmp_path / "lib", per_genre=1, seconds=2.0)
    clip = sorted(clips_dir().glob("*/*.mp3"))[0]
    bad = lib / "Classical"  # a genre by its folder name (the clips have no genre tag)
    (bad / "junk.mp3").write_bytes(b"junk" * 300)  # unreadable already at the scan
    (bad / "cut.mp3").write_bytes(clip.read_bytes()[:30_000])  # about 1.5 s, then nothing
    shutil.copy(clip, os.fsencode(bad) + b"/bad\xffname.mp3")  # a name from a FAT disk
    # every track in turn: no repeats among the last 20 while another one is playable
    cfg = speaker_config(tmp_path, tmp_path / "state", picker={"no_repeat": 20})
    garbled, vanished = lib / "Mixed" / "rock-1.wav", lib / "Mixed" / "rap-1.wav"
    with faked_speaker(cfg) as (parts, clock):  # scanned, not yet playing:
        garbled.write_bytes(b"\x00garbage" * 500)  # damage two indexed files
        vanished.unlink()
        speaker = parts.speaker
        # all ten are tried (the cut one plays 1.5 s), then the good ones play on
        drive_until(speaker, clock, lambda: speaker.stats.played >= 12, 40,
                    "every track tried, then more", start=True)
        indexed = {t.track_id for t in parts.index.tracks(playable_only=False)}
        scan_errors = dict(parts.index.errors())
    stats = speaker.stats
    # the scan kept its batch: every good file, the cut one too; junk is a named scan error
    assert {"Classical/cut.mp3", "Mixed/pop-1.wav", "Classical/classical-1.wav"} <= indexed
    assert any(p.endswith("junk.mp3") for p in scan_errors)
    named = [r.getMessage() for r in caplog.records if "not valid UTF-8" in r.getMessage()]
    assert len(named) == 1 and "bad\\xffname.mp3" in named[0]
    rows = assert_journal_intact(cfg.journal_path)
    with Journal(cfg.journal_path) as j:
        listens = j.all()
    errors = {r.track_id: r.error for r in listens if r.end_reason == "error"}
    assert set(errors) == {"Mixed/rock-1.wav", "Mixed/rap-1.wav"}, errors
    assert "could not decode" in errors["Mixed/rock-1.wav"]
    assert "rap-1.wav" in errors["Mixed/rap-1.wav"] and "No such file" in errors["Mixed/rap-1.wav"]
    cut = [r for r in listens if r.track_id == "Classical/cut.mp3"]
    assert cut and all(r.error is None or "truncated" in r.error for r in cut)
    last_error = max(i for i, r in enumerate(listens) if r.end_reason == "error")
    assert any(r.end_reason == "completed" for r in listens[last_error + 1:])  # plays on
    assert len(rows) == stats.played and longest_silence(rows) < 1.0


def test_the_speaker_never_repeats_a_track_among_the_last_no_repeat(tmp_path):
    """item 5: no repeat among the last no_repeat while another track exists"""
    lib = tmp_path / "lib"
    make_library(lib, per_genre=1, seconds=1.5)
    for extra in ("pop", "light", "folk"):  # a small, favoured genre and a tiny one
        for p in (lib / "Mixed").glob(f"{extra}-1.wav"):
            shutil.copy(p, p.with_name(f"{extra}-2.wav"))
    cfg = speaker_config(tmp_path, tmp_path / "state",
                         picker={"no_repeat": 20, "temperature": 0.05, "seed": 5})
    with faked_speaker(cfg) as (parts, clock):
        speaker = parts.speaker
        n = speaker.picker.size
        drive_until(speaker, clock, lambda: speaker.stats.played >= n + 6, 60,
                    "a round and more", start=True)
    rows = assert_journal_intact(cfg.journal_path)
    window = min(20, n - 1) + 1  # any n consecutive listens are n different tracks
    tracks = [r[1] for r in rows]
    for i in range(len(tracks) - window + 1):
        assert len(set(tracks[i:i + window])) == window, tracks[i:i + window]


def test_a_short_valid_track_is_not_called_undecodable(tmp_path):
    """a valid track shorter than a second (dummy output)"""
    require_libvlc()  # how libvlc reports a short track: the real player, in real time
    make_library(tmp_path / "lib", per_genre=1, seconds=0.8)
    cfg = speaker_config(tmp_path, tmp_path / "state", picker={"no_repeat": 20})
    run = start_speaker(cfg)
    try:
        assert run.ready.wait(30)
        until(lambda: run.parts.speaker.stats.played >= 3, 20, "three plays")
    finally:
        stats = run.finish()
    rows = assert_journal_intact(cfg.journal_path)
    assert stats.errors == 0, [r[6] for r in rows if r[6]]
