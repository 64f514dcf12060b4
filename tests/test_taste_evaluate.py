from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from trainer.taste.evalsim import simulated_ratings, spearman_per_slice, spearman_report
from trainer.taste.evaluate import (
    DEFAULT_CFG,
    METHODS,
    NO_MOOD,
    CellTensor,
    Ratings,
    choose_track_weights,
    evaluate_ratings,
    to10,
    track_step,
    tucker_cells,
)
from trainer.taste.report import write_report

DATA = Path(__file__).parent.parent.parent / "shared" / "data"


def _toy(seed: int = 0, context: bool = False) -> Ratings:
    """Users who like genre (user % 3) more when happy: the mood-aware signal to find."""
    rng = np.random.default_rng(seed)
    n = 900
    user, item = rng.integers(30, size=n), rng.integers(40, size=n)
    genre, mood = item % 4, rng.integers(4, size=n)
    rating = np.clip(3 + (genre == user % 3) * (mood == 0) * 1.5 + rng.normal(0, 0.5, n), 1, 5)
    if context:
        mood[:300] = NO_MOOD
    return Ratings(user, item, mood, genre, rating, (1.0, 5.0))


def test_evaluation_smoke_two_folds(tmp_path):
    result = {"dataset": "toy", "k": 2, "seed": 0, "rows": 900, "scored_rows": 900,
              "users": 30, "items": 40, "genres": 4, **evaluate_ratings(_toy(), 2, 0)}  # fmt: skip
    summary = result["summary"]
    assert set(summary) == set(METHODS)
    for name in METHODS:
        assert len(result["folds"][name]) == 2
        assert np.isfinite(summary[name]["mae"]) and summary[name]["mae_std"] >= 0
    assert summary["mood_tucker"]["mae"] < summary["user_mean"]["mae"]
    text = write_report(result, tmp_path / "toy")
    assert "| mood_tucker |" in text and (tmp_path / "toy.md").exists()
    assert (tmp_path / "toy_mae.png").exists() and (tmp_path / "toy_pn.png").exists()


def test_context_rows_train_but_are_not_scored():
    res = evaluate_ratings(_toy(context=True), 2, 0, methods=("global_mean", "mood_tucker"))
    assert np.isfinite(res["summary"]["mood_tucker"]["mae"])


def test_spearman_per_slice_matches_scipy():
    rng = np.random.default_rng(0)
    est, truth = rng.random((5, 4, 7)), rng.random((5, 4, 7))
    est[0, 0] = np.round(est[0, 0], 1)  # ties
    est[1, 1] = 3.0  # constant: scores 0
    rho = spearman_per_slice(est, truth)
    assert rho[0, 0] == pytest.approx(spearmanr(est[0, 0], truth[0, 0]).statistic)
    assert rho[2, 3] == pytest.approx(spearmanr(est[2, 3], truth[2, 3]).statistic)
    assert rho[1, 1] == 0.0


@pytest.mark.skipif(not (DATA / "nlpcc2014_weibo_emotion").exists(), reason="no shared data")
def test_simulated_pipeline_recovers_planted_tastes(tmp_path):
    from trainer.taste.simulate import simulate, write_simulation

    sim = simulate(DATA / "nlpcc2014_weibo_emotion", DATA / "lastfm1k_subset", n_users=80,
                   posts_per_user=60, seed=1)  # fmt: skip
    write_simulation(sim, tmp_path)
    result = spearman_report(simulated_ratings(tmp_path))
    pipeline = result["pipeline"]["mean"]
    assert pipeline > result["prior_only"]["mean"] + 0.1
    assert pipeline > 0.6  # 0.72 at 300 users (bench/results/taste/simulated.md)
    assert result["pipeline_true_post_moods"]["mean"] > pipeline


def test_repeats_add_seeded_splits_and_keep_the_first():
    methods = ("global_mean", "mood_tucker")
    once = evaluate_ratings(_toy(), 2, 5, methods=methods)
    thrice = evaluate_ratings(_toy(), 2, 5, methods=methods, repeats=3)
    folds = thrice["folds"]["mood_tucker"]
    assert [(f["repeat"], f["fold"]) for f in folds] == [(r, k) for r in range(3) for k in (0, 1)]
    assert folds[:2] == once["folds"]["mood_tucker"]  # repeat 0 is the single-seed run
    assert folds[2]["mae"] != folds[0]["mae"]  # other seeds split differently
    maes = [f["mae"] for f in folds]
    assert thrice["summary"]["mood_tucker"]["mae"] == pytest.approx(np.mean(maes))


def _rerated(mood_effect: float, seed: int = 0) -> Ratings:
    """Every user rates every item in several moods; happy adds ``mood_effect``."""
    rng = np.random.default_rng(seed)
    user, item, mood = (a.ravel() for a in np.meshgrid(
        np.arange(12), np.arange(10), np.arange(4), indexing="ij"))  # fmt: skip
    base = rng.normal(3, 0.8, (12, 10))[user, item]
    rating = np.clip(base + mood_effect * (mood == 0) + rng.normal(0, 0.2, user.size), 1, 5)
    return Ratings(user, item, mood, item % 3, rating, (1.0, 5.0))


def test_mood_shift_zero_keeps_the_users_own_mean_rating():
    r = _rerated(0.0)
    idx = np.arange(r.rating.size)
    te, tr = idx[r.mood == 1], idx[r.mood != 1]
    full = tucker_cells(CellTensor.of(r, tr), DEFAULT_CFG)
    cell = full[r.user[te], r.mood[te], r.genre[te]]
    pred = track_step(r, tr, te, cell, full, mood_shift=0.0, own_shrink=0.0)
    own = np.array([to10(r, r.rating[tr][(r.user[tr] == u) & (r.item[tr] == i)]).mean()
                    for u, i in zip(r.user[te], r.item[te], strict=True)])  # fmt: skip
    assert pred == pytest.approx(own)
    moved = track_step(r, tr, te, cell, full, mood_shift=1.0, own_shrink=0.0)
    assert not np.allclose(moved, own)


def test_inner_cv_keeps_the_mood_shift_where_moods_move_ratings():
    idx = np.arange(_rerated(0.0).rating.size)
    assert choose_track_weights(_rerated(1.5), idx, DEFAULT_CFG, seed=0)[0] == 1.0
    assert choose_track_weights(_rerated(0.0), idx, DEFAULT_CFG, seed=0)[0] < 1.0
