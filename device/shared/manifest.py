"""``models/manifest.json``: the contract between the trainer (writer) and the device (reader).

The device owns the format. Each artifact has a section (``fer``, ``taste``,
``music_mood``) naming its file and sha256 plus what a consumer must know to use it
correctly. A manifest or
artifact that does not match is refused with a message naming the file and the problem,
never half-used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.shared.errors import UserError
from device.shared.moods import MOODS

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
OUTPUT_KINDS: tuple[str, ...] = ("probabilities", "logits")


class ManifestError(UserError, ValueError):
    """The manifest or an artifact it names is missing, malformed or does not match."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FerSpec:
    """How to feed and read the facial-expression model."""

    path: Path
    sha256: str
    input_shape: tuple[int, ...]
    input_range: tuple[float, float]  # real values that pixel 0 and pixel 255 map to
    labels: tuple[str, ...]
    moods: dict[str, str | None]  # label -> mood or None (label ignored for mood)
    #: "probabilities" (the model ends in a softmax) or "logits" (the device applies it)
    output: str = "probabilities"
    extra: dict[str, Any] = field(default_factory=dict)
    #: the model's 4-mood confusion on its validation split (rows true mood, columns the mood
    #: it predicted, MOODS order; counts or rates); None: not measured, moods taken as certain
    mood_confusion: tuple[tuple[float, ...], ...] | None = None

    def label_to_mood_matrix(self):
        """(labels x moods) 0/1 matrix: summing label probabilities into mood probabilities."""
        return mood_matrix(self.labels, self.moods)

    def seen_given_true(self):
        """(moods x moods) P(predicted mood | true mood), rows summing to 1, or None."""
        import numpy as np  # see mood_matrix

        if self.mood_confusion is None:
            return None
        matrix = np.asarray(self.mood_confusion, dtype=np.float64)
        return matrix / matrix.sum(axis=1, keepdims=True)


def mood_matrix(labels: Sequence[str], moods: dict[str, str | None]):
    """(labels x moods) 0/1 float32 matrix; a label mapped to None has an all-zero row."""
    import numpy as np  # ~0.15 s: `moodspeaker-train --help` loads this module, not numpy

    matrix = np.zeros((len(labels), len(MOODS)), dtype=np.float32)
    for i, label in enumerate(labels):
        mood = moods.get(label)
        if mood is not None:
            matrix[i, MOODS.index(mood)] = 1.0
    return matrix


@dataclass(frozen=True)
class TasteSpec:
    path: Path
    sha256: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MusicMoodSpec:
    """The audio valence/arousal model (``shared.music_mood``) and the features it expects."""

    path: Path
    sha256: str
    extractor_version: int
    params: dict[str, Any]
    features: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    directory: Path
    fer: FerSpec | None
    taste: TasteSpec | None
    raw: dict[str, Any]
    music_mood: MusicMoodSpec | None = None


def _require(section: dict, key: str, where: str) -> Any:
    if key not in section:
        raise ManifestError(f"{where}: missing key {key!r}")
    return section[key]


def _parse_fer(section: Any, directory: Path, where: str) -> FerSpec:
    if not isinstance(section, dict):
        raise ManifestError(f"{where}: must be an object")
    try:
        shape = tuple(int(v) for v in _require(section, "input_shape", where))
        lo, hi = (float(v) for v in _require(section, "input_range", where))
        labels = tuple(str(v) for v in _require(section, "labels", where))
        moods = dict(_require(section, "moods", where))
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{where}: malformed value: {exc}") from None
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 1:
        raise ManifestError(f"{where}: input_shape {list(shape)} is not [1, H, W, 1]")
    if not labels:
        raise ManifestError(f"{where}: labels is empty")
    for label, mood in moods.items():
        if label not in labels:
            raise ManifestError(f"{where}: moods names unknown label {label!r}")
        if mood is not None and mood not in MOODS:
            raise ManifestError(f"{where}: label {label!r} maps to {mood!r}, not one of {MOODS}")
    if not any(m is not None for m in moods.values()):
        raise ManifestError(f"{where}: no label maps to a mood")
    output = str(section.get("output", "probabilities"))
    if output not in OUTPUT_KINDS:
        raise ManifestError(f"{where}: output {output!r} is not one of {OUTPUT_KINDS}")
    known = {"file", "sha256", "input_shape", "input_range", "labels", "moods", "output",
             "mood_confusion"}  # fmt: skip
    return FerSpec(
        path=directory / str(_require(section, "file", where)),
        sha256=str(_require(section, "sha256", where)),
        input_shape=shape,
        input_range=(lo, hi),
        labels=labels,
        moods=moods,
        output=output,
        extra={k: v for k, v in section.items() if k not in known},
        mood_confusion=_parse_confusion(section.get("mood_confusion"), where),
    )


