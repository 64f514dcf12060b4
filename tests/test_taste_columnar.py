"""The columnar taste build (trainer.taste.columns) against the list-based one: the same
per-user predictions (to 1e-4; in practice bit for bit) on small data, with relabelling
and without, both normalisations, speaker listens, people without posts or without
listens; and listens read from an ingest store in chunks give the importer's build."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.taste import synth_block
from device.shared.genres import GENRES
from device.shared.moods import MOODS
from trainer.sync.store import ListenStore
from trainer.taste import columns
from trainer.taste.build import BuildConfig, build_artifact, build_columns
from trainer.taste.importers import Input, read_inputs
from trainer.taste.records import Listen, MoodPost
from trainer.taste.simulate import planted_tastes
from trainer.taste.speaker_sim import simulate_speaker
from trainer.taste.tucker import TuckerConfig

TOL = 1e-4
SMALL = BuildConfig(tucker=TuckerConfig(max_iter=60, patience=5))


def _data(n_users: int = 60, seed: int = 3) -> tuple[list[MoodPost], list[Listen]]:
    """Bench-like people (heavy-tailed listening around posts), unsure post moods, a few
    plays without a genre, a listener without posts, a poster without listens and a month
    of speaker listens for three people."""
    rng = np.random.default_rng(seed)
    truth = planted_tastes(n_users, rng)
    by_mood = [np.arange(10) + 10 * m for m in range(len(MOODS))]
    p, ls = synth_block(0, truth, by_mood, 60.0, 8, seed)
    probs = rng.dirichlet(np.ones(len(MOODS)), size=len(p["user"]))
    posts = [MoodPost(f"u{u}", float(t), MOODS[int(np.argmax(q))],
                      None if i % 7 == 0 else tuple(float(x) for x in q))
             for i, (u, t, q) in enumerate(zip(p["user"], p["time"], probs, strict=True))]
    posts.append(MoodPost("posts-only", 1.7e9, "sad", (0.1, 0.2, 0.3, 0.4)))
    listens = [Listen(f"u{u}", f"{GENRES[g]}-{k:03d}", None if i % 50 == 0 else GENRES[g],
                      float(s), float(e), float(d))
               for i, (u, g, k, s, e, d) in enumerate(zip(
                   ls["user"], ls["genre"], ls["track"], ls["start"], ls["end"],
                   ls["duration"], strict=True))]  # fmt: skip
    listens.append(Listen("listens-only", "rock-001", "rock", 1.7e9, 1.7e9 + 100, 200.0))
    month = simulate_speaker(planted_tastes(3, rng), ("u0", "u1", "spk"), None,
                             listens_per_user=80, seed=seed)
    return posts, listens + month.listens


def _same(a, b) -> None:
    assert np.array_equal(a.arrays["users"], b.arrays["users"])
    assert set(a.arrays) == set(b.arrays)
    for key, x in a.arrays.items():
        y = b.arrays[key]
        assert x.shape == y.shape, key
        if x.dtype.kind in "fiu":
            np.testing.assert_allclose(y, x, rtol=0, atol=TOL, err_msg=key)
        else:
            assert np.array_equal(x, y), key
    assert a.info == b.info


@pytest.mark.parametrize("relabel,normalise", [(True, "max"), (False, "max"),
                                               (True, "saturate"), (False, "saturate")])
def test_columnar_build_matches_the_list_build(relabel, normalise):
    posts, listens = _data()
    cfg = replace(SMALL, relabel=relabel, normalise=normalise)
    old = build_artifact(posts, listens, cfg, {}, columnar=False)
    new = build_artifact(posts, listens, cfg, {})
    _same(old, new)
    assert old.info["users_without_evidence"] >= 1  # listens-only has none
    assert old.info["speaker"]["listens_used"] > 0


def test_columnar_build_keeps_given_users():
    posts, listens = _data(20)
    users = ("u0", "u3", "u5", "nobody")
    _same(build_artifact(posts, listens, SMALL, {}, users, columnar=False),
          build_artifact(posts, listens, SMALL, {}, users))  # fmt: skip


def test_bounds_is_searchsorted_per_segment():
    rng = np.random.default_rng(0)
    values = np.sort(rng.integers(0, 50, 400).astype(float))
    lo = rng.integers(0, 400, 300)
    hi = np.minimum(lo + rng.integers(0, 60, 300), 400)
    target = rng.uniform(-5, 55, 300)
    for right in (False, True):
        got = columns._bounds(values, lo, hi, target, right)
        side = "right" if right else "left"
        want = [a + np.searchsorted(values[a:b], t, side=side)
                for a, b, t in zip(lo, hi, target, strict=True)]
        assert got.tolist() == want


def test_store_read_in_chunks_gives_the_importers_build(tmp_path):
    """Speaker listens and plays with no mood seen in an ingest store, read 7 rows at a time
    into columns, build as the importer's records do (people as user@device, merged by
    the people file)."""
    posts, listens = _data(12)
    store = ListenStore(tmp_path / "ingest.sqlite3")
    batch = []
    for i, x in enumerate(listens):
        batch.append({
            "event_id": f"e{i}", "user": x.user, "track_id": x.track_id, "path": x.track_id,
            "genre": x.genre, "mood": x.mood or "unknown",
            "mood_confidence": x.mood_confidence or 0.0, "started_at": x.started_at,
            "ended_at": x.ended_at, "position_s": x.heard_s or 0.0,
            "duration_s": x.duration_s, "end_reason": x.end_reason or "completed",
            "start_offset_s": 0.0, "explanation": None, "error": None,
            "ended_by": x.ended_by or "end", "seq": i + 1,
        })  # fmt: skip
    assert not store.add_batch("kitchen", batch).rejected
    store.close()
    people = {f"{x.user}@kitchen": x.user for x in listens}
    read = read_inputs([Input(tmp_path / "ingest.sqlite3", "listens", None)],
                       listeners=people).listens
    old = build_artifact(posts, read, SMALL, {}, columnar=False)
    names = columns.Names()
    cols = columns.read_store(tmp_path / "ingest.sqlite3", names, listeners=people, chunk=7)
    assert len(cols) == len(read) and cols.skipped == 0
    assert len(cols.speaker) == sum(x.mood in MOODS for x in read)
    users = tuple(sorted(set(names.codes) | {p.user for p in posts}))
    pos = {u: i for i, u in enumerate(users)}
    remap = np.array([pos[u] for u in names.codes], dtype=np.int32)
    cols.user = remap[cols.user]
    post_cols, _ = columns.from_records(posts, [], users)
    _same(old, build_columns(post_cols, cols, users, SMALL, {}))
