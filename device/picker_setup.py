"""Build a Picker from a Config, the index and the journal: one wiring for ``run`` and
``pick``, so that "what would it play if I were sad?" answers with the speaker's own
taste, learning and scores."""

from __future__ import annotations

import logging
import random
from pathlib import Path

from .config import Config
from .learning import FeedbackTable, LearningRule
from .library import LibraryIndex
from .music_fit import MoodFit, mood_fit_from_listens
from .music_mood import MusicMoodModel, load_music_mood
from .picker import Picker

log = logging.getLogger(__name__)


def learning_rule(cfg: Config) -> LearningRule:
    c = cfg.learning
    return LearningRule(c.enabled, c.skip_within_s, c.max_adjust, c.shrinkage)


def load_mood_model(models_dir: Path) -> MusicMoodModel | None:
    """The music-mood model, or None (with a warning) when none is shipped; a broken one
    is refused (``ManifestError``), never silently skipped."""
    if not (Path(models_dir) / "manifest.json").exists():
        log.warning("%s: no manifest; tracks get no mood scores", models_dir)
        return None
    model = load_music_mood(models_dir)
    if model is None:
        log.warning("%s: no music_mood model; tracks are picked by genre only", models_dir)
    return model


def learning_for(user: str, journal, index: LibraryIndex,
                 rule: LearningRule) -> tuple[FeedbackTable, MoodFit]:
    """One user's genre counts and mood targets, rebuilt from the journal (``None``
    journal: a fresh listener) joined with the index's valence/arousal."""
    if journal is None:
        return FeedbackTable(rule, {}), MoodFit(rule)
    scores = {t.track_id: (t.valence, t.arousal) for t in index.tracks()}
    return (FeedbackTable(rule, journal.feedback_counts(user)),
            mood_fit_from_listens(user, journal.all(), scores, rule))


def make_picker(cfg: Config, index: LibraryIndex, taste, *, user: str, journal=None,
                seed: int | None = None) -> Picker:
    rule = learning_rule(cfg)
    feedback, mood_fit = learning_for(user, journal, index, rule)
    return Picker(
        index.tracks(), taste, temperature=cfg.picker.temperature,
        no_repeat=cfg.picker.no_repeat, candidates=cfg.picker.candidates,
        feedback=feedback, mood_fit=mood_fit,
        rng=random.Random(cfg.picker.seed if seed is None else seed),
    )
