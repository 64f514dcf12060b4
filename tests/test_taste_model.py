import json

import numpy as np
import pytest

from device.shared.manifest import ManifestError
from device.shared.moods import MOODS
from device.shared.taste import load_taste
from trainer.taste.build import BuildConfig, build_artifact, classify_posts
from trainer.taste.export import TasteArtifact, export
from trainer.taste.mood.classify import shipped_thresholds
from trainer.taste.preferences import preferences
from trainer.taste.records import Listen, MoodPost, Post
from trainer.taste.tucker import TuckerConfig, fit_tucker


def test_tucker_recovers_planted_low_rank_tensor():
    rng = np.random.default_rng(1)
    n = 400
    u, e, m = rng.normal(size=(n, 2)), rng.normal(size=(4, 2)), rng.normal(size=(7, 2))
    core = rng.normal(size=(2, 2, 2))
    x = np.clip(5 + np.einsum("abc,ia,jb,kc->ijk", core, u, e, m), 0, 10)
    obs = rng.random(x.shape) < 0.5
    model = fit_tucker(
        np.where(obs, x, 0),
        obs,
        np.where(obs, 10.0, 0),
        TuckerConfig(ranks=(2, 2, 2), l1=0.01, l2=0.01),
    )
    err = np.sqrt(np.mean((model.predict() - x)[~obs] ** 2))
    assert err < 0.45 * x.std()


def test_equation_one_window_and_max_normalise():
    posts = [MoodPost("a", 10_000.0, "sad")]
    listens = [
        Listen("a", "t1", "light", 10_000.0, 10_200.0, 200.0),  # at the post, fully heard
        Listen("a", "t2", "rock", 10_900.0, 11_000.0, 200.0),  # 15 min later, half heard
        Listen("a", "t3", "rap", 20_000.0, 20_200.0, 200.0),  # outside the window
    ]
    t = preferences(posts, listens, window_min=30)
    sad = t.values[0, 1]
    assert sad[3] == pytest.approx(10.0)  # light
    assert sad[5] == pytest.approx(10 * 0.5 * 0.5 / 1.0)  # rock: half window, half heard
    assert sad[6] == 0 and t.observed[0, 1].all() and not t.observed[0, 0].any()
    assert t.evidence[0, 1, 3] == 1 and t.evidence[0, 1, 6] == 0


def test_relabel_moves_misclassified_sessions_back():
    # One user: sad sessions are rock, angry ones rap; 6 of 20 sad posts were read as angry,
    # unsure (0.5 angry, 0.3 sad). Weighed by their probabilities and the genres played
    # around them, equation 1 puts (almost) no rock in angry.
    posts, listens = [], []
    for i in range(40):
        t = 10_000.0 * (i + 1)
        true, genre = ("sad", "rock") if i < 20 else ("angry", "rap")
        probs = (0.1, 0.3, 0.5, 0.1) if i < 6 else tuple(
            0.7 if m == true else 0.1 for m in MOODS)
        posts.append(MoodPost("a", t, "angry" if i < 6 else true, probs))
        listens += [Listen("a", f"{genre}-{k}", genre, t + 300 * k, t + 300 * k + 200, 200.0)
                    for k in range(3)]  # fmt: skip
    hard = preferences(posts, listens)
    soft = preferences(posts, listens, relabel_moods=True)
    angry, sad, rock = 2, 1, 5
    assert hard.values[0, angry, rock] == pytest.approx(3.0) and hard.evidence[0, angry, rock] == 18
    assert soft.values[0, angry, rock] < 0.5 and soft.evidence[0, sad, rock] > 17
    assert soft.evidence.sum() == pytest.approx(hard.evidence.sum())
    # a post without probabilities (a known mood) stays where it is
    certain = [MoodPost(p.user, p.time, p.mood) for p in posts]
    kept = preferences(certain, listens, relabel_moods=True)
    np.testing.assert_allclose(kept.evidence, hard.evidence, atol=1e-9)


