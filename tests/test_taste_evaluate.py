from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from trainer.taste.evalsim import simulated_ratings, spearman_per_slice, spearman_report
from trainer.taste.evaluate import METHODS, NO_MOOD, Ratings, evaluate_ratings
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
