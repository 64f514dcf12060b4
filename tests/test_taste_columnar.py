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
from trainer.sync.store import open_store
from trainer.taste import columns, store_columns
from trainer.taste.build import BuildConfig, build_artifact
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


def _batch(listens: list[Listen]) -> list[dict]:
    return [{
        "event_id": f"e{i}", "user": x.user, "track_id": x.track_id, "path": x.track_id,
        "genre": x.genre, "mood": x.mood or "unknown",
        "mood_confidence": x.mood_confidence or 0.0, "started_at": x.started_at,
        "ended_at": x.ended_at, "position_s": x.heard_s or 0.0,
        "duration_s": x.duration_s, "end_reason": x.end_reason or "completed",
        "start_offset_s": 0.0, "explanation": None, "error": None,
        "ended_by": x.ended_by or "end", "seq": i + 1,
    } for i, x in enumerate(listens)]  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_store_read_as_columns_builds_what_its_rows_as_records_build(tmp_path, backend,
                                                                       request):  # fmt: skip
    """Speaker listens and plays with no mood seen in an ingest store: ``taste build``
    reads the store (an SQLite file or a postgresql:// URL) as columns, people as
    user@device merged by the people file; the same rows read as records (the store inside
    a folder goes through the journal reader) build the same model. PostgreSQL's row
    estimate is 0 before the table is analysed: the reader grows its arrays as it reads."""
    posts, listens = _data(12)
    (tmp_path / "copy").mkdir()
    db = (request.getfixturevalue("postgres_url") if backend == "postgres"
          else tmp_path / "ingest.sqlite3")  # fmt: skip
    for where in (db, tmp_path / "copy" / "ingest.sqlite3"):
        store = open_store(where)
        assert not store.add_batch("kitchen", _batch(listens)).rejected
        store.close()
    people = {f"{x.user}@kitchen": x.user for x in listens}
    as_records = read_inputs([Input(tmp_path / "copy", "listens", None)], listeners=people)
    as_columns = read_inputs([Input(db, "listens", None)], listeners=people)
    assert not as_records.stored and len(as_records.listens) == len(listens)
    assert not as_columns.listens and [len(c) for c in as_columns.stored] == [len(listens)]
    assert len(as_columns.stored[0].speaker) == sum(x.mood in MOODS for x in listens)
    assert as_columns.people == as_records.people
    old = build_artifact(posts, as_records.listens, SMALL, {}, columnar=False)
    _same(old, build_artifact(posts, [], SMALL, {}, stored=as_columns.stored,
                              names=as_columns.names))  # fmt: skip
    cols = store_columns.read_store(db, columns.Names(), listeners=people, chunk=7)
    assert len(cols) == len(listens) and cols.skipped == 0


def test_a_journal_given_beside_the_store_that_synced_it_counts_once(tmp_path):
    """The household's journal (in a folder: read as records) and the ingest store holding
    the same listens and one more: each counts once, as the journal's; the store's copies
    are counted as duplicates, whichever order the inputs come in."""
    _, listens = _data(6)
    store = open_store(tmp_path / "ingest.sqlite3")
    store.add_batch("kitchen", _batch(listens))
    store.close()
    (tmp_path / "journal").mkdir()
    journal = open_store(tmp_path / "journal" / "copy.sqlite3")
    journal.add_batch("kitchen", _batch(listens[:-1]))
    journal.close()
    people = {f"{x.user}@kitchen": x.user for x in listens}
    for order in (1, -1):
        got = read_inputs([Input(tmp_path / "ingest.sqlite3", "listens", None),
                           Input(tmp_path / "journal", "listens", None)][::order],
                          listeners=people)  # fmt: skip
        assert len(got.listens) == len(listens) - 1
        assert [len(c) for c in got.stored] == [1]
        assert got.stored[0].started_at.tolist() == [listens[-1].started_at]
        assert got.report.duplicates["listens"] == len(listens) - 1
        assert got.report.rows["listens"] == len(listens)


def test_names_code_in_order_of_first_sight():
    """Codes follow first sight, in the constructor and chunk by chunk (the bench codes
    person u{i} as i before reading the store)."""
    names = columns.Names(["u0", "u1", "u0", "u2"])
    assert names.codes == {"u0": 0, "u1": 1, "u2": 2}
    assert names.code(["z", "u1", "y", "z"]).tolist() == [3, 1, 4, 3]
    assert names.names == ["u0", "u1", "u2", "z", "y"] and names.name(4) == "y"


def test_runs_of_equal_values():
    assert list(columns.runs(np.array([], dtype=np.int32))) == []
    assert list(columns.runs(np.array([3, 3, 5, 7, 7, 7]))) == [(0, 2), (2, 3), (3, 6)]
