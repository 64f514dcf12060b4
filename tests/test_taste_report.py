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
