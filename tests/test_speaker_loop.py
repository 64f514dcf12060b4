"""The speaker loop with a real journal, a real library index and a scripted mood source;
the player is the in-memory ``FakePlayer`` (device/playback/fake.py) on a test clock
(tests/harness/clock.py), so seconds of listening run in milliseconds.

The real player is tested elsewhere: the mood-switch case below runs again on real libvlc
in tests/test_speaker_loop_libvlc.py, ``VlcPlayer`` itself in tests/test_speaker_player.py,
and the whole speaker (camera, model, libvlc) in tests/test_speaker_e2e.py. The mood source
is scripted (no camera here).
"""

from __future__ import annotations

from collections.abc import Callable

from device.music.library import LibraryIndex, scan_library
from device.music.picker import Picker
from device.perception.mood_watch import MoodReading
from device.playback.fake import FakePlayer
from device.shared.backoff import Backoff
from device.system.app import build
from device.system.config import PickerConfig, config_from_dict
from device.system.demo import make_library
from device.system.status import format_status
from tests.harness.clock import FakeClock, drive, fixed_mood
from tests.harness.speaker import MoodTaste


class ScriptedMood:
    """Happy for the first ``switch_at`` seconds, sad afterwards (stands in for a camera);
    ``clock``: the test clock, or ``time.monotonic`` on real libvlc."""

    def __init__(self, clock: Callable[[], float], switch_at: float):
        self.clock = clock
        self.t0 = clock()
        self.switch_at = switch_at

    def latest(self) -> MoodReading:
        elapsed = self.clock() - self.t0
        if elapsed < self.switch_at:
            return MoodReading("happy", 0.9, self.t0, faces=1, camera_ok=True)
        return MoodReading("sad", 0.8, self.t0 + self.switch_at, faces=1, camera_ok=True)


def _cfg(tmp_path, **over):
    raw = {
        "library": {"path": str(tmp_path / "lib")},
        "state": {"dir": str(tmp_path / "state")},
        "audio": {"output": "dummy", "fade_s": 0.2},
        "user": {"active": "ann"},
        "mood": {"switch_after_s": 1.0},
        "picker": {"temperature": 0.05, "no_repeat": 1, "seed": 1},
        "journal": {"position_interval_s": 0.5},
        "camera": {"source": "none"},
    }
    for k, v in over.items():
        raw.setdefault(k, {}).update(v)
    return config_from_dict(raw)


def _faked(cfg, mood=None, clock=None):
    """``build`` with the fake player on a test clock: (the parts' context, the clock)."""
    clock = clock or FakeClock()
    mood = mood if mood is not None else fixed_mood(clock)
    return build(cfg, mood=mood, player=FakePlayer(clock), clock=clock.loop_clock()), clock


def _with_taste(parts, taste) -> None:
    p = parts.speaker.picker
    parts.speaker.picker = Picker(
        [t for ts in p.by_genre.values() for t in ts], taste,
        PickerConfig(temperature=0.05, no_repeat=1), feedback=p.feedback, rng=p.rng)


def check_mood_switch(cfg, stats, listens) -> None:
    """What the mood-switch run must show (here and on real libvlc)."""
    # every play is one row, closed; only the last one was stopped by the shutdown
    assert len(listens) == stats.played and stats.played >= 4
    assert all(r.ended_at is not None for r in listens)
    assert [r.end_reason for r in listens[:-1]].count("completed") >= 2
    assert listens[-1].end_reason == "stopped" and listens[-1].ended_by == "shutdown"
    happy = [r for r in listens if r.mood == "happy"]
    sad = [r for r in listens if r.mood == "sad"]
    # the first pick follows the confident first reading; then one switch: happy -> sad
    assert listens[0].mood == "happy"
    assert happy and sad and stats.mood_switches == 1
    assert {r.genre for r in happy} == {"pop"} and {r.genre for r in sad} == {"classical"}
    assert any(r.ended_by == "mood" for r in listens)  # the switch faded out the pop track
    assert all(r.explanation for r in listens)
    # the completed happy pop listens count for pop in this mood
    assert cfg.journal_path.exists()
    from device.storage.journal import Journal

    with Journal(cfg.journal_path) as j:
        c, s = j.feedback_counts("ann").get(("happy", "pop"), (0, 0))
    assert c >= 1 and s == 0


