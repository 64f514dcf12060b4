"""Valence/arousal in the library index: scored at scan time or in the background, cached
by size+mtime, undecodable files kept playable by genre; ``library list --json`` and
``pick --json`` on real clips."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from device.music.library import LibraryIndex, scan_library
from device.music.library.scoring import BackgroundScorer, score_library
from device.shared.music_mood import load_music_mood
from tests.harness.speaker import REPO

Q4 = REPO.parent / "shared" / "data" / "mer_4q"


@pytest.fixture(scope="module")
def model():
    return load_music_mood(REPO / "models")


def _library(root, n=2):
    """Real 4Q clips in genre folders, plus a truncated MP3 that mutagen still reads."""
    if not Q4.is_dir():
        pytest.skip(f"{Q4} is not present (the project's shared data folder)")
    for q, genre in (("Q1", "rock"), ("Q3", "folk")):
        (root / genre).mkdir(parents=True, exist_ok=True)
        for clip in sorted((Q4 / q).glob("*.mp3"))[:n]:
            shutil.copy(clip, root / genre / clip.name)
    first = sorted((root / "rock").glob("*.mp3"))[0]
    (root / "rock" / "truncated.mp3").write_bytes(first.read_bytes()[:2500])
    return root


def test_scores_are_cached_until_the_file_changes(tmp_path, model):
    lib = _library(tmp_path / "music")
    with LibraryIndex(tmp_path / "library.sqlite3") as index:
        scan_library(lib, index)
        first = score_library(index, model)
        assert (first.done, first.failed, first.total) == (5, 1, 5)
        tracks = {t.track_id: t for t in index.tracks()}
        assert all(t.valence is not None for k, t in tracks.items() if "truncated" not in k)
        # the undecodable file keeps its genre and stays playable, without scores
        bad = tracks["rock/truncated.mp3"]
        assert bad.genre == "rock" and bad.valence is None and bad.arousal is None
        assert index.score_counts(model.version) == (4, 1, 5)
        # a rescan of unchanged files rereads nothing and scores nothing
        assert scan_library(lib, index).unchanged == 5
        assert score_library(index, model).total == 0
        # a changed file loses its scores with its row and is scored again
        changed = sorted((lib / "folk").glob("*.mp3"))[0]
        later = changed.stat().st_mtime + 10
        os.utime(changed, (later, later))
        assert scan_library(lib, index).updated == 1
        tid = f"folk/{changed.name}"
        assert index.get(tid).valence is None
        again = score_library(index, model)
        assert again.total == 1 and index.get(tid).valence == tracks[tid].valence
        # a new model scores every row again
        assert len(index.to_score("another-model")) == 5


def test_scores_from_a_superseded_file_are_not_stored(tmp_path, model):
    from device.music.library.index import Scored

    lib = _library(tmp_path / "music", n=1)
    with LibraryIndex(tmp_path / "library.sqlite3") as index:
        scan_library(lib, index)
        row = index.to_score(model.version)[0]
        stale = Scored(row.track_id, row.mtime - 1, row.size, 0.5, 0.5)
        assert index.save_scores(model.version, [stale]) == 0
        assert index.get(row.track_id).valence is None


def test_the_background_scorer_feeds_the_picker(tmp_path, model):
    from device.music.picker import Picker
    from tests.harness.speaker import MoodTaste

    lib = _library(tmp_path / "music", n=1)
    path = tmp_path / "library.sqlite3"
    with LibraryIndex(path) as index:
        scan_library(lib, index)
        picker = Picker(index.tracks(), MoodTaste())
    assert all(t.valence is None for t in picker.tracks)
    batches = []

    def on_batch(results):
        batches.append(results)
        picker.offer_scores(results)

    scorer = BackgroundScorer(path, REPO / "models", on_batch=on_batch).start()
    scorer._thread.join(120)
    assert not scorer.running and batches and scorer.progress.finished
    assert (scorer.progress.done, scorer.progress.failed) == (3, 1)
    assert scorer.progress.short == "scoring 3/3"
    picker.pick("ann", "sad")  # applies what arrived from the scorer thread
    assert sum(t.valence is not None for t in picker.tracks) == 2


def _config(tmp_path, lib):
    cfg = tmp_path / "speaker.toml"
    cfg.write_text(f'[library]\npath = "{lib}"\n[state]\ndir = "{tmp_path / "state"}"\n'
                   f'[models]\ndir = "{REPO / "models"}"\n', encoding="utf-8")
    return cfg


def test_library_list_and_pick_json(tmp_path, capsys):
    from device.cli import main

    lib = _library(tmp_path / "music", n=2)
    cfg = _config(tmp_path, lib)
    assert main(["library", "scan", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "5/5 tracks scored" in out and "1 undecodable" in out
    assert main(["library", "list", "--json", "--config", str(cfg)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5
    for row in rows:
        assert {"path", "track_id", "genre", "duration_s", "valence", "arousal"} <= set(row)
    bad = next(r for r in rows if r["track_id"] == "rock/truncated.mp3")
    assert bad["valence"] is None and bad["arousal"] is None and bad["mood_error"]
    assert all(-1 <= r["valence"] <= 1 for r in rows if r is not bad)

    assert main(["pick", "--config", str(cfg), "--mood", "sad", "--count", "20", "--json",
                 "--seed", "3"]) == 0
    picks = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(picks) == 20
    for p in picks:
        assert p["explanation"].startswith("sad -> ")
        assert {"track_id", "taste", "fit", "score", "probability", "target"} <= set(p)
    scored = [p for p in picks if p["fit"] is not None]
    assert scored and all("(valence +0.2, arousal -0.6)" in p["explanation"] for p in scored)
    # independent picks: the journal is not written, nothing was played
    assert not (tmp_path / "state" / "journal.sqlite3").exists()


def test_pick_without_an_index_says_what_to_do(tmp_path, capsys):
    from device.cli import main

    cfg = _config(tmp_path, tmp_path)
    assert main(["pick", "--config", str(cfg), "--mood", "happy"]) == 2
    assert "run moodspeaker library scan" in capsys.readouterr().err
