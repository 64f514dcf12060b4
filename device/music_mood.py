"""The music-mood model: a track's valence and arousal (-1..1) from its audio features.

A multinomial logistic regression over standardised ``device.audio_features`` gives the
chance of each quadrant of Russell's plane (trained by ``moodspeaker-train music-mood
train`` on the 4Q audio emotion set); valence is ``2 (P(Q1) + P(Q4)) - 1`` and arousal
``2 (P(Q1) + P(Q2)) - 1``. The file is a plain
``.npz`` (no pickle) named by the manifest's ``music_mood`` section, which also fixes the
extractor version, its parameters and the feature order: a model made for other features
is refused rather than fed numbers it never saw.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio_features import EXTRACTOR_VERSION, ExtractorParams, extract, feature_names
from .manifest import ManifestError, MusicMoodSpec, load_manifest, verify_file

ARRAYS = ("mean", "scale", "coef", "intercept")


@dataclass(frozen=True)
class MoodScore:
    valence: float  # -1 negative .. +1 positive
    arousal: float  # -1 calm .. +1 energetic


@dataclass(frozen=True)
class MusicMoodModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (4, n): Q1 happy, Q2 tense, Q3 sad, Q4 calm
    intercept: np.ndarray  # (4,)
    params: ExtractorParams
    version: str  # sha256 prefix: an index row scored by another model is scored again

    def score_features(self, features: np.ndarray) -> MoodScore:
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        logits = self.coef @ z + self.intercept
        p = np.exp(logits - logits.max())
        p /= p.sum()
        v, a = 2.0 * (p[0] + p[3]) - 1.0, 2.0 * (p[0] + p[1]) - 1.0
        return MoodScore(round(float(v), 4), round(float(a), 4))

    def score_file(self, path: str | Path) -> MoodScore:
        """Raises ``device.audio_features.AudioDecodeError`` when the file cannot be decoded."""
        return self.score_features(extract(path, self.params))


def load_music_mood(models_dir: str | Path) -> MusicMoodModel | None:
    """The shipped model, verified; None when the manifest has no ``music_mood`` entry."""
    spec = load_manifest(models_dir).music_mood
    return None if spec is None else load_spec(spec)


def load_spec(spec: MusicMoodSpec) -> MusicMoodModel:
    verify_file(spec.path, spec.sha256)
    if spec.extractor_version != EXTRACTOR_VERSION:
        raise ManifestError(
            f"{spec.path}: made for feature extractor version {spec.extractor_version}, this "
            f"speaker has version {EXTRACTOR_VERSION} (retrain with moodspeaker-train)"
        )
    try:
        params = ExtractorParams(**spec.params)
    except TypeError as exc:
        raise ManifestError(f"{spec.path}: extractor params do not match: {exc}") from None
    names = feature_names(params)
    if tuple(spec.features) != names:
        raise ManifestError(f"{spec.path}: the manifest's feature list differs from the"
                            f" extractor's ({len(spec.features)} vs {len(names)} features)")
    try:
        with np.load(spec.path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k], dtype=np.float64) for k in ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ManifestError(f"{spec.path}: not a music-mood model: {exc}") from None
    n = len(names)
    shapes = {"mean": (n,), "scale": (n,), "coef": (4, n), "intercept": (4,)}
    for key, shape in shapes.items():
        if arrays[key].shape != shape:
            raise ManifestError(f"{spec.path}: {key} has shape {arrays[key].shape}, "
                                f"expected {shape}")
        if not np.isfinite(arrays[key]).all():
            raise ManifestError(f"{spec.path}: {key} holds non-finite values")
    if (arrays["scale"] <= 0).any():
        raise ManifestError(f"{spec.path}: scale must be positive")
    return MusicMoodModel(**arrays, params=params, version=spec.sha256[:12])
