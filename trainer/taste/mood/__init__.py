"""Mood of a social post from its emotion words (Chinese: DUTIR, English: NRC EmoLex)."""

from .classify import MoodResult, PostMoodClassifier

__all__ = ["MoodResult", "PostMoodClassifier"]
