"""The picker with per-track valence/arousal (stand-in scores, no audio): mood decides
the music, picks stay varied, and learning moves each listener's target."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from device.music.learning import LearningRule
from device.music.library import Track
from device.music.library.index import Scored
from device.music.music_fit import DAY_ONE, MoodFit, PastListen, fit, mood_fit_from_listens
from device.music.picker import Picker, PickWeights, capped_shares, spread_draws
from device.system.config import PickerConfig
from tests.harness.speaker import MoodTaste

# Quadrant centres: Q1 happy, Q2 tense, Q3 sad, Q4 calm.
CENTRES = {"Q1": (0.6, 0.6), "Q2": (-0.6, 0.6), "Q3": (-0.6, -0.6), "Q4": (0.6, -0.6)}


class FlatTaste(MoodTaste):
    best: dict = {}  # noqa: RUF012 - every genre 3/10 in every mood


def _library(n_per_quadrant=60, seed=0):
    """Tracks spread around each quadrant's centre, genres shuffled across quadrants."""
    rng = random.Random(seed)
    genres = ("pop", "rock", "folk", "jazz")
    tracks, quadrant = [], {}
    for q, (v, a) in CENTRES.items():
        for i in range(n_per_quadrant):
            tid = f"{q}/{i}.mp3"
            tracks.append(Track(tid, f"/m/{tid}", None, None, None, None, rng.choice(genres),
                                "tag", 30.0, valence=max(-1, min(1, v + rng.gauss(0, 0.25))),
                                arousal=max(-1, min(1, a + rng.gauss(0, 0.25)))))
            quadrant[tid] = q
    return tracks, quadrant


def _first_picks(picker, mood, n=200):
    """As ``moodspeaker pick --count n``: each as if it were the first pick."""
    picker.restart()
    chances = picker.first_picks("ann", mood)
    return [chances[i] for i in spread_draws([p.probability for p in chances], n, picker.rng)]


def test_happy_and_sad_get_different_music_and_picks_stay_varied():
    tracks, quadrant = _library()
    p = Picker(tracks, FlatTaste(), rng=random.Random(1))
    happy_picks, sad_picks = _first_picks(p, "happy"), _first_picks(p, "sad")
    happy = Counter(quadrant[x.track.track_id] for x in happy_picks)
    sad = Counter(quadrant[x.track.track_id] for x in sad_picks)
    high = lambda c: (c["Q1"] + c["Q2"]) / 200  # noqa: E731
    assert happy["Q1"] / 200 >= 0.5
    assert (sad["Q3"] + sad["Q4"]) / 200 >= 0.5  # low arousal: the sad region of docs/music-mood.md
    assert high(happy) - high(sad) >= 0.35
    # 200 first picks from 240 tracks: none more than 3 times
    for picks in (happy_picks, sad_picks):
        assert max(Counter(x.track.track_id for x in picks).values()) <= 3
    # a session of 200 picks (no-repeat window and repeat decay) stays varied
    p.restart()
    session = Counter(p.pick("ann", "sad").track.track_id for _ in range(200))
    assert max(session.values()) <= 3
    # without the fit (today's genre-only picker) the moods get the same music
    flat = Picker(tracks, FlatTaste(), weights=PickWeights(fit_weight=0.0), rng=random.Random(1))
    h0 = Counter(quadrant[x.track.track_id] for x in _first_picks(flat, "happy"))
    s0 = Counter(quadrant[x.track.track_id] for x in _first_picks(flat, "sad"))
    assert abs(high(h0) - high(s0)) < 0.15


def test_the_explanation_names_the_region_and_the_genre():
    tracks, _ = _library(5)
    p = Picker(tracks, MoodTaste(), rng=random.Random(2))
    pick = p.pick("ann", "sad")
    assert pick.explanation.startswith("sad -> calm (valence +0.2, arousal -0.6), ")
    assert pick.explanation.endswith(f"{pick.score:.1f}/10")
    assert p.pick("ann", "unknown").explanation.startswith("mood unknown -> ")
    assert "valence" not in p.pick("ann", "angry").explanation  # no day-one target


def test_unscored_tracks_stay_playable_and_scores_arrive_from_another_thread():
    import threading

    tracks = [Track(f"t{i}", f"/m/t{i}", None, None, None, None, "pop", "tag", 30.0)
              for i in range(10)]
    p = Picker(tracks, FlatTaste(), PickerConfig(no_repeat=0), rng=random.Random(3),
               weights=PickWeights(repeat_decay=1.0))  # independent draws
    first = p.pick("ann", "sad")
    assert first is not None and first.fit is None
    assert first.explanation == "sad -> Pop 3.0/10" or first.explanation.startswith("sad -> ")
    # one track scored as upbeat arrives from the scorer thread: happy picks favour it
    t = threading.Thread(target=p.offer_scores,
                         args=([Scored("t7", 0.0, 0, 0.6, 0.5, None)],))
    t.start()
    t.join()
    picks = Counter(p.pick("ann", "happy").track.track_id for _ in range(200))
    assert picks["t7"] > 50  # 10 tracks: 20 each by chance
    assert len(picks) == 10  # the others are still played


