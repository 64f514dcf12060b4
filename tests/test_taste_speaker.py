"""Speaker listens as taste evidence (issue 23): reading journals and the ingest store (old
journals too), the evidence rule, the camera's confusion, the simulation against counting,
the report's sources, and the device's feedback after a model arrives."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from device.music.learning import LearningRule, counts_since
from device.music.picker_setup import learning_for, learnt_until
from device.shared.listens import Listen as JournalListen
from device.shared.manifest import ManifestError, load_manifest
from device.shared.moods import MOODS
from device.shared.taste import load_taste
from tests.test_taste_imports import write_library
from tests.test_taste_people import run
from trainer.sync.store import ListenStore
from trainer.taste.build import BuildConfig, build_artifact, camera_confusion
from trainer.taste.evalsim import spearman_per_slice
from trainer.taste.export import export
from trainer.taste.importers import Input, read_inputs, read_track_table
from trainer.taste.person_report import evidence_sources, person_report, text
from trainer.taste.records import Listen, MoodPost
from trainer.taste.simulate import planted_tastes
from trainer.taste.speaker import SpeakerConfig, likelihood, outcome, speaker_evidence
from trainer.taste.speaker_sim import completion_counts, simulate_speaker, write_journal

MODELS = Path(__file__).resolve().parent.parent / "models"
T0 = 1_760_000_000.0


def heard(mood="happy", reason="completed", by="end", seconds=200.0, genre="pop",
          user="ann", start=T0, confidence=0.8) -> Listen:  # fmt: skip
    return Listen(user, f"{genre}/a.mp3", genre, start, start + seconds, 200.0, mood=mood,
                  mood_confidence=confidence, end_reason=reason, ended_by=by,
                  heard_s=seconds)  # fmt: skip


@pytest.fixture(scope="module")
def month():
    """30 people, a month of speaker use each, camera through the shipped confusion."""
    truth = planted_tastes(30, np.random.default_rng(7))
    users = tuple(f"p{i:02d}" for i in range(30))
    counts = load_manifest(MODELS).fer.mood_confusion
    return simulate_speaker(truth, users, np.asarray(counts), seed=7)


def test_the_evidence_rule():
    assert outcome(heard()) == 1
    assert outcome(heard(reason="skipped", by="user", seconds=10)) == 0
    assert outcome(heard(reason="skipped", by="user", seconds=90)) is None  # a late skip
    for by in ("mood", "shutdown", "crash"):
        assert outcome(heard(reason="skipped" if by == "mood" else "stopped", by=by)) is None
    assert outcome(heard(reason="error", by="end", seconds=1)) is None
    assert outcome(heard(reason="stopped", by="user", seconds=5)) is None
    assert outcome(heard(mood="unknown")) is None
    # an old journal (no ended_by): a completion and an early skip still count
    assert outcome(heard(by=None)) == 1
    assert outcome(heard(reason="skipped", by=None, seconds=5)) == 0


def test_journal_and_ingest_store_give_speaker_fields(tmp_path, month):
    rows = month.listens[:40]
    journal = write_journal(rows, tmp_path / "journal.sqlite3")
    got = read_inputs([Input(journal, "listens", None)]).listens
    assert len(got) == 40
    for mine, theirs in zip(got, rows, strict=True):
        assert (mine.mood, mine.end_reason, mine.ended_by) == (
            theirs.mood, theirs.end_reason, theirs.ended_by)  # fmt: skip
        assert mine.mood_confidence == pytest.approx(theirs.mood_confidence)
        assert mine.heard == pytest.approx(theirs.heard, abs=1e-6)
        assert mine.from_speaker
    store = ListenStore(tmp_path / "ingest.sqlite3")
    batch = []
    for i, x in enumerate(rows):
        batch.append({
            "event_id": f"e{i}", "user": x.user, "track_id": x.track_id, "path": x.track_id,
            "genre": x.genre, "mood": x.mood, "mood_confidence": x.mood_confidence,
            "started_at": x.started_at, "ended_at": x.ended_at, "position_s": x.heard_s,
            "duration_s": x.duration_s, "end_reason": x.end_reason, "start_offset_s": 0.0,
            "explanation": None, "error": None, "ended_by": x.ended_by, "seq": i + 1,
        })  # fmt: skip
    assert not store.add_batch("kitchen", batch).rejected
    store.close()
    [cols] = read_inputs([Input(tmp_path / "ingest.sqlite3", "listens", None)],
                         listeners={f"{u}@kitchen": u for u in month.users}).stored
    stored = cols.speaker  # the store as columns; its speaker evidence as records
    assert len(cols) == 40 and {x.device for x in stored} == {"kitchen"}
    assert [(x.mood, x.end_reason, x.ended_by) for x in stored] == [
        (x.mood, x.end_reason, x.ended_by) for x in rows if x.mood in MOODS]  # fmt: skip
    ev = speaker_evidence(stored, month.users)
    assert ev.used == sum(outcome(x) is not None for x in rows) > 0


def test_old_journal_without_the_new_columns(tmp_path, month):
    path = write_journal(month.listens[:600], tmp_path / "old.sqlite3", old=True)
    columns = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(listens)")]
    assert "ended_by" not in columns and "start_offset_s" not in columns
    got = read_inputs([Input(path, "listens", None)]).listens
    assert len(got) == 600 and all(x.ended_by is None and x.from_speaker for x in got)
    ev = speaker_evidence(got, month.users)
    assert ev.used > 300
    # skips that look like mood switches (next listen within seconds, another mood) are not
    # counted as the listener's; nor are shutdowns (stopped) or errors
    assert ev.ignored["mood switch (old journal)"] + ev.ignored["stopped"] > 0
    # journals without even mood columns: other services' path, no speaker evidence
    bare = tmp_path / "bare.sqlite3"
    db = sqlite3.connect(bare)
    db.execute("CREATE TABLE listens (user, track_id, genre, started_at, ended_at, duration_s)")
    db.execute("INSERT INTO listens VALUES ('ann', 't', 'pop', 1e9, 1e9 + 100, 200)")
    db.commit()
    db.close()
    (x,) = read_inputs([Input(bare, "listens", None)]).listens
    assert not x.from_speaker and x.heard == pytest.approx(0.5)


def test_a_person_with_only_speaker_history_gets_a_model(month):
    cfg = BuildConfig(camera_confusion=camera_confusion(MODELS))
    art = build_artifact([], month.listens, cfg, {}, month.users)
    assert art.info["users_without_evidence"] == 0
    assert art.info["speaker"]["listens_used"] > 0.8 * len(month.listens)
    assert set(art.info["speaker_listens_until"]) == set(month.users)
    rho = spearman_per_slice(art.arrays["preferences"], month.truth).mean(axis=0)
    count = spearman_per_slice(completion_counts(month.listens, month.users), month.truth)
    assert (rho > count.mean(axis=0)).all()
    assert rho[:3].mean() > 0.7
    assert art.arrays["evidence_posts"].sum() == 0
    assert art.arrays["evidence_speaker"].sum() == pytest.approx(art.arrays["evidence"].sum())


def test_streamed_listens_keep_the_post_path(month):
    """A Spotify play has no mood: never speaker evidence, only around posts; a speaker
    listen is evidence by itself and not counted again around a post."""
    spotify = Listen("ann", "t", "rock", T0, T0 + 200, 200.0)
    assert not spotify.from_speaker
    ev = speaker_evidence([spotify], ("ann",))
    assert ev.used == 0 and ev.trials.sum() == 0
    post = MoodPost("ann", T0 + 60, "sad")
    art = build_artifact([post], [spotify, heard(mood="happy", start=T0 + 30)],
                         BuildConfig(), {}, ("ann",))  # fmt: skip
    sad, happy = MOODS.index("sad"), MOODS.index("happy")
    assert art.arrays["evidence_posts"][0, sad] == 1  # the Spotify play only
    assert art.arrays["evidence_speaker"][0, happy] == 1
    assert art.arrays["evidence_speaker"][0, sad] == 0


def test_shipped_manifest_carries_the_validation_confusion():
    fer = load_manifest(MODELS).fer
    assert fer is not None and fer.mood_confusion is not None
    matrix = np.asarray(fer.mood_confusion)
    # PublicTest (the FER training's validation split), int8: supports per true mood
    assert matrix.sum(axis=1).tolist() == [891, 652, 467, 604]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(0.7716, abs=1e-4)
    assert np.allclose(fer.seen_given_true().sum(axis=1), 1.0)


def test_manifest_without_the_matrix_loads_and_moods_are_certain(tmp_path, month):
    raw = json.loads((MODELS / "manifest.json").read_text())
    del raw["fer"]["mood_confusion"]
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    fer = load_manifest(tmp_path).fer
    assert fer is not None and fer.mood_confusion is None and fer.seen_given_true() is None
    assert camera_confusion(tmp_path) is None
    assert camera_confusion(tmp_path / "nowhere") is None
    ev = speaker_evidence(month.listens, month.users, None)
    assert np.allclose(ev.trials, ev.seen_trials)  # every listen stays in the mood seen
    spread = speaker_evidence(month.listens, month.users, camera_confusion(MODELS))
    assert not np.allclose(spread.trials, spread.seen_trials)
    assert spread.trials.sum() == pytest.approx(spread.seen_trials.sum())
    raw["fer"]["mood_confusion"] = [[1, 2], [3, 4]]
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="mood_confusion"):
        load_manifest(tmp_path)


def test_the_camera_likelihood():
    seen_given_true = load_manifest(MODELS).fer.seen_given_true()
    seen = np.array([MOODS.index("sad")] * 3)
    conf = np.array([0.6, 0.9, 1.0])
    spread = likelihood(seen, conf, seen_given_true, SpeakerConfig())
    assert spread[0, MOODS.index("sad")] == 1.0 and (spread[0] > 0).all()
    assert np.allclose(spread[2], np.eye(4)[MOODS.index("sad")])  # an override is certain
    assert np.allclose(likelihood(seen, conf, None, SpeakerConfig()), np.eye(4)[seen])


def test_report_shows_speaker_and_post_evidence(tmp_path, month, capsys):
    art = build_artifact([], month.listens[:400], BuildConfig(), {}, month.users[:2])
    export(art, tmp_path)
    model = load_taste(tmp_path)
    rep = person_report(model, month.users[0], sources=evidence_sources(tmp_path))
    assert sum(rep.speaker_evidence) > 0 and sum(rep.post_evidence) == 0
    shown = text(rep)
    assert "where the evidence came from" in shown and "100 % speaker" in shown
    code, out = run(capsys, "report", "--models", tmp_path, "--user", month.users[0])
    assert code == 0 and "speaker" in out


def test_simulate_speaker_and_build_from_the_cli(tmp_path, capsys):
    out = tmp_path / "sim"
    code, said = run(capsys, "simulate-speaker", "--users", "6", "--listens-per-user", "80",
                     "--out", out, "--old-journal")  # fmt: skip
    assert code == 0 and (out / "journal.sqlite3").exists() and (out / "truth.npz").exists()
    code, said = run(capsys, "build", "--listens", out / "journal.sqlite3", "--out",
                     tmp_path / "models")  # fmt: skip
    assert code == 0, said
    assert "speaker listens with the mood seen" in said
    entry = json.loads((tmp_path / "models" / "manifest.json").read_text())["taste"]
    assert len(entry["speaker_listens_until"]) == 6


def test_device_counts_only_feedback_after_the_model(tmp_path):
    rule = LearningRule()

    def row(i, ended, reason="completed", by="end", pos=200.0):
        return JournalListen(f"e{i}", "ann", f"t{i}", f"/m/t{i}", "pop", "happy", 0.9,
                             ended - pos, ended, pos, 200.0, reason, True, ended_by=by)

    rows = [row(1, T0), row(2, T0 + 10, "skipped", "user", 5.0), row(3, T0 + 500),
            row(4, T0 + 600, "skipped", "mood", 5.0), row(5, T0 + 700, "skipped", "user", 5.0)]
    assert counts_since("ann", rows, rule, T0 + 100) == {("happy", "pop"): (1, 1)}
    assert counts_since("ann", rows, rule, 0.0) == {("happy", "pop"): (2, 2)}

    class Journal:
        def all(self):
            return rows

        def feedback_counts(self, user):
            return {("happy", "pop"): (2, 2)}

    class Index:
        def tracks(self):
            return []

    table, _ = learning_for("ann", Journal(), Index(), rule)
    assert table.adjustment("happy", "pop") == 0.0  # every count: 2 - 2
    table, _ = learning_for("ann", Journal(), Index(), rule, since=T0 + 550)
    assert table.adjustment("happy", "pop") < 0  # only the later early skip
    art = build_artifact([], [heard(start=T0)], BuildConfig(), {}, ("ann",))
    export(art, tmp_path)
    model = load_taste(tmp_path)
    assert learnt_until(model, "ann") == pytest.approx(T0 + 200.0)
    assert learnt_until(model, "bo") is None
    prior_only = tmp_path / "prior"
    shutil.copytree(MODELS, prior_only)
    assert learnt_until(load_taste(prior_only), "ann") is None


def test_lastfm_headerless_with_the_track_playing_at_export(tmp_path):
    library = write_library(tmp_path / "library.sqlite3")
    csv_file = tmp_path / "scrobbles.csv"
    csv_file.write_text("Someone,Some Album,Now Playing Song,\n"
                        "Someone,Some Album,Other Song,31 Jan 2024 10:00\n")  # fmt: skip
    got = read_inputs([Input(csv_file, "listens", "ann")], catalog=read_track_table(library))
    assert got.report.sources[0].kind == "Last.fm CSV"
    assert got.report.sources[0].reasons["playing at export"] == 1
    assert any("playing at export time" in s for s in got.report.skipped)
    assert got.report.sources[0].read["ann"] == 1
    assert "playing at export" in got.report.summary()


def test_speaker_weight_is_used(month):
    post = MoodPost("p00", month.listens[0].started_at, "sad")
    streamed = Listen("p00", "x", "rock", post.time, post.time + 100, 100.0)
    base = BuildConfig()
    a = build_artifact([post], [streamed, *month.listens[:200]], base, {}, ("p00",))
    b = build_artifact([post], [streamed, *month.listens[:200]],
                       replace(base, speaker_weight=50.0), {}, ("p00",))  # fmt: skip
    assert not np.allclose(a.arrays["preferences"], b.arrays["preferences"])
