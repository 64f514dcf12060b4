"""Choose the next track for this person in this mood, and say why.

Each playable track not among the last ``no_repeat`` picks gets a score on the 0-10 scale:

    score = taste + fit_weight * strength * fit

- ``taste``: the taste model's score for (user, mood, the track's genre) (population prior
  for an unknown user, mean over moods for "unknown"), or its track-level score where it
  has one, plus this user's on-device genre adjustment (``device.music.learning``);
- ``fit``: how close the track's valence and arousal are to the mood's target
  (``device.music.music_fit``: day-one target from Emotify/MUMR, moved per user by learning);
  a track not scored yet (or undecodable) gets the mean fit over the whole plane
  (``music_fit.expected_fit``), so it stays playable by genre, neither favoured nor shut out.

A track is drawn with probability
``exp(score / temperature) * n_genre ** (size_power - 1) * repeat_decay ** plays``
over up to ``candidates`` random fresh tracks, where ``plays`` counts the track in the last
``history`` picks (beyond the hard ``no_repeat`` window, a track heard twice this evening
is less likely to come a third time): a genre's total share then grows like
``n_genre ** size_power`` (square root by default), so a genre of 2 files cannot take as
many picks as one of 200, and a big genre does not drown the small ones either. A genre
whose tracks were all played lately simply has no candidates. Only when every playable
track is recent does the least recently played one come back. In a library of 200 tracks
or more no track takes more than ``max_share`` of a draw (``capped_shares``), so the
best-fitting few cannot open every session.

Every pick carries an explanation such as ``"sad -> calm (valence +0.2, arousal -0.6),
folk 6.1/10"``.
"""

from __future__ import annotations

import math
import queue
import random
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from device.music.learning import FeedbackTable
from device.music.library import Track
from device.music.library.index import Scored
from device.music.music_fit import MoodFit, Target, expected_fit, fit
from device.shared.genres import DISPLAY_NAMES
from device.shared.moods import UNKNOWN
from device.system.config import PickerConfig


class Taste(Protocol):
    """What the picker needs from ``device.shared.taste.TasteModel``."""

    def genre_scores(self, user: str, mood: str) -> dict[str, float]: ...

    def track_scores(self, user: str, mood: str, track_ids: Sequence[str]) -> dict[str, float]:
        ...


@dataclass(frozen=True)
class PickWeights:
    fit_weight: float = 4.0  # points on the 0-10 scale a perfectly fitting track gains
    size_power: float = 0.5  # a genre's share of picks grows like n_tracks ** size_power
    repeat_decay: float = 0.1  # weight factor per play among the last ``history`` picks
    history: int = 300
    # In a draw over ``max_share_from`` tracks or more, no track takes more than max_share;
    # the excess goes to the others in proportion, so 200 first picks hold none more than
    # 3 times (``spread_draws``). A smaller library keeps its taste undiluted: there the
    # no-repeat window is what keeps the music varied.
    max_share: float = 0.015
    max_share_from: int = 200


@dataclass(frozen=True)
class Pick:
    track: Track
    genre: str
    mood: str
    score: float  # the track's taste score on 0-10 (genre taste + on-device adjustment)
    probability: float  # chance this track had of being drawn
    explanation: str
    fit: float | None = None  # 0..1, None when the track is not scored or no target
    target: Target | None = None
    total: float | None = None  # taste + fit part, what the draw used


def _display(genre: str) -> str:
    return DISPLAY_NAMES.get(genre, genre)


def capped_shares(weights: Sequence[float], cap: float) -> list[float]:
    """Probabilities in proportion to ``weights``, none above ``cap`` (at least 1/n): the
    tracks over it are held at it, and the rest share what is left in proportion."""
    n = len(weights)
    cap = max(cap, 1.0 / n)
    order = sorted(range(n), key=weights.__getitem__, reverse=True)
    rest = [0.0] * (n + 1)  # rest[k]: the weight of order[k:], summed from the small end
    for k in range(n - 1, -1, -1):
        rest[k] = rest[k + 1] + weights[order[k]]
    held = 0  # the first ``held`` of ``order`` sit at the cap
    while held < n and rest[held] > 0 and (
            weights[order[held]] / rest[held] * (1.0 - held * cap) > cap):
        held += 1
    left = 1.0 - held * cap
    out = [cap] * n
    for i in order[held:]:
        out[i] = left * (weights[i] / rest[held]) if rest[held] > 0 else left / (n - held)
    return out


