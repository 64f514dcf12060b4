"""Mood of a social post: Chinese and English n-gram models fitted on labelled corpora."""

from .classify import MoodResult, PostMoodClassifier

__all__ = ["MoodResult", "PostMoodClassifier"]