def _parse_confusion(value: Any, where: str) -> tuple[tuple[float, ...], ...] | None:
    """``mood_confusion``: absent (None), or len(MOODS) rows of len(MOODS) numbers >= 0,
    each row with a positive sum."""
    if value is None:
        return None
    n = len(MOODS)
    try:
        rows = tuple(tuple(float(v) for v in row) for row in value)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{where}: mood_confusion: malformed value: {exc}") from None
    if len(rows) != n or any(len(row) != n for row in rows):
        raise ManifestError(f"{where}: mood_confusion must be {n} rows of {n} numbers "
                            f"(true mood x predicted mood, {', '.join(MOODS)})")  # fmt: skip
    if any(not (v >= 0) or v == float("inf") for row in rows for v in row):
        raise ManifestError(f"{where}: mood_confusion has a negative or non-finite value")
    if any(sum(row) <= 0 for row in rows):
        raise ManifestError(f"{where}: mood_confusion has a row without any face")
    return rows


def _parse_taste(section: Any, directory: Path, where: str) -> TasteSpec:
    if not isinstance(section, dict):
        raise ManifestError(f"{where}: must be an object")
    return TasteSpec(
        path=directory / str(_require(section, "file", where)),
        sha256=str(_require(section, "sha256", where)),
        extra={k: v for k, v in section.items() if k not in {"file", "sha256"}},
    )


def _parse_music_mood(section: Any, directory: Path, where: str) -> MusicMoodSpec:
    if not isinstance(section, dict):
        raise ManifestError(f"{where}: must be an object")
    params = _require(section, "extractor_params", where)
    features = _require(section, "features", where)
    if not isinstance(params, dict):
        raise ManifestError(f"{where}: extractor_params must be an object")
    if not isinstance(features, list) or not features:
        raise ManifestError(f"{where}: features must be a non-empty list of names")
    try:
        version = int(_require(section, "extractor_version", where))
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"{where}: malformed extractor_version: {exc}") from None
    known = {"file", "sha256", "extractor_version", "extractor_params", "features"}
    return MusicMoodSpec(
        path=directory / str(_require(section, "file", where)),
        sha256=str(_require(section, "sha256", where)),
        extractor_version=version,
        params=dict(params),
        features=tuple(str(f) for f in features),
        extra={k: v for k, v in section.items() if k not in known},
    )


def load_manifest(directory: str | Path) -> Manifest:
    """Parse ``directory/manifest.json``; artifacts are verified when they are loaded."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest (is models.dir right?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: top level must be an object")
    fer = _parse_fer(raw["fer"], directory, f"{path}: fer") if "fer" in raw else None
    taste = _parse_taste(raw["taste"], directory, f"{path}: taste") if "taste" in raw else None
    music = (_parse_music_mood(raw["music_mood"], directory, f"{path}: music_mood")
             if "music_mood" in raw else None)
    return Manifest(directory=directory, fer=fer, taste=taste, raw=raw, music_mood=music)


def verify_file(path: Path, sha256: str) -> None:
    """Refuse an artifact that is missing or whose bytes differ from the manifest."""
    if not path.is_file():
        raise ManifestError(f"{path}: model file named in the manifest is missing")
    actual = file_sha256(path)
    if actual != sha256:
        raise ManifestError(
            f"{path}: sha256 {actual[:12]}... does not match the manifest's {sha256[:12]}... "
            "(corrupt or replaced file; re-export it with moodspeaker-train)"
        )


def write_entry(directory: str | Path, key: str, entry: dict[str, Any]) -> Path:
    """Set one section of the manifest (trainer side), keeping the others; atomic."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MANIFEST_NAME
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    raw["format"] = FORMAT_VERSION
    raw[key] = entry
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
