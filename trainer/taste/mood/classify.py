"""Classify a post's mood: route by language, score with that language's n-gram model.

The models (``data/post_mood.npz``, ``features.py``) and ``data/classifier.json`` (the
confidence threshold per language and the cross-validated confusion counts) are written by
``fit.py``. A post whose most probable mood is below its language's threshold (or the
caller's ``min_confidence``) is *unclear* (``mood`` None), and so is a post in neither
Chinese nor English; ``taste build`` asks for every readable post (``build.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.shared.errors import UserError

from .features import CLASSES, LanguageModel, language, load_models

DATA_DIR = Path(__file__).parent / "data"
MODEL_FILE = "post_mood.npz"
META_FILE = "classifier.json"


@dataclass(frozen=True)
class MoodResult:
    """The mood (None when unclear), the language, and the per-mood probabilities."""

    mood: str | None
    language: str
    probabilities: dict[str, float] = field(default_factory=dict)


def _meta(data_dir: Path) -> dict:
    path = Path(data_dir) / META_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the post-mood settings: {exc}") from None
    except ValueError as exc:
        raise UserError(f"{path}: not valid JSON: {exc}") from None


def shipped_thresholds(data_dir: Path = DATA_DIR) -> dict[str, float]:
    """The confidence threshold per language chosen when the shipped models were fitted."""
    value = _meta(data_dir).get("min_confidence")
    bad = UserError(f"{Path(data_dir) / META_FILE}: min_confidence must be a number "
                    "or one per language")  # fmt: skip
    try:
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        if isinstance(value, (int, float, str)):
            return {"zh": float(value), "en": float(value)}
    except (TypeError, ValueError):
        raise bad from None
    raise bad


class PostMoodClassifier:
    """Text -> language -> that language's model -> mood or unclear."""

    def __init__(
        self,
        min_confidence: float | None = None,
        data_dir: Path = DATA_DIR,
        models: dict[str, LanguageModel] | None = None,
    ) -> None:
        """``min_confidence`` overrides every language's shipped threshold."""
        self.models = models if models is not None else load_models(Path(data_dir) / MODEL_FILE)
        if min_confidence is None:
            self.thresholds = shipped_thresholds(data_dir)
        else:
            self.thresholds = dict.fromkeys(self.models, float(min_confidence))
        missing = set(self.models) - set(self.thresholds)
        if missing:
            raise UserError(f"{Path(data_dir) / META_FILE}: no threshold for {sorted(missing)}")

    @property
    def min_confidence(self) -> float:
        """The Chinese threshold (the one most posts meet), for one-number summaries."""
        return self.thresholds.get("zh", min(self.thresholds.values()))

    def language(self, text: str) -> str:
        """``zh``, ``en`` or ``unknown`` (``features.language``); a language without a
        model counts as unknown."""
        lang = language(text)
        return lang if lang in self.models else "unknown"

    def probabilities(self, texts: list[str]) -> tuple[np.ndarray, list[str]]:
        """(posts, 4) probabilities in ``CLASSES`` order and each post's language; posts
        in no known language get a uniform row."""
        langs = [self.language(t) for t in texts]
        probs = np.full((len(texts), len(CLASSES)), 1.0 / len(CLASSES))
        for lang, model in self.models.items():
            rows = [i for i, x in enumerate(langs) if x == lang]
            if rows:
                probs[rows] = model.probabilities([texts[i] for i in rows])
        return probs, langs

    def classify_many(self, texts: list[str]) -> list[MoodResult]:
        """Classify posts in one batch (vectorised per language: the fast path)."""
        probs, langs = self.probabilities(list(texts))
        out = []
        for row, lang in zip(probs, langs, strict=True):
            named = {c: float(p) for c, p in zip(CLASSES, row, strict=True)}
            best = int(np.argmax(row))
            clear = lang in self.thresholds and row[best] >= self.thresholds[lang]
            out.append(MoodResult(CLASSES[best] if clear else None, lang, named))
        return out

    def classify(self, text: str) -> MoodResult:
        return self.classify_many([text])[0]
