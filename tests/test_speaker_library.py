"""Library scan with mutagen on real MP3 clips: tags, genre fallbacks, rescans, broken files."""

from __future__ import annotations

import os

from device.music.library import LibraryIndex, scan_library
from device.system.demo import make_library
from tests.harness.speaker import copy_clips


def test_scan_real_clips_then_incremental_rescan(tmp_path):
    lib = copy_clips(tmp_path / "music", per_genre=2)
    (lib / "rock" / "broken.mp3").write_bytes(b"\xff\xfb" + b"not audio" * 50)
    (lib / "notes.txt").write_text("ignored")
    with LibraryIndex(tmp_path / "library.sqlite3") as index:
        r = scan_library(lib, index)
        assert r.seen == 9 and r.added == 8 and len(r.broken) == 1
        assert "broken.mp3" in r.broken[0][0]
        tracks = {t.track_id: t for t in index.tracks()}
        t = tracks["classical/10.mp3"]
        assert t.title == "Carnaval Opus 9 - Preambule" and t.artist == "Cary Chow"
        assert t.genre == "classical" and t.genre_source == "tag"
        assert abs(t.duration_s - 60.0) < 0.5
        # rescan: nothing reread, the broken file is not retried until it changes
        r2 = scan_library(lib, index)
        assert (r2.unchanged, r2.added, r2.updated, len(r2.broken)) == (9, 0, 0, 0)
        # a removed file leaves the index; a touched file is reread
        os.remove(lib / "pop" / sorted(os.listdir(lib / "pop"))[0])
        later = os.stat(lib / "rock" / "16.mp3").st_mtime + 10
        os.utime(lib / "rock" / "16.mp3", (later, later))
        r3 = scan_library(lib, index)
        assert (r3.removed, r3.updated) == (1, 1)
        assert index.stats()["tracks"] == 7 and index.stats()["broken"] == 1


def test_generated_library_uses_tags_folders_and_reports_unmapped(tmp_path):
    lib = make_library(tmp_path / "demo", per_genre=1, seconds=1.0)
    from device.system.demo import synth, write_tagged_wav

    write_tagged_wav(lib / "Misc" / "odd.wav", synth("pop", 0, 1.0), title="Odd",
                     artist="X", album="Y", genre="Vaporwave")
    with LibraryIndex(tmp_path / "library.sqlite3") as index:
        r = scan_library(lib, index)
        by_id = {t.track_id: t for t in index.tracks(playable_only=False)}
    assert by_id["Classical/classical-1.wav"].genre == "classical"
    assert by_id["Classical/classical-1.wav"].genre_source == "folder"
    assert by_id["Mixed/rap-1.wav"].genre == "rap"  # "Hip-Hop" through the alias table
    assert by_id["Mixed/rap-1.wav"].title == "Rap study 1"
    assert by_id["Misc/odd.wav"].genre is None
    assert r.unmapped == {"Vaporwave": 1}
    assert r.from_folder == 1


def test_library_cli_scan_and_stats(tmp_path, capsys):
    from device.cli import main

    lib = copy_clips(tmp_path / "music", per_genre=1)
    assert main(["library", "scan", "--path", str(lib), "--state-dir", str(tmp_path)]) == 0
    assert "4 added" in capsys.readouterr().out
    assert main(["library", "stats", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 tracks" in out and "classical" in out


def test_a_damaged_index_is_moved_aside_and_rebuilt(tmp_path, caplog):
    lib = copy_clips(tmp_path / "music", per_genre=1)
    path = tmp_path / "library.sqlite3"
    path.write_bytes(b"not an index" * 100)
    with LibraryIndex(path) as index:
        assert scan_library(lib, index).added == 4
    (aside,) = tmp_path.glob("library.sqlite3.damaged-*")
    assert aside.read_bytes() == b"not an index" * 100  # kept, not deleted
    assert "moved to" in caplog.text and "rebuilding" in caplog.text


def test_a_file_name_that_is_not_utf8_is_skipped_by_name_and_the_batch_is_kept(tmp_path, capsys):
    """Issue 13 item 1: ``bad\\xffname.mp3`` made the scan die with UnicodeEncodeError at
    the batch write, and every other track of the batch was lost."""
    import shutil

    from device.cli import main

    lib = copy_clips(tmp_path / "music", per_genre=1)
    src = next((lib / "rock").glob("*.mp3"))
    shutil.copy(src, os.path.join(os.fsencode(lib / "rock"), b"bad\xffname.mp3"))
    with LibraryIndex(tmp_path / "library.sqlite3") as index:
        r = scan_library(lib, index)
        assert r.added == 4 and index.stats()["tracks"] == 4
        assert r.bad_names == [str(lib / "rock") + "/bad\\xffname.mp3"]
        assert "1 skipped: file name not valid UTF-8" in r.summary()
        assert scan_library(lib, index).unchanged == 4  # a rescan does not trip on it
    assert main(["library", "scan", "--no-mood", "--path", str(lib),
                 "--state-dir", str(tmp_path / "cli")]) == 0
    assert "bad\\xffname.mp3" in capsys.readouterr().out
