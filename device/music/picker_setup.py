"""Build a Picker from a Config, the index and the journal: one wiring for ``run`` and
``pick``, so that "what would it play if I were sad?" answers with the speaker's own
taste, learning and scores."""

from __future__ import annotations

import logging
import random
from pathlib import Path

from device.music.learning import FeedbackTable, LearningRule, counts_since
from device.music.library import LibraryIndex
from device.music.music_fit import MoodFit, mood_fit_from_listens
from device.music.picker import Picker
from device.shared.genres import GENRES
from device.shared.manifest import MANIFEST_NAME, load_manifest
from device.shared.music_mood import MusicMoodModel, load_music_mood
from device.shared.taste import load_taste
from device.system.config import Config

log = logging.getLogger(__name__)


class FlatTaste:
    """Every genre 5/10: used only when the models folder has no taste artifact at all."""

    def __init__(self, genres: tuple[str, ...]):
        self.genres = genres

    def genre_scores(self, user: str, mood: str) -> dict[str, float]:
        return dict.fromkeys(self.genres, 5.0)

    def track_scores(self, user, mood, track_ids) -> dict[str, float]:
        return {}


def load_taste_or_flat(models_dir: Path):
    """The taste artifact; a flat table (with a warning) only if none is shipped at all.
    A taste artifact that is present but broken is an error, never silently replaced."""
    manifest = load_manifest(models_dir) if (Path(models_dir) / MANIFEST_NAME).exists() else None
    if manifest is None or manifest.taste is None:
        log.warning("%s: no taste model; every genre scores 5/10", models_dir)
        return FlatTaste(GENRES)
    return load_taste(models_dir)


def learning_rule(cfg: Config) -> LearningRule:
    return LearningRule(**vars(cfg.learning))


def load_mood_model(models_dir: Path) -> MusicMoodModel | None:
    """The music-mood model, or None (with a warning) when none is shipped; a broken one
    is refused (``ManifestError``), never silently skipped."""
    if not (Path(models_dir) / MANIFEST_NAME).exists():
        log.warning("%s: no manifest; tracks get no mood scores", models_dir)
        return None
    model = load_music_mood(models_dir)
    if model is None:
        log.warning("%s: no music_mood model; tracks are picked by genre only", models_dir)
    return model


def learnt_until(taste, user: str) -> float | None:
    """When the taste model stopped learning from this user's speaker listens (the
    manifest's ``speaker_listens_until``), or None: it learnt nothing from them."""
    info = getattr(taste, "info", None) or {}
    until = info.get("speaker_listens_until") or {}
    value = until.get(user) if isinstance(until, dict) else None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        log.warning("taste model: speaker_listens_until[%r] is not a time; ignored", user)
        return None


def learning_for(user: str, journal, index: LibraryIndex, rule: LearningRule,
                 since: float | None = None) -> tuple[FeedbackTable, MoodFit]:
    """One user's genre counts and mood targets, rebuilt from the journal (``None``
    journal: a fresh listener) joined with the index's valence/arousal.

    ``since`` (``learnt_until``): the taste model already learnt this user's listens up to
    then, so the genre counts start after it (no double counting); None: every count."""
    if journal is None:
        return FeedbackTable(rule, {}), MoodFit(rule)
    scores = {t.track_id: (t.valence, t.arousal) for t in index.tracks()}
    listens = journal.all()
    counts = (journal.feedback_counts(user) if since is None
              else counts_since(user, listens, rule, since))  # fmt: skip
    return (FeedbackTable(rule, counts),
            mood_fit_from_listens(user, listens, scores, rule))


def make_picker(cfg: Config, index: LibraryIndex, taste, *, user: str, journal=None,
                seed: int | None = None) -> Picker:
    rule = learning_rule(cfg)
    feedback, mood_fit = learning_for(user, journal, index, rule, learnt_until(taste, user))
    return Picker(
        index.tracks(), taste, cfg.picker, feedback=feedback, mood_fit=mood_fit,
        rng=random.Random(cfg.picker.seed if seed is None else seed),
    )
