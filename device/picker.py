"""Choose the next track for this person in this mood, and say why.

Two stages, so a pick costs the same for 100 or 100k tracks and a genre with many files
does not crowd out one with few:

1. Genre: the taste model's 0-10 score for (user, mood, genre) (population prior for an
   unknown user, mean over moods for mood "unknown"), plus this user's on-device
   adjustment (``device.learning``); sampled with ``softmax(score / temperature)`` over
   the genres that have playable tracks.
2. Track: up to ``candidates`` random tracks of that genre not played in the last
   ``no_repeat`` picks, weighted by the taste model's track-level score relative to the
   genre score (equations 5-6 of the method), with the same temperature.

Every pick carries an explanation such as ``"sad -> light music 8.1/10"``.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .learning import FeedbackTable
from .library import Track

UNKNOWN = "unknown"


class Taste(Protocol):
    """What the picker needs from ``device.taste.TasteModel``."""

    def genre_scores(self, user: str, mood: str) -> dict[str, float]: ...

    def track_scores(self, user: str, mood: str, track_ids: Sequence[str]) -> dict[str, float]:
        ...


@dataclass(frozen=True)
class Pick:
    track: Track
    genre: str
    mood: str
    score: float  # the genre's final score on 0-10
    probability: float  # chance this genre had of being drawn
    explanation: str


def _display(genre: str) -> str:
    try:
        from .genres import DISPLAY_NAMES
    except ImportError:  # pragma: no cover
        return genre
    return DISPLAY_NAMES.get(genre, genre)


def softmax(scores: Sequence[float], temperature: float) -> list[float]:
    top = max(scores)
    ws = [math.exp((s - top) / temperature) for s in scores]
    total = sum(ws)
    return [w / total for w in ws]


class Picker:
    def __init__(
        self,
        tracks: Iterable[Track],
        taste: Taste,
        *,
        temperature: float = 1.0,
        no_repeat: int = 20,
        candidates: int = 256,
        feedback: FeedbackTable | None = None,
        rng: random.Random | None = None,
    ):
        self.taste = taste
        self.temperature = temperature
        self.candidates = candidates
        self.feedback = feedback
        self.rng = rng or random.Random()
        self.recent: deque[str] = deque(maxlen=max(1, no_repeat))
        self._no_repeat = no_repeat
        self.set_tracks(tracks)

    def set_tracks(self, tracks: Iterable[Track]) -> None:
        """(Re)load the library, grouped by genre; unmapped tracks are not playable."""
        self.by_genre: dict[str, list[Track]] = {}
        for t in tracks:
            if t.genre:
                self.by_genre.setdefault(t.genre, []).append(t)
        self.size = sum(len(v) for v in self.by_genre.values())

    def drop(self, track_id: str) -> None:
        """Stop offering a track (it failed to play); a genre left empty is dropped too."""
        for genre, pool in list(self.by_genre.items()):
            kept = [t for t in pool if t.track_id != track_id]
            if len(kept) != len(pool):
                self.size -= len(pool) - len(kept)
                if kept:
                    self.by_genre[genre] = kept
                else:
                    del self.by_genre[genre]

    def remember(self, track_ids: Iterable[str]) -> None:
        """Seed the no-repeat window (newest last), e.g. from the journal after a restart."""
        if self._no_repeat:
            self.recent.extend(track_ids)

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

    def pick(self, user: str, mood: str) -> Pick | None:
        if not self.by_genre:
            return None
        table = self.genre_table(user, mood)
        genres = list(table)
        probs = softmax([table[g] for g in genres], self.temperature)
        genre = self.rng.choices(genres, weights=probs)[0]
        track = self._pick_track(user, mood, genre, table[genre])
        if self._no_repeat:
            self.recent.append(track.track_id)
        p = probs[genres.index(genre)]
        label = mood if mood != UNKNOWN else "mood unknown"
        explanation = f"{label} -> {_display(genre)} {table[genre]:.1f}/10"
        return Pick(track, genre, mood, table[genre], p, explanation)

    def _pick_track(self, user: str, mood: str, genre: str, genre_score: float) -> Track:
        pool = self.by_genre[genre]
        recent = set(self.recent) if self._no_repeat else set()
        k = min(self.candidates, len(pool))
        sample = pool if k == len(pool) else self.rng.sample(pool, k)
        fresh = [t for t in sample if t.track_id not in recent]
        if not fresh:  # everything sampled was heard lately: look at the whole genre
            fresh = [t for t in pool if t.track_id not in recent] or sample
        scores = self.taste.track_scores(user, mood, [t.track_id for t in fresh]) or {}
        if not scores:
            return self.rng.choice(fresh)
        rel = [float(scores.get(t.track_id, genre_score)) for t in fresh]
        return self.rng.choices(fresh, weights=softmax(rel, self.temperature))[0]