def test_no_track_takes_more_than_its_share_of_a_big_librarys_draw():
    tracks, _ = _library(60)  # 240 tracks
    one = Track("best", "/m/best", None, None, None, None, "pop", "tag", 30.0, valence=0.6,
                arousal=0.5)  # exactly the happy target: the best fit of all
    p = Picker([*tracks, one], FlatTaste(), rng=random.Random(4))
    chances = {c.track.track_id: c.probability for c in p.first_picks("ann", "happy")}
    assert chances["best"] == p.weights.max_share
    assert abs(sum(chances.values()) - 1.0) < 1e-9
    small = Picker([*tracks[:100], one], FlatTaste(), rng=random.Random(4))
    assert max(c.probability for c in small.first_picks("ann", "happy")) > 0.015  # no cap


def test_learning_moves_the_target_towards_completions_and_away_from_skips():
    m = MoodFit(LearningRule())
    base = m.target("sad")
    assert base == DAY_ONE["sad"]
    for _ in range(8):  # this listener finishes upbeat songs when sad
        m.record("sad", 0.6, 0.6, "completed")
    moved = m.target("sad")
    assert moved.arousal > base.arousal + 0.6 and moved.valence > base.valence
    assert fit(moved, 0.6, 0.6) > fit(base, 0.6, 0.6) * 3
    m2 = MoodFit(LearningRule())
    for _ in range(8):  # ... skips calm ones
        m2.record("sad", 0.2, -0.9, "skipped")
    assert m2.target("sad").arousal > base.arousal
    assert MoodFit(LearningRule(enabled=False)).target("sad") == base
    # angry has no day-one target; completions give it one
    m3 = MoodFit()
    assert m3.target("angry").strength == 0.0
    for _ in range(6):
        m3.record("angry", -0.5, 0.8, "completed")
    assert m3.target("angry").strength > 0.5 and m3.target("angry").arousal > 0.4
    assert m3.target("unknown") is None


def test_learning_is_rebuilt_from_journal_rows_as_it_was_learnt_live():
    scores = {"a": (0.6, 0.6), "b": (-0.5, -0.7), "c": (None, None)}
    rows = [
        PastListen("ann", "a", "sad", "completed", 200.0, 0.0, "end"),
        PastListen("ann", "b", "sad", "skipped", 5.0, 0.0, "user"),
        PastListen("ann", "b", "sad", "skipped", 100.0, 0.0, "user"),  # late skip: nothing
        PastListen("ann", "a", "sad", "stopped", 5.0, 0.0, "user"),  # a stop: nothing
        PastListen("ann", "a", "sad", "completed", 200.0, 0.0, "shutdown"),  # not by user/end
        PastListen("bob", "a", "sad", "completed", 200.0, 0.0, "end"),  # another user
        PastListen("ann", "c", "sad", "completed", 200.0, 0.0, "end"),  # unscored track
    ]
    rebuilt = mood_fit_from_listens("ann", rows, scores)
    live = MoodFit()
    live.record("sad", 0.6, 0.6, "completed")
    live.record("sad", -0.5, -0.7, "skipped")
    assert rebuilt.target("sad") == live.target("sad")
    assert rebuilt.learnt() == {"sad": (1, 1)}


def test_record_feeds_both_the_genre_counts_and_the_mood_target():
    from device.music.learning import FeedbackTable

    tracks, _ = _library(3)
    fb = FeedbackTable(LearningRule(), {})
    p = Picker(tracks, FlatTaste(), feedback=fb, rng=random.Random(4))
    t = next(x for x in tracks if x.genre == "rock")
    for _ in range(5):
        p.record("sad", t, "completed")
    assert fb.adjustment("sad", "rock") > 0
    assert p.mood_fit.learnt() == {"sad": (5, 0)}
    p.set_learning(FeedbackTable(LearningRule(), {}), MoodFit())
    assert p.mood_fit.learnt() == {} and p.feedback.adjustment("sad", "rock") == 0


@given(st.lists(st.floats(0.0, 1e6), min_size=1, max_size=300), st.floats(0.001, 1.0))
def test_capped_shares_sum_to_one_and_keep_the_order(weights, cap):
    shares = capped_shares(weights, cap)
    assert abs(sum(shares) - 1.0) < 1e-9
    assert max(shares) <= max(cap, 1.0 / len(weights)) + 1e-12
    for i in range(1, len(weights)):
        if weights[i - 1] > weights[i]:
            assert shares[i - 1] >= shares[i] - 1e-12
    if sum(weights) > 0 and max(weights) / sum(weights) <= cap:  # nothing to hold back
        assert all(abs(s - w / sum(weights)) < 1e-9 for s, w in zip(shares, weights, strict=True))


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50).filter(lambda w: sum(w) > 0),
       st.integers(1, 500), st.integers(0, 2**32))
def test_spread_draws_give_each_its_share(weights, n, seed):
    p = [w / sum(weights) for w in weights]
    counts = Counter(spread_draws(p, n, random.Random(seed)))
    assert sum(counts.values()) == n
    for i, share in enumerate(p):
        assert int(n * share) - 1 <= counts[i] <= int(n * share) + 1  # floor or ceil, +- fp