def spread_draws(probabilities: Sequence[float], n: int, rng: random.Random) -> list[int]:
    """``n`` indices, each marginally a draw from ``probabilities``, spread by systematic
    sampling: index i comes floor or ceil of ``n * p_i`` times, where n independent draws
    would clump (even a uniform draw from 600 tracks repeats some track 4 times in 200
    picks about one time in five). In a random order."""
    out, edge, i = [], 0.0, 0
    start = rng.random() / n
    for k in range(n):
        point = start + k / n
        while i < len(probabilities) - 1 and edge + probabilities[i] <= point:
            edge += probabilities[i]
            i += 1
        out.append(i)
    rng.shuffle(out)
    return out


class Picker:
    def __init__(
        self,
        tracks: Iterable[Track],
        taste: Taste,
        settings: PickerConfig | None = None,
        *,
        feedback: FeedbackTable | None = None,
        mood_fit: MoodFit | None = None,
        weights: PickWeights | None = None,
        rng: random.Random | None = None,
    ):
        settings = settings or PickerConfig()
        no_repeat = settings.no_repeat
        self.taste = taste
        self.temperature = settings.temperature
        self.candidates = settings.candidates
        self.feedback = feedback
        self.mood_fit = mood_fit if mood_fit is not None else MoodFit()
        self.weights = weights or PickWeights()
        self.rng = rng or random.Random()
        self.recent: deque[str] = deque(maxlen=max(1, no_repeat))
        self.history: deque[str] = deque(maxlen=max(1, self.weights.history))
        self._no_repeat = no_repeat
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.set_tracks(tracks)

    # --- the library -------------------------------------------------------------------

    def set_tracks(self, tracks: Iterable[Track]) -> None:
        """(Re)load the library; unmapped tracks are not playable."""
        self.tracks: list[Track] = [t for t in tracks if t.genre]
        self._index = {t.track_id: i for i, t in enumerate(self.tracks)}
        self.by_genre: dict[str, list[Track]] = {}
        for t in self.tracks:
            self.by_genre.setdefault(t.genre, []).append(t)  # type: ignore[arg-type]
        self.size = len(self.tracks)

    def drop(self, track_id: str) -> None:
        """Stop offering a track (it failed to play); a genre left empty is dropped too."""
        if track_id in self._index:
            self.set_tracks(t for t in self.tracks if t.track_id != track_id)

    def offer_scores(self, scored: Iterable[Scored]) -> None:
        """New valence/arousal results (the background scorer's batches) from any thread; the
        picker applies them at its next pick, on its own thread."""
        self._inbox.put(list(scored))

    def _apply_scores(self) -> None:
        changed = False
        while True:
            try:
                batch = self._inbox.get_nowait()
            except queue.Empty:
                break
            for r in batch:
                i = self._index.get(r.track_id)
                if i is not None:
                    self.tracks[i] = replace(self.tracks[i], valence=r.valence,
                                             arousal=r.arousal)
                    changed = True
        if changed:
            self.set_tracks(list(self.tracks))

    def restart(self, track_ids: Iterable[str] = ()) -> None:
        """Forget this session's picks, keeping only ``track_ids`` (newest last): the state
        of a speaker that just started (``moodspeaker pick`` draws each pick from here)."""
        self.recent.clear()
        self.history.clear()
        self.remember(track_ids)

    def remember(self, track_ids: Iterable[str]) -> None:
        """Seed the no-repeat window (newest last), e.g. from the journal after a restart."""
        ids = list(track_ids)
        self.history.extend(ids)
        if self._no_repeat:
            self.recent.extend(ids)

    # --- learning ----------------------------------------------------------------------

    def record(self, mood: str, track: Track, outcome: str) -> None:
        """One completed or skipped listen: the genre counts and the mood target learn."""
        if self.feedback is not None and track.genre:
            self.feedback.record(mood, track.genre, outcome)
        self.mood_fit.record(mood, track.valence, track.arousal, outcome)

    def set_learning(self, feedback: FeedbackTable | None, mood_fit: MoodFit) -> None:
        """Another listener: their genre counts and their mood targets."""
        self.feedback = feedback
        self.mood_fit = mood_fit

    # --- picking -----------------------------------------------------------------------

    def genre_table(self, user: str, mood: str) -> dict[str, float]:
        """Final 0-10 score per available genre: taste model + on-device adjustment."""
        base = self.taste.genre_scores(user, mood)
        out = {}
        for genre in self.by_genre:
            score = float(base.get(genre, 5.0))
            if self.feedback is not None:
                score += self.feedback.adjustment(mood, genre)
            out[genre] = min(10.0, max(0.0, score))
        return out

    def _candidates(self, *, everything: bool = False) -> list[Track]:
        recent = set(self.recent) if self._no_repeat else set()
        n, k = len(self.tracks), self.candidates
        if everything:
            k = n
        elif n > 2 * (k + len(recent)):  # a big library: sample first, O(candidates) a pick
            drawn = (self.tracks[i] for i in self.rng.sample(range(n), k + len(recent)))
            return [t for t in drawn if t.track_id not in recent][:k]
        fresh = [t for t in self.tracks if t.track_id not in recent]
        if not fresh:  # everything is recent: the least recently played comes back
            last = {tid: i for i, tid in enumerate(self.recent) if tid in self._index}
            oldest = min(last, key=last.__getitem__)
            return [self.tracks[self._index[oldest]]]
        if len(fresh) > k:
            fresh = self.rng.sample(fresh, k)
        return fresh

    def pick(self, user: str, mood: str) -> Pick | None:
        """The next track: one draw over up to ``candidates`` fresh tracks."""
        self._apply_scores()
        if not self.tracks:
            return None
        weighed = self._weigh(self._candidates(), user, mood)
        chosen = weighed(self.rng.choices(range(len(weighed.pool)), weights=weighed.shares)[0])
        self.history.append(chosen.track.track_id)
        if self._no_repeat:
            self.recent.append(chosen.track.track_id)
        return chosen

    def first_picks(self, user: str, mood: str) -> list[Pick]:
        """Every track the next pick could be, with its chance: the whole library as the
        candidates (a big library's pick samples ``candidates`` of them), nothing drawn,
        nothing remembered. ``moodspeaker pick`` draws from this."""
        self._apply_scores()
        if not self.tracks:
            return []
        weighed = self._weigh(self._candidates(everything=True), user, mood)
        return [weighed(i) for i in range(len(weighed.pool))]

    def _weigh(self, pool: list[Track], user: str, mood: str) -> _Weighed:
        """Every candidate's scores and its chance in the draw."""
        base = self.taste.genre_scores(user, mood)
        table = self.genre_table(user, mood)
        taste = [table[t.genre] for t in pool]  # type: ignore[index]
        track_level = self.taste.track_scores(user, mood, [t.track_id for t in pool]) or {}
        if track_level:  # a track's own score moves it within its genre's adjusted score
            taste = [
                min(10.0, max(0.0, s + float(track_level[t.track_id])
                              - float(base.get(t.genre, 5.0))))  # type: ignore[arg-type]
                if t.track_id in track_level else s
                for t, s in zip(pool, taste, strict=True)
            ]
        target = self.mood_fit.target(mood)
        fits: list[float | None] = [
            fit(target, t.valence, t.arousal)
            if target is not None and t.valence is not None and t.arousal is not None else None
            for t in pool
        ]
        fallback = expected_fit(target) if target is not None else 0.0
        gain = self.weights.fit_weight * (target.strength if target is not None else 0.0)
        total = [s + gain * (f if f is not None else fallback)
                 for s, f in zip(taste, fits, strict=True)]
        power = self.weights.size_power - 1.0
        plays = Counter(self.history)
        factor = [len(self.by_genre[t.genre]) ** power  # type: ignore[index]
                  * self.weights.repeat_decay ** plays[t.track_id] for t in pool]
        top = max(total)
        shares = capped_shares([math.exp((s - top) / self.temperature) * k
                                for s, k in zip(total, factor, strict=True)],
                               self.weights.max_share
                               if len(pool) >= self.weights.max_share_from else 1.0)
        return _Weighed(pool, mood, taste, fits, total, shares, target)


@dataclass(frozen=True)
class _Weighed:
    """One draw's candidates with their parts; calling it with an index makes that
    candidate's Pick (explanations are written only for the picks that need one)."""

    pool: list[Track]
    mood: str
    taste: list[float]
    fits: list[float | None]
    total: list[float]
    shares: list[float]
    target: Target | None

    def __call__(self, i: int) -> Pick:
        t = self.pool[i]
        return Pick(t, t.genre or "", self.mood, self.taste[i], self.shares[i],
                    _explain(self.mood, self.target, self.fits[i], t, self.taste[i]),
                    self.fits[i], self.target, self.total[i])


def _explain(mood: str, target: Target | None, fitted: float | None, track: Track,
             taste: float) -> str:
    """Both parts when both counted: ``sad -> calm (valence +0.2, arousal -0.6), folk
    6.1/10``; the genre part alone for "unknown", an angry day one or an unscored track."""
    genre = f"{_display(track.genre or '')} {taste:.1f}/10"
    if mood == UNKNOWN:
        return f"mood unknown -> {genre}"
    if target is None or target.strength == 0.0 or fitted is None:
        return f"{mood} -> {genre}"
    return f"{mood} -> {target.describe()}, {genre}"