def test_export_roundtrip_and_track_scores(tmp_path):
    posts = [MoodPost(u, 1000.0 * i, "happy") for u in ("a", "b") for i in range(1, 5)]
    listens = [
        Listen(u, f"{g}-{k}", g, 1000.0 * i, 1000.0 * i + 150, 200.0)
        for u in ("a", "b") for i in range(1, 5) for k, g in enumerate(("pop", "rock"))
    ]  # fmt: skip
    art = build_artifact(posts, listens, BuildConfig(tucker=TuckerConfig(ranks=(2, 2, 2))), {})
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "notes": {"keep": 1}}))
    export(art, tmp_path)
    assert "notes" in json.loads((tmp_path / "manifest.json").read_text())
    model = load_taste(tmp_path)
    assert model.knows("a") and not model.knows("zed")
    scores = model.genre_scores("a", "happy")
    assert set(scores) == set(model.genres) and all(0 <= v <= 10 for v in scores.values())
    prior_sad = dict(zip(model.genres, model.prior[1].tolist(), strict=True))
    assert model.genre_scores("zed", "sad") == prior_sad
    assert model.genre_scores("a", "unknown")
    ts = model.track_scores("a", "happy", ["pop-0", "nope"])
    assert set(ts) == {"pop-0"} and 0 <= ts["pop-0"] <= 10
    assert "happy" in model.explain("a", "happy")


def test_load_refuses_tampered_and_bad_arrays(tmp_path):
    art = TasteArtifact(
        {"users": np.array(["a"]), "preferences": np.full((1, 4, 7), 11, np.float32),
         "prior": np.full((4, 7), 5, np.float32)}, {},
    )  # fmt: skip
    with pytest.raises(ManifestError, match="outside 0-10"):
        export(art, tmp_path)
    ok = TasteArtifact({**art.arrays, "preferences": np.ones((1, 4, 7), np.float32)}, {})
    path = export(ok, tmp_path)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ManifestError, match="sha256"):
        load_taste(tmp_path)


def test_default_artifact_loads():
    from pathlib import Path

    model = load_taste(Path(__file__).parent.parent / "models")
    assert model.prior.shape == (4, 7)


def test_people_whose_posts_and_listens_never_meet_keep_the_prior():
    """A listens-only person beside one with both (was a KeyError), and nobody in common
    (was a reshape error): everyone gets a row; no evidence -> exactly the prior."""
    posts = [MoodPost("a", 1000.0 * i, "happy") for i in range(1, 5)]
    plays = [Listen(u, f"t{i}", "pop", 1000.0 * i, 1000.0 * i + 150, 200.0)
             for u in ("a", "b") for i in range(1, 5)]  # fmt: skip
    cfg = BuildConfig(tucker=TuckerConfig(ranks=(2, 2, 2)))
    art = build_artifact(posts, plays, cfg, {})
    assert list(art.arrays["users"]) == ["a", "b"] and art.info["users_without_evidence"] == 1
    assert art.arrays["evidence"][0].sum() > 0 and art.arrays["evidence"][1].sum() == 0
    np.testing.assert_allclose(art.arrays["preferences"][1], art.arrays["prior"])
    apart = build_artifact(posts, [p for p in plays if p.user == "b"], cfg, {})
    assert list(apart.arrays["users"]) == ["a", "b"] and apart.arrays["evidence"].sum() == 0
    anchor = np.full((4, 7), 3.0, np.float32)
    anchored = build_artifact(posts, plays, BuildConfig(tucker=cfg.tucker, anchor=anchor), {})
    assert np.abs(anchored.arrays["prior"] - 3.0).max() < np.abs(art.arrays["prior"] - 3.0).max()


def test_every_readable_post_reaches_the_pipeline_with_its_probabilities():
    posts = [Post("a", 1.0, "今天真开心，太好了！"), Post("a", 2.0, "so sad and lonely today"),
             Post("a", 3.0, "嗯"), Post("a", 4.0, "😂😂")]  # fmt: skip
    mood_posts, report = classify_posts(posts, BuildConfig().post_min_confidence())
    assert [p.time for p in mood_posts] == [1.0, 2.0, 3.0]  # only the emoji post is unread
    assert report["unclear_skipped"] == 1
    for p in mood_posts:
        assert sum(p.probabilities) == pytest.approx(1.0, abs=1e-5)
        assert p.mood == MOODS[int(np.argmax(p.probabilities))]
    assert mood_posts[0].mood == "happy" and mood_posts[1].mood == "sad"
    unsure = max(mood_posts[2].probabilities)  # "嗯": counted, though the classifier is unsure
    assert classify_posts(posts[2:3], None)[0] == [] and unsure < shipped_thresholds()["zh"]
    assert BuildConfig(relabel=False).post_min_confidence() is None  # the classifier's own
