"""The music-mood model: a track's valence and arousal (-1..1) from its audio features.

The chance of each quadrant of Russell's plane (trained by ``moodspeaker-train music-mood
train`` on the 4Q audio emotion set) is a multinomial logistic regression over
standardised ``device.shared.audio_features``, averaged with a small forest of decision trees
(``TreeEnsemble``) where the file has one: the trees see the interactions a linear model
cannot (what makes calm music positive is not what makes loud music so), and the average
measured better in cross-validation than either alone. Valence is ``2 (P(Q1) + P(Q4)) - 1``
and arousal ``2 (P(Q1) + P(Q2)) - 1``. The file is a plain
``.npz`` (no pickle) named by the manifest's ``music_mood`` section, which also fixes the
extractor version, its parameters and the feature order: a model made for other features
is refused rather than fed numbers it never saw.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from device.shared.audio_features import EXTRACTOR_VERSION, ExtractorParams, extract, feature_names
from device.shared.manifest import ManifestError, MusicMoodSpec, load_manifest, verify_file

ARRAYS = ("mean", "scale", "coef", "intercept")
TREE_ARRAYS = ("tree_root", "tree_feature", "tree_threshold", "tree_left", "tree_right",
               "tree_value", "tree_weight")


@dataclass(frozen=True)
class MoodScore:
    valence: float  # -1 negative .. +1 positive
    arousal: float  # -1 calm .. +1 energetic


@dataclass(frozen=True)
class TreeEnsemble:
    """Decision trees flattened into arrays, every tree's nodes in one run. A node sends a
    row left when ``x[feature] <= threshold`` (compared in float64 with the row as float32,
    as scikit-learn does); ``left == -1`` marks a leaf, whose ``value`` holds the quadrant
    chances. The forest's answer is the mean over its trees."""

    root: np.ndarray  # (trees,) int32: each tree's first node
    feature: np.ndarray  # (nodes,) int16
    threshold: np.ndarray  # (nodes,) float64
    left: np.ndarray  # (nodes,) int32
    right: np.ndarray  # (nodes,) int32
    value: np.ndarray  # (nodes, 4) float32, rows summing to 1 at the leaves

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(rows, 4) quadrant chances of the (rows, features) ``x``."""
        x = np.atleast_2d(x).astype(np.float32).astype(np.float64)
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.root, (len(x), len(self.root))).copy()
        while (inner := self.left[node] >= 0).any():
            at = node[inner]
            go_left = x[np.broadcast_to(rows, node.shape)[inner], self.feature[at]] <= (
                self.threshold[at])
            node[inner] = np.where(go_left, self.left[at], self.right[at])
        return self.value[node].mean(axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays as the model file names them (``TREE_ARRAYS`` less the weight)."""
        return {"tree_root": self.root, "tree_feature": self.feature,
                "tree_threshold": self.threshold, "tree_left": self.left,
                "tree_right": self.right, "tree_value": self.value}  # fmt: skip

    def check(self, n_features: int, where: Path) -> None:
        """Refuse arrays that would index outside themselves or loop."""
        nodes = len(self.feature)
        same = (self.threshold.shape == self.left.shape == self.right.shape == (nodes,)
                and self.value.shape == (nodes, 4) and self.root.ndim == 1)
        if not same or not len(self.root):
            raise ManifestError(f"{where}: the tree arrays do not fit together")
        inner = self.left >= 0
        ids = np.arange(nodes)
        bad = ((self.root < 0) | (self.root >= nodes)).any() or (
            inner & ((self.left <= ids) | (self.right <= ids) | (self.left >= nodes)
                     | (self.right >= nodes) | (self.feature < 0)
                     | (self.feature >= n_features))).any()
        if bad or not np.isfinite(self.threshold[inner]).all() or not (
                np.isfinite(self.value).all()):
            raise ManifestError(f"{where}: the tree arrays hold a broken tree")


@dataclass(frozen=True)
class MusicMoodModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (4, n): Q1 happy, Q2 tense, Q3 sad, Q4 calm
    intercept: np.ndarray  # (4,)
    params: ExtractorParams
    version: str  # sha256 prefix: an index row scored by another model is scored again
    trees: TreeEnsemble | None = None
    tree_weight: float = 0.0  # the forest's share of the average

    def score_features(self, features: np.ndarray) -> MoodScore:
        p = quadrant_probabilities(self, np.asarray(features, dtype=np.float64))[0]
        v, a = 2.0 * (p[0] + p[3]) - 1.0, 2.0 * (p[0] + p[1]) - 1.0
        return MoodScore(round(float(v), 4), round(float(a), 4))

    def score_file(self, path: str | Path) -> MoodScore:
        """Raises ``AudioDecodeError`` when the file cannot be decoded."""
        return self.score_features(extract(path, self.params))


def load_music_mood(models_dir: str | Path) -> MusicMoodModel | None:
    """The shipped model, verified; None when the manifest has no ``music_mood`` entry."""
    spec = load_manifest(models_dir).music_mood
    return None if spec is None else load_spec(spec)


class _Weights(Protocol):
    """What ``quadrant_probabilities`` reads (read-only: frozen dataclasses qualify)."""

    @property
    def mean(self) -> np.ndarray: ...
    @property
    def scale(self) -> np.ndarray: ...
    @property
    def coef(self) -> np.ndarray: ...
    @property
    def intercept(self) -> np.ndarray: ...
    @property
    def trees(self) -> TreeEnsemble | None: ...
    @property
    def tree_weight(self) -> float: ...


def quadrant_probabilities(model: _Weights, x: np.ndarray) -> np.ndarray:
    """(rows, 4) chances of Q1..Q4 for the (rows, features) ``x``: the regression's softmax,
    averaged with the forest's by ``tree_weight``. The device's model and the trainer's
    fitted one both answer through this, so what is cross-validated is what ships."""
    z = (np.atleast_2d(x) - model.mean) / model.scale
    logits = z @ model.coef.T + model.intercept
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    if model.trees is None:
        return p
    return (1.0 - model.tree_weight) * p + model.tree_weight * model.trees.probabilities(x)


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
            tree_arrays = {k: z[k] for k in TREE_ARRAYS if k in z.files}
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
    trees, weight = _trees(tree_arrays, n, spec.path)
    return MusicMoodModel(**arrays, params=params, version=spec.sha256[:12], trees=trees,
                          tree_weight=weight)


def _trees(arrays: dict[str, np.ndarray], n_features: int, where: Path
           ) -> tuple[TreeEnsemble | None, float]:
    """The forest and its weight, or (None, 0) for a file with no trees."""
    if not arrays:
        return None, 0.0
    if set(arrays) != set(TREE_ARRAYS):
        raise ManifestError(f"{where}: tree arrays missing: "
                            f"{sorted(set(TREE_ARRAYS) - set(arrays))}")
    try:
        trees = TreeEnsemble(
            root=arrays["tree_root"].astype(np.int32, casting="same_kind"),
            feature=arrays["tree_feature"].astype(np.int16, casting="same_kind"),
            threshold=arrays["tree_threshold"].astype(np.float64),
            left=arrays["tree_left"].astype(np.int32, casting="same_kind"),
            right=arrays["tree_right"].astype(np.int32, casting="same_kind"),
            value=arrays["tree_value"].astype(np.float32))
        weight = float(arrays["tree_weight"])
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{where}: malformed tree arrays: {exc}") from None
    if not 0.0 <= weight <= 1.0:
        raise ManifestError(f"{where}: tree_weight {weight} is not within 0..1")
    trees.check(n_features, where)
    return trees, weight
