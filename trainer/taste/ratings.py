"""Rating rows ``(user, item, mood, genre, rating)`` as integer-coded arrays: what
``taste evaluate`` scores, read from a dataset or simulated (``evalsim``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ratings:
    user: np.ndarray
    item: np.ndarray
    mood: np.ndarray
    genre: np.ndarray
    rating: np.ndarray
    scale: tuple[float, float]  # the dataset's rating range (lowest, highest)
