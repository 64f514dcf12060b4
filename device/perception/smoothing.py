"""Temporal smoothing of per-frame moods into a mood the music can follow.

A per-frame classifier flickers: blinks, speech and head turns produce odd frames. The
smoother keeps an exponential moving average of the mood probabilities and only switches
the reported mood when another mood has led the average for ``min_lead_updates`` updates
in a row by at least ``switch_margin``. With no face it holds the last mood for
``hold_s`` seconds, then lets confidence decay to zero over ``decay_s`` and reports
"unknown".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.shared.moods import MOODS, UNKNOWN


@dataclass(frozen=True)
class SmootherConfig:
    alpha: float = 0.35  # weight of the newest frame in the moving average
    switch_margin: float = 0.05
    min_lead_updates: int = 2
    hold_s: float = 10.0
    decay_s: float = 20.0


@dataclass(frozen=True)
class MoodEstimate:
    mood: str  # one of MOODS or "unknown"
    confidence: float  # 0..1
    since: float  # monotonic time the current mood was entered


class MoodSmoother:
    def __init__(self, config: SmootherConfig | None = None):
        self.config = config or SmootherConfig()
        self._avg: np.ndarray | None = None
        self._mood = UNKNOWN
        self._since = 0.0
        self._challenger: str | None = None
        self._lead = 0
        self._last_seen: float | None = None

    @property
    def current(self) -> MoodEstimate:
        avg = self._avg
        if avg is None or self._mood not in MOODS:
            return MoodEstimate(self._mood, 0.0, self._since)
        return MoodEstimate(self._mood, float(avg[MOODS.index(self._mood)]), self._since)

    def update(self, face, now: float) -> MoodEstimate:
        """Feed one frame's main face (anything with ``mood_probs``) or None."""
        if face is None:
            return self._no_face(now)
        probs = np.array([face.mood_probs.get(m, 0.0) for m in MOODS], dtype=np.float64)
        a = self.config.alpha
        self._avg = probs if self._avg is None else a * probs + (1 - a) * self._avg
        self._last_seen = now
        leader = MOODS[int(np.argmax(self._avg))]
        if self._mood == UNKNOWN:
            self._enter(leader, now)
        elif leader != self._mood:
            lead = self._avg[MOODS.index(leader)] - self._avg[MOODS.index(self._mood)]
            if lead >= self.config.switch_margin:
                self._lead = self._lead + 1 if leader == self._challenger else 1
                self._challenger = leader
                if self._lead >= self.config.min_lead_updates:
                    self._enter(leader, now)
            else:
                self._challenger, self._lead = None, 0
        else:
            self._challenger, self._lead = None, 0
        return self.current

    def _enter(self, mood: str, now: float) -> None:
        self._mood, self._since = mood, now
        self._challenger, self._lead = None, 0

    def _no_face(self, now: float) -> MoodEstimate:
        if self._last_seen is None or self._mood == UNKNOWN:
            return self.current
        away = now - self._last_seen
        cfg = self.config
        if away <= cfg.hold_s:
            return self.current
        fade = 1.0 - (away - cfg.hold_s) / cfg.decay_s if cfg.decay_s > 0 else 0.0
        if fade <= 0.0:
            self._avg = None
            self._enter(UNKNOWN, now)
            return self.current
        held = self.current
        return MoodEstimate(held.mood, held.confidence * fade, held.since)
