"""The population prior: shrinkage on planted data, the shipped artifact, the real data."""

import json

import numpy as np

from device.shared.genres import GENRES
from device.shared.moods import MOODS
from device.shared.taste import load_taste
from trainer.taste.export import export
from trainer.taste.prior import Rows, cross_validate, fit_prior, prior_artifact, read_sources


def _planted(n_per_cell: int, seed: int = 0) -> tuple[Rows, np.ndarray]:
    """Users with their own offsets rating genres with a planted mood x genre contrast."""
    rng = np.random.default_rng(seed)
    effect = rng.normal(0, 1.5, size=(len(MOODS), len(GENRES)))
    user, mood, genre, score = [], [], [], []
    for e in range(len(MOODS)):
        for g in range(len(GENRES)):
            u = rng.integers(50, size=n_per_cell)
            user += [f"u{i}" for i in u]
            mood += [e] * n_per_cell
            genre += [g] * n_per_cell
            score += list(np.clip(5 + (u % 5 - 2) + effect[e, g] + rng.normal(0, 1, n_per_cell),
                                  0, 10))  # fmt: skip
    rows = Rows("planted", np.array(user), np.array(mood), np.array(genre), np.array(score), {})
    return rows, effect


def test_prior_recovers_planted_contrasts_and_keeps_evidence():
    rows, effect = _planted(200)
    prior = fit_prior([rows], k=5)
    # within each mood the genre ranking is what was planted
    for e in range(len(MOODS)):
        assert np.corrcoef(prior.values[e], effect[e])[0, 1] > 0.95
    assert prior.evidence.sum() == len(rows.score)
    assert np.all(prior.evidence == 200)


def test_prior_shrinks_thin_cells_to_the_genre_effect():
    rows, _ = _planted(200)
    keep = ~((rows.mood == 2) & (rows.genre == 3)) | (np.arange(len(rows.score)) % 100 == 0)
    thin = Rows("thin", rows.user[keep], rows.mood[keep], rows.genre[keep], rows.score[keep], {})
    prior = fit_prior([thin], k=50)
    assert prior.evidence[2, 3] == 2
    fallback = prior.level + prior.genre_effect[3]
    assert abs(prior.values[2, 3] - fallback) < 0.1  # 2 rows against k = 50
    assert prior.stderr[2, 3] > 2 * prior.stderr[0, 0]
    # a genre nobody rated falls back to the overall level
    none = Rows("none", rows.user[rows.genre != 6], rows.mood[rows.genre != 6],
                rows.genre[rows.genre != 6], rows.score[rows.genre != 6], {})  # fmt: skip
    p = fit_prior([none], k=20)
    assert np.allclose(p.values[:, 6], p.level)


def test_prior_artifact_round_trips_through_the_device_reader(tmp_path):
    rows, _ = _planted(20)
    prior = fit_prior([rows])
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "other": {"keep": "me"}}))
    export(prior_artifact(prior), tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["other"] == {"keep": "me"}  # other sections are kept
    assert manifest["taste"]["users"] == 0
    model = load_taste(tmp_path)
    assert not model.knows("anyone")
    assert np.allclose(model.prior, prior.values)
    with np.load(tmp_path / "taste.npz") as npz:
        assert npz["prior_evidence"].shape == (4, 7)


def test_real_sources_map_and_the_shipped_prior_matches(shared_data, repo_root):
    sources = read_sources(shared_data)
    assert [s.source for s in sources] == ["incarmusic", "emotify", "mumr"]
    assert sum(len(s.score) for s in sources) > 13_000
    assert sources[2].unmapped == {"other": 98}  # reported, not silently dropped
    prior = fit_prior(sources)
    assert prior.evidence[MOODS.index("happy")].sum() > 5_000
    shipped = load_taste(repo_root / "models")
    assert np.allclose(shipped.prior, prior.values, atol=1e-3), "re-run `taste prior`"
    # not flat: the demo must show a mood -> genre link
    assert np.ptp(shipped.prior, axis=1).min() > 0.5
    cv = cross_validate(sources, folds=3)
    assert cv["mse"]["pooled"]["genre"] < cv["mse"]["pooled"]["user_mean"]
