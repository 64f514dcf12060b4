"""Equation 5: track neighbours by cosine similarity of their user-rating vectors.

Equation 6 (predicting from them) runs on the device: ``device.shared.taste``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .preferences import TrackRatings


@dataclass(frozen=True)
class Neighbours:
    neighbors: np.ndarray  # (T, K) int32, -1 = none
    sims: np.ndarray  # (T, K) float32


def track_neighbours(
    ratings: TrackRatings, threshold: float = 0.3, k: int = 20, chunk: int = 2048
) -> Neighbours:
    """Top-``k`` tracks per track with cosine similarity above ``threshold`` (``s``)."""
    n_t = len(ratings.tracks)
    mat = sparse.csr_matrix(
        (ratings.values.astype(np.float64), (ratings.track_index, ratings.user_index)),
        shape=(n_t, len(ratings.users)),
    )
    norms = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1)).ravel())
    unit = sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ mat
    unit = unit.tocsr()
    nbr = np.full((n_t, k), -1, dtype=np.int32)
    sim = np.zeros((n_t, k), dtype=np.float32)
    for lo in range(0, n_t, chunk):
        block = (unit[lo : lo + chunk] @ unit.T).toarray()
        rows = np.arange(block.shape[0])
        block[rows, lo + rows] = 0.0  # a track is not its own neighbour
        take = min(k, n_t - 1) if n_t > 1 else 0
        if take <= 0:
            continue
        top = np.argpartition(-block, take - 1, axis=1)[:, :take]
        vals = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-vals, axis=1)
        top, vals = np.take_along_axis(top, order, 1), np.take_along_axis(vals, order, 1)
        keep = vals > threshold
        nbr[lo : lo + len(rows), :take] = np.where(keep, top, -1)
        sim[lo : lo + len(rows), :take] = np.where(keep, vals, 0.0)
    return Neighbours(nbr, sim)

