"""On-device learning: what this listener skips or finishes nudges their genre scores.

The rule (docs/speaker.md, "Learning on the device"): a listen ended by a skip within the first
``skip_within_s`` seconds (30 s) counts one *skip* for (user, mood at the start, genre); a
listen that played to the end counts one *completion*. Stops, errors and interruptions
count for nothing: they say nothing about taste. The adjustment added to the taste
model's 0-10 score is

    adjust = max_adjust * (completed - skipped) / (completed + skipped + shrinkage)

so one skip moves the score by -3 * 1/5 = -0.6 with the defaults, repeated evidence
approaches +-3 points and never more. The counts live in the journal database
(``genre_feedback``), written in the same transaction as the listen that caused them. The
same outcomes also move this listener's valence/arousal target per mood
(``device.music.music_fit``).

After a new taste model arrives the counts are not added on top of what it already learnt:
the trainer's model records, per person, the end of the last speaker listen it learnt from
(``speaker_listens_until`` in the manifest's taste entry), and the device then counts only
listens that ended later (``counts_since``); the feedback before it is in the model. A
model without that entry (the shipped prior, a build from posts only) leaves every count
in place (docs/speaker.md, "Learning on the device").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from device.shared.listens import Listen
from device.shared.moods import MOODS
from device.system.config import LearningConfig


@dataclass
class LearningRule(LearningConfig):
    """The rule over the ``[learning]`` settings (declared once, in the config)."""

    def outcome(self, end_reason: str, played_s: float) -> str | None:
        """'completed', 'skipped' or None (no evidence) for one finished listen."""
        if not self.enabled:
            return None
        if end_reason == "completed":
            return "completed"
        if end_reason == "skipped" and played_s < self.skip_within_s:
            return "skipped"
        return None

    def adjustment(self, completed: int, skipped: int) -> float:
        n = completed + skipped
        if not self.enabled or n == 0:
            return 0.0
        return self.max_adjust * (completed - skipped) / (n + self.shrinkage)


class FeedbackTable:
    """In-memory view of one user's counts, kept in step with the journal's table."""

    def __init__(self, rule: LearningRule, counts: dict[tuple[str, str], tuple[int, int]]):
        self.rule = rule
        self._counts = dict(counts)

    def record(self, mood: str, genre: str, outcome: str) -> None:
        c, s = self._counts.get((mood, genre), (0, 0))
        self._counts[(mood, genre)] = (c + 1, s) if outcome == "completed" else (c, s + 1)

    def adjustment(self, mood: str, genre: str) -> float:
        c, s = self._counts.get((mood, genre), (0, 0))
        return self.rule.adjustment(c, s)


def counts_since(user: str, listens: Iterable[Listen], rule: LearningRule,
                 since: float) -> dict[tuple[str, str], tuple[int, int]]:  # fmt: skip
    """(mood, genre) -> (completed, skipped) from the journal's listens that ended after
    ``since``, by the rule the speaker applies live (only listens ended by the track's end
    or by the listener count; a skip only within ``skip_within_s``)."""
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for row in listens:
        if (row.user != user or row.mood not in MOODS or not row.genre
                or row.end_reason is None or row.ended_at is None or row.ended_at <= since):
            continue
        if row.ended_by not in ("user", "end", None):
            continue
        outcome = rule.outcome(row.end_reason, max(0.0, row.position_s - row.start_offset_s))
        if outcome is None:
            continue
        c, s = counts.get((row.mood, row.genre), (0, 0))
        counts[(row.mood, row.genre)] = (c + 1, s) if outcome == "completed" else (c, s + 1)
    return counts
