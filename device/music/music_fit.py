"""How well a track's valence and arousal fit the listener's mood, and how that is learnt.

Day one (``DAY_ONE``): each mood has a target point on the valence x arousal plane and a
strength, chosen from what people in that mood liked in Emotify and MUMR (the numbers and
the reasoning are in docs/music-mood.md, "The day-one mapping and its evidence"; measured by
``moodspeaker-train music-mood evidence``). A track's fit is 1 anywhere within ``RADIUS``
of the target (a region, not a point: many tracks fit equally, so picks stay varied) and
falls off as a Gaussian of the distance beyond it (0.14 at ``RADIUS + 2 SIGMA``).

Learning (per user and mood, from the same listens that drive the genre counts of
``device.music.learning``): a full listen pulls the target towards the track, a quick skip
pushes it away, with the same shrinkage as the genre rule:

    target = day_one + sum(sign * (track - day_one)) / (n + shrinkage)

where sign is +1 for a completion and -1 for a skip. The strength grows with evidence
(``completed / (n + shrinkage)``) where the day-one evidence was weak (angry).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from device.music.learning import LearningRule
from device.shared.moods import MOODS, UNKNOWN


@dataclass(frozen=True)
class Target:
    valence: float
    arousal: float
    strength: float  # 0..1: how much the fit counts in the pick (0: genre taste only)

    @property
    def region(self) -> str:
        """A word for the target's part of the plane, for the explanation."""
        v, a = self.valence, self.arousal
        if abs(v) < 0.15 and abs(a) < 0.15:
            return "any mood"
        if a >= 0:
            return "upbeat" if v >= 0 else "tense"
        return "calm" if v >= 0 else "sad"

    def describe(self) -> str:
        return f"{self.region} (valence {self.valence:+.1f}, arousal {self.arousal:+.1f})"


#: Listener mood -> the music it gets before any learning (evidence: docs/music-mood.md,
#: "The day-one mapping and its evidence").
DAY_ONE: dict[str, Target] = {
    "happy": Target(0.6, 0.5, 1.0),
    "sad": Target(0.2, -0.6, 1.0),
    "neutral": Target(0.3, -0.2, 0.5),
    "angry": Target(0.0, 0.0, 0.0),
}
#: The target region's radius and the fall-off beyond it, in valence/arousal units.
RADIUS = 0.4
SIGMA = 0.35


def fit(target: Target, valence: float, arousal: float) -> float:
    d = math.hypot(valence - target.valence, arousal - target.arousal)
    beyond = max(0.0, d - RADIUS)
    return math.exp(-beyond * beyond / (2 * SIGMA * SIGMA))


_GRID = [i / 10.0 - 1.0 for i in range(21)]


def expected_fit(target: Target) -> float:
    """The mean fit over the whole plane (-1..1 on both axes): what a track not scored
    yet is worth, as likely as any other to suit the mood."""
    total = sum(fit(target, v, a) for v in _GRID for a in _GRID)
    return total / (len(_GRID) ** 2)


@dataclass
class _Evidence:
    dv: float = 0.0
    da: float = 0.0
    completed: int = 0
    skipped: int = 0


class MoodFit:
    """One listener's mood -> target table: day one plus what their listens taught."""

    def __init__(self, rule: LearningRule | None = None,
                 day_one: Mapping[str, Target] | None = None):
        self.rule = rule or LearningRule()
        self.day_one = dict(DAY_ONE if day_one is None else day_one)
        self._evidence: dict[str, _Evidence] = {}

    def target(self, mood: str) -> Target | None:
        """None for "unknown" (and any mood without a day-one target): genre taste only."""
        if mood == UNKNOWN or mood not in self.day_one:
            return None
        base = self.day_one[mood]
        ev = self._evidence.get(mood)
        if ev is None or not self.rule.enabled:
            return base
        n = ev.completed + ev.skipped + self.rule.shrinkage
        v = max(-1.0, min(1.0, base.valence + ev.dv / n))
        a = max(-1.0, min(1.0, base.arousal + ev.da / n))
        return Target(round(v, 3), round(a, 3), max(base.strength, ev.completed / n))

    def record(self, mood: str, valence: float | None, arousal: float | None,
               outcome: str) -> None:
        """One completed or skipped listen of a track with known valence and arousal."""
        if mood not in self.day_one or valence is None or arousal is None:
            return
        if outcome not in ("completed", "skipped"):
            return
        base = self.day_one[mood]
        sign = 1.0 if outcome == "completed" else -1.0
        ev = self._evidence.setdefault(mood, _Evidence())
        ev.dv += sign * (valence - base.valence)
        ev.da += sign * (arousal - base.arousal)
        if outcome == "completed":
            ev.completed += 1
        else:
            ev.skipped += 1

    def learnt(self) -> dict[str, tuple[int, int]]:
        return {m: (e.completed, e.skipped) for m, e in self._evidence.items()}


@dataclass(frozen=True)
class PastListen:
    """What learning needs from one journal row (``device.storage.journal.Listen`` has these)."""

    user: str
    track_id: str
    mood: str
    end_reason: str | None
    position_s: float
    start_offset_s: float = 0.0
    ended_by: str | None = None


def mood_fit_from_listens(
    user: str,
    listens: Iterable[PastListen],
    scores: Mapping[str, tuple[float | None, float | None]],
    rule: LearningRule | None = None,
) -> MoodFit:
    """Rebuild one user's learnt targets from their journal rows and the index's scores,
    with the rule the speaker applies live (a skip only counts within ``skip_within_s``,
    and only listens ended by the user or by the track's end count)."""
    table = MoodFit(rule)
    for row in listens:
        if row.user != user or row.mood not in MOODS or row.end_reason is None:
            continue
        if row.ended_by not in ("user", "end", None):
            continue
        outcome = table.rule.outcome(row.end_reason, max(0.0, row.position_s
                                                         - row.start_offset_s))
        va = scores.get(row.track_id)
        if outcome and va is not None:
            table.record(row.mood, va[0], va[1], outcome)
    return table