def test_mood_change_switches_genre_and_journal_holds_exactly_the_listens(tmp_path):
    make_library(tmp_path / "lib", per_genre=2, seconds=2.0)
    cfg = _cfg(tmp_path)
    clock = FakeClock()
    built, clock = _faked(cfg, ScriptedMood(clock, switch_at=4.0), clock)
    with built as parts:
        _with_taste(parts, MoodTaste())
        drive(parts.speaker, clock, 9.0)
        stats = parts.speaker.stats
        listens = parts.journal.all()
    check_mood_switch(cfg, stats, listens)


def test_unreadable_tracks_are_skipped_and_journalled_as_errors(tmp_path):
    make_library(tmp_path / "lib", per_genre=1, seconds=1.5)
    (tmp_path / "lib" / "Mixed" / "junk.mp3").write_bytes(b"junk" * 300)  # broken at scan
    # a near-uniform genre draw, so every bad track is tried within the run whatever
    # the shipped taste prior prefers
    cfg = _cfg(tmp_path, picker={"no_repeat": 0, "temperature": 50.0})
    built, clock = _faked(cfg)
    with built as parts:
        tracks = sorted((t for ts in parts.speaker.picker.by_genre.values() for t in ts),
                        key=lambda t: t.track_id)
        keep, gone, garbled = tracks[0], tracks[1:4], tracks[4:]
        for t in gone:  # vanished after the scan
            (tmp_path / "lib" / t.track_id).unlink()
        for t in garbled:  # still there, but not audio any more
            (tmp_path / "lib" / t.track_id).write_bytes(b"\x00garbage" * 500)
        drive(parts.speaker, clock, 6.0)
        stats = parts.speaker.stats
        listens = parts.journal.all()
        errors = parts.index.errors()
    assert any("junk.mp3" in p for p, _ in errors)
    bad_ids = {t.track_id for t in gone + garbled}
    for r in listens:
        if r.track_id in bad_ids:
            assert r.end_reason == "error" and r.error, r
        else:
            assert r.track_id == keep.track_id and r.end_reason in ("completed", "stopped")
    assert {r.track_id for r in listens if r.end_reason == "error"} == bad_ids
    assert any(r.track_id == keep.track_id and r.end_reason == "completed" for r in listens)
    assert stats.errors == len(bad_ids)
    # the index learnt it too: vanished files are gone, garbled ones are scan errors that
    # a rescan does not retry until they change (and a restart does not pick them)
    with LibraryIndex(cfg.library_index_path) as index:
        assert {t.track_id for t in index.tracks()} == {keep.track_id}
        failed = {p for p, e in index.errors() if e.startswith("failed to play")}
        assert failed == {str(tmp_path / "lib" / t.track_id) for t in garbled}
        report = scan_library(tmp_path / "lib", index)
        assert report.added == 0 and {t.track_id for t in index.tracks()} == {keep.track_id}


def test_an_unplugged_library_pauses_picks_and_forgets_nothing(tmp_path):
    lib = make_library(tmp_path / "lib", per_genre=1, seconds=1.5)
    cfg = _cfg(tmp_path)
    away = tmp_path / "unplugged"
    built, clock = _faked(cfg)
    with built as parts:
        sp = parts.speaker
        sp.picks.retry = Backoff(0.3, 0.3)
        n_tracks = sp.picker.size
        lib.rename(away)  # the USB disk is pulled before the first track
        lib.mkdir()  # ... leaving an empty mount point

        def still_unplugged():
            assert parts.journal.all() == [] and sp.now is None  # nothing attempted, no rows
            st = sp.status()  # the status says why nothing plays (item 8 of issue 13)
            assert st.state == "waiting" and "library folder is unreachable" in st.note
            assert "unreachable" in format_status(st)
            lib.rmdir()
            away.rename(lib)  # plugged back in: the next retry plays

        drive(sp, clock, 5.0, at={1.5: still_unplugged})
        listens = parts.journal.all()
        assert sp.picker.size == n_tracks and len(parts.index.tracks()) == n_tracks
    assert listens and all(r.end_reason != "error" for r in listens)


