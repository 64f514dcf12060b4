"""The 4Q audio emotion set as (features, quadrant, artist) rows, with a feature cache.

Extracting 633 clips takes minutes, so the features can be kept in an ``.npz`` cache keyed
by each file's path, size and mtime and by the extractor version: a rerun re-extracts only
what changed, and a new extractor version starts from scratch.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from device.shared.audio_features import (
    DEFAULT_PARAMS,
    EXTRACTOR_VERSION,
    AudioDecodeError,
    ExtractorParams,
    extract,
    feature_names,
)
from device.shared.errors import UserError

log = logging.getLogger(__name__)

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
#: Russell's plane: Q1 +valence +arousal, Q2 -valence +arousal, Q3 -,-, Q4 +,-.
POSITIVE = {"Q1": 1, "Q2": 0, "Q3": 0, "Q4": 1}
HIGH = {"Q1": 1, "Q2": 1, "Q3": 0, "Q4": 0}


@dataclass(frozen=True)
class Clip:
    song: str
    artist: str
    quadrant: str
    genres: str
    path: Path


@dataclass
class Dataset:
    clips: list[Clip]
    features: np.ndarray  # (n, n_features) float32

    @property
    def quadrant(self) -> np.ndarray:
        return np.array([QUADRANTS.index(c.quadrant) for c in self.clips])

    @property
    def valence(self) -> np.ndarray:
        return np.array([POSITIVE[c.quadrant] for c in self.clips])

    @property
    def arousal(self) -> np.ndarray:
        return np.array([HIGH[c.quadrant] for c in self.clips])

    @property
    def artists(self) -> np.ndarray:
        return np.array([c.artist.strip().lower() for c in self.clips])


def read_clips(root: str | Path) -> list[Clip]:
    """``metadata.csv`` rows whose clip exists; a missing metadata file is a clear error."""
    root = Path(root)
    meta = root / "metadata.csv"
    try:
        with open(meta, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise UserError(f"{meta}: cannot read the 4Q metadata: {exc}") from None
    clips = []
    for line, row in enumerate(rows, start=2):
        try:
            quadrant = row["Quadrant"].strip()
            song = row["Song"].strip()
        except (KeyError, AttributeError):
            raise UserError(f"{meta}: line {line}: needs Song and Quadrant columns") from None
        if quadrant not in QUADRANTS:
            raise UserError(f"{meta}: line {line}: quadrant {quadrant!r} is not Q1..Q4")
        path = root / quadrant / f"{song}.mp3"
        if path.is_file():
            clips.append(Clip(song, row.get("Artist") or song, quadrant,
                              row.get("GenresStr") or "", path))
    if not clips:
        raise UserError(f"{root}: no 4Q clips found (expected Q1..Q4/<Song>.mp3)")
    return clips


def _extract_one(args: tuple[str, ExtractorParams]) -> np.ndarray | str:
    path, params = args
    try:
        with threadpool_limits(limits=1):  # processes in parallel, not BLAS threads
            return extract(path, params)
    except AudioDecodeError as exc:
        return str(exc)


class FeatureCache:
    """path -> features, valid while the file's (size, mtime) and the extractor match."""

    def __init__(self, path: Path | None, params: ExtractorParams):
        self.path = path
        self.key = json.dumps({"version": EXTRACTOR_VERSION, **params.as_dict(),
                               "features": feature_names(params)}, sort_keys=True)
        self.rows: dict[str, tuple[int, float, np.ndarray]] = {}
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    if str(z["key"]) == self.key:
                        for p, s, m, f in zip(z["paths"], z["sizes"], z["mtimes"],
                                              z["features"], strict=True):
                            self.rows[str(p)] = (int(s), float(m), f)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("%s: feature cache unreadable (%s); extracting again", path, exc)

    def get(self, path: Path) -> np.ndarray | None:
        st = path.stat()
        hit = self.rows.get(str(path.resolve()))
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime:
            return hit[2]
        return None

    def put(self, path: Path, features: np.ndarray) -> None:
        st = path.stat()
        self.rows[str(path.resolve())] = (st.st_size, st.st_mtime, features)

    def save(self) -> None:
        if self.path is None or not self.rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        paths = sorted(self.rows)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, key=np.array(self.key), paths=np.array(paths),
                 sizes=np.array([self.rows[p][0] for p in paths]),
                 mtimes=np.array([self.rows[p][1] for p in paths]),
                 features=np.stack([self.rows[p][2] for p in paths]))
        os.replace(tmp, self.path)


def load_dataset(root: str | Path, *, cache: Path | None = None, jobs: int = 1,
                 params: ExtractorParams = DEFAULT_PARAMS) -> Dataset:
    """Features of every 4Q clip (from the cache where it is current)."""
    clips = read_clips(root)
    store = FeatureCache(cache, params)
    todo = [c for c in clips if store.get(c.path) is None]
    if todo:
        log.info("extracting features of %d of %d clips (%d jobs)", len(todo), len(clips), jobs)
        work = [(str(c.path), params) for c in todo]
        if jobs > 1:
            with ProcessPoolExecutor(jobs) as pool:
                results = list(pool.map(_extract_one, work, chunksize=8))
        else:
            results = [_extract_one(w) for w in work]
        for clip, result in zip(todo, results, strict=True):
            if isinstance(result, str):
                log.warning("%s: skipped: %s", clip.path, result)
            else:
                store.put(clip.path, result)
        store.save()
    found = [(c, store.get(c.path)) for c in clips]
    kept = [c for c, f in found if f is not None]
    features = np.stack([f for _, f in found if f is not None]).astype(np.float32)
    return Dataset(kept, features)
