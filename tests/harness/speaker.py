"""Helpers shared by the speaker tests (tests/test_speaker_*.py) and the benches."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import ClassVar

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIPS = REPO.parent / "shared" / "data" / "emotify_sample"


def clips_dir() -> Path:
    if not CLIPS.is_dir():
        pytest.skip(f"{CLIPS} is not present (the project's shared data folder)")
    return CLIPS


def copy_clips(dest: Path, per_genre: int = 2) -> Path:
    """A small library of real MP3 clips in a temp folder (tests may rewrite it)."""
    src = clips_dir()
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        for mp3 in sorted(folder.glob("*.mp3"))[:per_genre]:
            (dest / folder.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(mp3, dest / folder.name / mp3.name)
    return dest


class MoodTaste:
    """A stand-in taste model with an obvious answer per mood (tests only)."""

    genres = ("pop", "folk", "jazz", "light", "classical", "rock", "rap")
    moods = ("happy", "sad", "angry", "neutral")
    best: ClassVar[dict[str, str]] = {
        "happy": "pop", "sad": "classical", "angry": "rock", "neutral": "pop"
    }

    def knows(self, user):
        return user == "ann"

    def genre_scores(self, user, mood):
        top = self.best.get(mood)
        return {g: (9.0 if g == top else 3.0) for g in self.genres}

    def track_scores(self, user, mood, track_ids):
        return {}


class Quiet:
    """A status line that prints nothing (the tests read the journal and MQTT instead)."""

    def __call__(self, _status) -> None:
        pass

    def close(self) -> None:
        pass


def until(cond, timeout: float, what: str) -> None:
    """Poll ``cond`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
