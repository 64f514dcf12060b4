"""FER2013 loading: the Kaggle layout ``emotion,pixels,Usage`` with optional FER+ votes.

Bad rows are reported by their line number and skipped, never silently dropped, so a
damaged export still trains and the user learns exactly what was left out.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.shared.errors import UserError

#: FER2013 class order (the ``emotion`` column).
FER_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: FER+ vote columns as appended to the Kaggle CSV.
FERPLUS_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger",
    "disgust", "fear", "contempt", "unknown", "NF",
)
#: FER+ column -> FER2013 class index; contempt, unknown and NF have no FER2013 class.
FERPLUS_TO_FER: dict[str, int] = {
    "anger": 0, "disgust": 1, "fear": 2, "happiness": 3, "sadness": 4, "surprise": 5, "neutral": 6,
}
SIDE = 48
SPLITS = ("Training", "PublicTest", "PrivateTest")


class FerDataError(UserError, ValueError):
    """The file cannot be used at all (missing columns, unreadable)."""


@dataclass(frozen=True)
class BadRow:
    line: int  # 1-based line number in the file, header is line 1
    reason: str


@dataclass
class FerData:
    """Images as uint8 (N, 48, 48), FER2013 labels, split names, optional FER+ votes."""

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    votes: np.ndarray | None  # (N, 10) float32 in FERPLUS_COLUMNS order, or None
    bad_rows: list[BadRow] = field(default_factory=list)

    def split(self, name: str) -> FerData:
        keep = self.usage == name
        return FerData(
            images=self.images[keep],
            labels=self.labels[keep],
            usage=self.usage[keep],
            votes=None if self.votes is None else self.votes[keep],
        )

    def __len__(self) -> int:
        return len(self.labels)


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parse_pixels(text: str) -> np.ndarray:
    values = np.array(text.split(), dtype=np.int64)
    if values.size != SIDE * SIDE:
        raise ValueError(f"expected {SIDE * SIDE} pixel values, got {values.size}")
    if values.min() < 0 or values.max() > 255:
        raise ValueError("pixel value outside 0..255")
    return values.astype(np.uint8).reshape(SIDE, SIDE)


def load_fer_csv(path: str | Path, splits: tuple[str, ...] | None = None) -> FerData:
    """Read a FER2013 CSV (plain or gzipped); keep only ``splits`` if given."""
    path = Path(path)
    if not path.is_file():
        raise FerDataError(f"{path}: no such file")
    images: list[np.ndarray] = []
    labels: list[int] = []
    usage: list[str] = []
    votes: list[list[float]] = []
    bad: list[BadRow] = []
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise FerDataError(f"{path}: empty file") from None
            missing = [c for c in ("emotion", "pixels", "Usage") if c not in header]
            if missing:
                raise FerDataError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
            col = {name: i for i, name in enumerate(header)}
            has_votes = all(c in col for c in FERPLUS_COLUMNS)
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not cell.strip() for cell in row):
                    continue
                try:
                    if len(row) < len(header):
                        raise ValueError(f"expected {len(header)} fields, got {len(row)}")
                    split = row[col["Usage"]].strip()
                    if split not in SPLITS:
                        raise ValueError(f"unknown Usage {split!r}")
                    if splits is not None and split not in splits:
                        continue
                    label = int(row[col["emotion"]])
                    if not 0 <= label < len(FER_LABELS):
                        raise ValueError(f"emotion {label} outside 0..6")
                    pixels = _parse_pixels(row[col["pixels"]])
                    row_votes = (
                        [float(row[col[c]]) for c in FERPLUS_COLUMNS] if has_votes else None
                    )
                except ValueError as exc:
                    bad.append(BadRow(line_no, str(exc)))
                    continue
                images.append(pixels)
                labels.append(label)
                usage.append(split)
                if row_votes is not None:
                    votes.append(row_votes)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise FerDataError(f"{path}: cannot read: {exc}") from exc
    return FerData(
        images=np.stack(images) if images else np.zeros((0, SIDE, SIDE), np.uint8),
        labels=np.array(labels, dtype=np.int64),
        usage=np.array(usage),
        votes=np.array(votes, dtype=np.float32) if votes and len(votes) == len(labels) else None,
        bad_rows=bad,
    )


def ferplus_distribution(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FER+ votes -> (N, 7) distribution in FER2013 order, and a mask of rows with any vote.

    Contempt, unknown and not-a-face votes have no FER2013 class and are left out.
    """
    dist = np.zeros((len(votes), len(FER_LABELS)), dtype=np.float32)
    for name, idx in FERPLUS_TO_FER.items():
        dist[:, idx] = votes[:, FERPLUS_COLUMNS.index(name)]
    total = dist.sum(axis=1, keepdims=True)
    has = total[:, 0] > 0
    dist[has] /= total[has]
    return dist, has


def not_a_face(votes: np.ndarray) -> np.ndarray:
    """Rows the FER+ annotators mostly marked as not a face (NF) or unknown."""
    nf = votes[:, FERPLUS_COLUMNS.index("NF")] + votes[:, FERPLUS_COLUMNS.index("unknown")]
    return nf > votes.sum(axis=1) / 2
