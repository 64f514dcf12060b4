"""Reading the taste artifact: per-user, per-mood genre preferences (0-10) and track ranking.

The device defines the format and the trainer (``moodspeaker-train taste build``) writes it.
``taste.npz`` holds (``U`` users, ``E`` = 4 moods, ``G`` = 7 genres, ``T`` tracks):

- ``users`` (U,) str, ``moods`` (E,) str, ``genres`` (G,) str: the axis labels, in order;
- ``preferences`` (U, E, G) float32 on 0-10: the completed (Tucker) preferences;
- ``evidence`` (U, E, G) float32 (optional): plays behind each observed value (0 = inferred);
- ``prior`` (E, G) float32 on 0-10: the population prior, used for unknown users;
- ``core``, ``factor_users``, ``factor_moods``, ``factor_genres`` (optional): the Tucker model;
- track ranking (optional, equations 5-6): ``tracks`` (T,) str, ``track_genres`` (T,) int
  (index into ``genres``, -1 unknown), ``rating_indptr`` (U+1,) int, ``rating_tracks`` int,
  ``rating_values`` float32 0-10 (each user's own track preferences, CSR by user),
  ``neighbors`` (T, K) int (-1 = none) and ``neighbor_sims`` (T, K) float32: the tracks whose
  cosine similarity exceeds the threshold ``s``.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.shared.genres import DISPLAY_NAMES, GENRES
from device.shared.manifest import ManifestError, load_manifest, verify_file
from device.shared.moods import MOODS, UNKNOWN

__all__ = ["MOODS", "TasteModel", "load_taste", "validate_taste_arrays"]

FORMAT = 1
_TRACK_KEYS = (
    "tracks", "track_genres", "rating_indptr", "rating_tracks", "rating_values",
    "neighbors", "neighbor_sims",
)  # fmt: skip


@dataclass(frozen=True)
class TrackIndex:
    """What equations 5-6 need: each user's rated tracks and each track's similar tracks."""

    tracks: tuple[str, ...]
    track_genres: np.ndarray
    rating_indptr: np.ndarray
    rating_tracks: np.ndarray
    rating_values: np.ndarray
    neighbors: np.ndarray
    neighbor_sims: np.ndarray
    position: dict[str, int] = field(repr=False)


@dataclass(frozen=True)
class TasteModel:
    """Mood-aware genre preferences for known users plus a prior for everyone else."""

    users: tuple[str, ...]
    moods: tuple[str, ...]
    genres: tuple[str, ...]
    preferences: np.ndarray  # (U, E, G) float32, 0-10
    prior: np.ndarray  # (E, G) float32, 0-10
    evidence: np.ndarray | None = None
    track_index: TrackIndex | None = None
    info: dict = field(default_factory=dict)
    _user_pos: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_pos.update({u: i for i, u in enumerate(self.users)})

    def knows(self, user: str | None) -> bool:
        return user is not None and user in self._user_pos

    def _table(self, user: str | None) -> np.ndarray:
        pos = None if user is None else self._user_pos.get(user)
        return self.prior if pos is None else self.preferences[pos]

    def _row(self, user: str | None, mood: str) -> np.ndarray:
        table = self._table(user)
        if mood in self.moods:
            return table[self.moods.index(mood)]
        if mood == UNKNOWN:
            return table.mean(axis=0)
        raise ValueError(f"unknown mood {mood!r}; expected one of {self.moods} or 'unknown'")

    def genre_scores(self, user: str | None, mood: str) -> dict[str, float]:
        """0-10 per genre; unknown user -> prior; mood 'unknown' -> mean over moods."""
        row = self._row(user, mood)
        return {g: float(v) for g, v in zip(self.genres, row, strict=True)}

    def track_scores(
        self, user: str | None, mood: str, track_ids: Sequence[str]
    ) -> dict[str, float]:
        """Equation 6 predictions (0-10) for the tracks it can score; others are omitted.

        A track the user has rated keeps its rating; an unrated one gets the similarity-
        weighted mean of the user's ratings of its neighbours (similarity above ``s``). The
        result is shifted by how much this mood raises or lowers the track's genre for the
        user relative to their mood average, so scores stay comparable across genres.
        """
        index = self.track_index
        u = None if user is None else self._user_pos.get(user)
        if index is None or u is None:
            return {}
        lo, hi = index.rating_indptr[u], index.rating_indptr[u + 1]
        own = index.rating_tracks[lo:hi].tolist(), index.rating_values[lo:hi].tolist()
        rated = dict(zip(*own, strict=True))
        if not rated:
            return {}
        table = self._table(user)
        row = self._row(user, mood)
        mood_shift = row - table.mean(axis=0)
        scores: dict[str, float] = {}
        for track_id in track_ids:
            t = index.position.get(track_id)
            if t is None:
                continue
            if t in rated:
                value = rated[t]
            else:
                num = den = 0.0
                for m, sim in zip(index.neighbors[t], index.neighbor_sims[t], strict=True):
                    if m >= 0 and m in rated:
                        num += float(sim) * rated[m]
                        den += float(sim)
                if den <= 0:
                    continue
                value = num / den
            g = int(index.track_genres[t])
            if g >= 0:
                value += float(mood_shift[g])
            scores[track_id] = float(min(10.0, max(0.0, value)))
        return scores

    def explain(self, user: str | None, mood: str, top: int = 3) -> str:
        """Human-readable reason, e.g. ``sad -> light music 8.1/10, classical 7.0/10``."""
        scores = sorted(self.genre_scores(user, mood).items(), key=lambda kv: -kv[1])[:top]
        who = user if self.knows(user) else "new listener (population prior)"
        shown = ", ".join(f"{DISPLAY_NAMES.get(g, g)} {v:.1f}/10" for g, v in scores)
        return f"{who}: {mood} -> {shown}"


def _strings(arrays, key: str, where: str) -> tuple[str, ...]:
    values = arrays[key]
    if values.ndim != 1:
        raise ManifestError(f"{where}: {key} must be 1-D, got shape {values.shape}")
    return tuple(str(v) for v in values.tolist())


def _check_range(name: str, values: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(values)):
        raise ManifestError(f"{where}: {name} contains NaN or infinite values")
    if values.size and (values.min() < 0.0 or values.max() > 10.0):
        raise ManifestError(
            f"{where}: {name} outside 0-10 (min {values.min():.3g}, max {values.max():.3g})"
        )


def validate_taste_arrays(arrays, where: str, info: dict | None = None) -> TasteModel:
    """Build a :class:`TasteModel` from npz arrays, refusing anything inconsistent."""
    for key in ("users", "moods", "genres", "preferences", "prior"):
        if key not in arrays:
            raise ManifestError(f"{where}: missing array {key!r}")
    users = _strings(arrays, "users", where)
    moods = _strings(arrays, "moods", where)
    genres = _strings(arrays, "genres", where)
    if moods != MOODS:
        raise ManifestError(f"{where}: moods {moods} differ from the device's {MOODS}")
    if genres != GENRES:
        raise ManifestError(f"{where}: genres {genres} differ from the device's {GENRES}")
    if len(set(users)) != len(users):
        raise ManifestError(f"{where}: users contains duplicates")
    prefs = np.asarray(arrays["preferences"], dtype=np.float32)
    prior = np.asarray(arrays["prior"], dtype=np.float32)
    if prefs.shape != (len(users), len(moods), len(genres)):
        raise ManifestError(
            f"{where}: preferences has shape {prefs.shape}, "
            f"expected {(len(users), len(moods), len(genres))}"
        )
    if prior.shape != (len(moods), len(genres)):
        raise ManifestError(f"{where}: prior has shape {prior.shape}, expected (4, 7)")
    _check_range("preferences", prefs, where)
    _check_range("prior", prior, where)
    evidence = None
    if "evidence" in arrays:
        evidence = np.asarray(arrays["evidence"], dtype=np.float32)
        if evidence.shape != prefs.shape:
            raise ManifestError(f"{where}: evidence shape {evidence.shape} != {prefs.shape}")
    track_index = _track_index(arrays, len(users), len(genres), where)
    return TasteModel(
        users=users, moods=moods, genres=genres, preferences=prefs, prior=prior,
        evidence=evidence, track_index=track_index, info=dict(info or {}),
    )  # fmt: skip


def _track_index(arrays, n_users: int, n_genres: int, where: str) -> TrackIndex | None:
    present = [k for k in _TRACK_KEYS if k in arrays]
    if not present:
        return None
    if len(present) != len(_TRACK_KEYS):
        missing = sorted(set(_TRACK_KEYS) - set(present))
        raise ManifestError(f"{where}: track ranking arrays incomplete, missing {missing}")
    tracks = _strings(arrays, "tracks", where)
    n = len(tracks)
    track_genres = np.asarray(arrays["track_genres"], dtype=np.int64)
    indptr = np.asarray(arrays["rating_indptr"], dtype=np.int64)
    r_tracks = np.asarray(arrays["rating_tracks"], dtype=np.int64)
    r_values = np.asarray(arrays["rating_values"], dtype=np.float32)
    neighbors = np.asarray(arrays["neighbors"], dtype=np.int64)
    sims = np.asarray(arrays["neighbor_sims"], dtype=np.float32)
    problems = []
    if track_genres.shape != (n,) or track_genres.min(initial=0) < -1:
        problems.append("track_genres must be (T,) with values -1..G-1")
    if track_genres.max(initial=-1) >= n_genres:
        problems.append("track_genres names a genre index beyond genres")
    if indptr.shape != (n_users + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        problems.append("rating_indptr must be (U+1,) non-decreasing from 0")
    elif indptr[-1] != r_tracks.size or r_values.shape != r_tracks.shape:
        problems.append("rating_tracks / rating_values lengths do not match rating_indptr")
    if r_tracks.size and (r_tracks.min() < 0 or r_tracks.max() >= n):
        problems.append("rating_tracks has indices outside tracks")
    if neighbors.ndim != 2 or neighbors.shape[0] != n or sims.shape != neighbors.shape:
        problems.append("neighbors / neighbor_sims must both be (T, K)")
    elif neighbors.size and (neighbors.min() < -1 or neighbors.max() >= n):
        problems.append("neighbors has indices outside tracks")
    if problems:
        raise ManifestError(f"{where}: " + "; ".join(problems))
    _check_range("rating_values", r_values, where)
    return TrackIndex(
        tracks=tracks, track_genres=track_genres, rating_indptr=indptr,
        rating_tracks=r_tracks, rating_values=r_values, neighbors=neighbors,
        neighbor_sims=sims, position={t: i for i, t in enumerate(tracks)},
    )  # fmt: skip


def load_taste(models_dir: str | Path) -> TasteModel:
    """Load and verify the taste artifact named in ``models_dir/manifest.json``."""
    manifest = load_manifest(models_dir)
    spec = manifest.taste
    if spec is None:
        raise ManifestError(
            f"{Path(models_dir) / 'manifest.json'}: no 'taste' section "
            "(export one with moodspeaker-train taste build)"
        )
    verify_file(spec.path, spec.sha256)
    where = str(spec.path)
    try:
        with np.load(spec.path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    # a damaged archive fails late, while an array is decompressed, with whatever the
    # zip, zlib or npy layer raises; each is a bad file, refused like a corrupt .tflite
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ManifestError(f"{where}: not a usable taste model: {exc}") from None
    return validate_taste_arrays(arrays, where, info=spec.extra)
