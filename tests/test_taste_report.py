"""``taste report``: one person's heatmap, the genres that moved most from the prior, and
a sample of their posts with the mood read from each; ``--json`` for the same."""

from __future__ import annotations

import json

import numpy as np

from tests.test_taste_imports import HAPPY, write_library
from tests.test_taste_people import ann_exports, run
from trainer.taste.export import TasteArtifact, export


def test_report_of_a_built_person(tmp_path, capsys):
    mastodon, spotify = ann_exports(tmp_path, days=4)
    library = write_library(tmp_path / "library.sqlite3")
    models = tmp_path / "models"
    code, _ = run(capsys, "build", "--user", "ann", "--posts", mastodon, "--listens", spotify,
                  "--tracks", library, "--out", models)  # fmt: skip
    assert code == 0
    code, text = run(capsys, "report", "--user", "ann", "--models", models, "--posts", mastodon,
                     "--out", tmp_path / "rep")  # fmt: skip
    assert code == 0, text
    assert "moved most from the prior:" in text and "12 plays in that mood" in text
    sample = text.split("is it right?):")[1]
    assert "UTC happy" in sample and HAPPY in sample and "UTC sad" in sample
    assert (tmp_path / "rep" / "ann.png").read_bytes()[:4] == b"\x89PNG"
    code, text = run(capsys, "report", "--user", "ann", "--models", models, "--json")
    data = json.loads(text)
    assert code == 0 and data["known"] and data["sample"] == []
    moods, genres = data["moods"], data["genres"]
    sad = data["preferences"][moods.index("sad")]
    assert sad[genres.index("classical")] == max(sad)
    assert data["mood_evidence"][moods.index("sad")] > 0 and data["moved"]
    assert all({"mood", "genre", "prior", "now", "change"} <= set(m) for m in data["moved"])


def test_report_for_someone_unknown_or_a_broken_model(tmp_path, capsys):
    prior = np.full((4, 7), 5.0, np.float32)
    export(TasteArtifact({"users": np.array(["ann"]), "preferences": prior[None],
                          "prior": prior}, {}), tmp_path)  # fmt: skip
    code, text = run(capsys, "report", "--user", "zed", "--models", tmp_path)
    assert code == 3 and "not in the taste file" in text
    (tmp_path / "taste.npz").write_bytes(b"garbage")
    code, text = run(capsys, "report", "--user", "ann", "--models", tmp_path)
    assert code == 2 and "sha256" in text


def test_unmatched_tracks_come_back_as_a_table_to_fill_in(tmp_path, capsys):
    from datetime import datetime, timezone

    from tests.test_taste_imports import spotify_extended, write_spotify_zip

    t0 = datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    plays = [(t0, "Nobody", "Unknown Song", 100_000), (t0, "Sunny Band", "Good Day", 100_000)]
    zipped = write_spotify_zip(tmp_path / "s.zip", spotify_extended(plays))
    library = write_library(tmp_path / "library.sqlite3")
    rep = tmp_path / "rep"
    code, text = run(capsys, "build", "--user", "ann", "--listens", zipped, "--tracks", library,
                     "--out", tmp_path / "m", "--report", rep)  # fmt: skip
    assert code == 3  # listens only: no evidence
    assert "most played unmatched (add them to --tracks): Nobody - Unknown Song (1)" in text
    table = rep / "unmatched_tracks.csv"
    assert table.read_text().splitlines() == ["track_id,genre,duration_s,plays",
                                              "Nobody - Unknown Song,,,1"]  # fmt: skip
    table.write_text("track_id,genre,duration_s,plays\nNobody - Unknown Song,Jazz,200,1\n")
    code, text = run(capsys, "build", "--user", "ann", "--listens", zipped, "--tracks", library,
                     table, "--out", tmp_path / "m")  # fmt: skip
    assert "2 of 2 streamed plays matched" in text