def test_commands_next_pause_volume_and_user(tmp_path):
    make_library(tmp_path / "lib", per_genre=2, seconds=6.0)
    cfg = _cfg(tmp_path, audio={"volume": 80, "startup_volume_cap": 30})
    built, clock = _faked(cfg)
    with built as parts:
        sp = parts.speaker
        done = []

        def first():
            assert sp.player.volume == 30  # capped start-up volume
            sp.command("next")

        def later():
            sp.command("volume", 55)
            sp.command("pause")

        def paused():
            assert sp.player.poll().state == "paused" and sp.player.volume == 55
            sp.command("toggle")
            (cfg.state.dir / "active_user").write_text("bob\n")

        def switched():
            assert sp.user == "bob"
            done.append(True)

        drive(sp, clock, 8.0, at={1.5: first, 2.5: later, 3.1: paused, 4.1: switched},
              until=lambda: bool(done))
        assert done
        listens = parts.journal.all()
    assert listens[0].end_reason == "skipped" and listens[0].ended_by == "user"
    assert listens[-1].user == "bob" or listens[-1].end_reason == "stopped"


def test_switching_user_loads_their_learning_off_the_loop(tmp_path):
    """The `user` command: bob's skips, journalled earlier, steer the picks once he is the
    listener (his counts are rebuilt on the jobs thread and handed back to the loop)."""
    make_library(tmp_path / "lib", per_genre=1, seconds=6.0)
    cfg = _cfg(tmp_path)
    from device.storage.journal import Journal

    with Journal(cfg.journal_path) as j:
        for _ in range(6):
            eid = j.start(user="bob", track_id="Mixed/pop-1.wav", path="x", genre="pop",
                          mood="unknown", mood_confidence=0.0, duration_s=6.0)
            j.end(eid, "skipped", 2.0, ended_by="user", feedback=("bob", "happy", "pop",
                                                                 "skipped"))
    built, clock = _faked(cfg)
    with built as parts:
        sp = parts.speaker
        assert sp.picker.feedback.adjustment("happy", "pop") == 0.0  # ann knows nothing
        answer = []
        # the jobs thread needs real time: each tick really pauses 10 ms, up to 5 s
        drive(sp, clock, 100.0, real_pause_s=0.01,
              at={0.0: lambda: answer.append(sp.command("user", "bob"))},
              until=lambda: sp.picker.feedback.adjustment("happy", "pop") != 0.0)
        assert answer[0].result(timeout=5).ok
        assert sp.picker.feedback.adjustment("happy", "pop") < -1.0


def test_a_resumed_listen_keeps_its_mood_confidence(tmp_path):
    """Issue 13, item 8: a listen resumed after a crash recorded confidence 0.00."""
    make_library(tmp_path / "lib", per_genre=1, seconds=12.0)
    cfg = _cfg(tmp_path, resume={"enabled": True, "rewind_s": 1.0})
    from device.storage.journal import Journal

    with LibraryIndex(cfg.library_index_path) as index:  # what the speaker will play from
        scan_library(cfg.library.path, index)
        track = index.tracks()[0]
    with Journal(cfg.journal_path) as j:  # a listen that a crash cut off at 5 s
        eid = j.start(user="ann", track_id=track.track_id, path=track.path, genre=track.genre,
                      mood="sad", mood_confidence=0.83, duration_s=track.duration_s)
        j.update_position(eid, 5.0)
    built, clock = _faked(cfg)
    with built as parts:
        drive(parts.speaker, clock, 1.5)
        resumed = parts.journal.all()[-1]
    assert resumed.start_offset_s == 4.0 and resumed.mood == "sad"
    assert resumed.mood_confidence == 0.83
