"""``taste evaluate``: k-fold comparison of the mood-aware model with mood-blind baselines.

Rating datasets (CoMoDa, InCarMusic mood rows, the simulated listens) are rows ``(user,
item, mood, genre, rating)``. The mood-aware model averages ratings per (user, mood, genre)
on the training folds, completes that tensor with Tucker and predicts a test row from its
cell (``mood_tucker``); ``mood_tucker_tracks`` adds the track-level step (an item offset,
equation 6 over the user's residuals on similar items, and the user's own earlier ratings
of the track, with their two weights chosen by nested CV); ``tensorly_tucker`` is TensorLy's
masked Tucker on the same tensor; baselines (scikit-surprise) see only ``(user, item,
rating)``. Rows without a mood (``mood == NO_MOOD``, InCarMusic with ``context_rows``) are
training-only: they teach every method the user and item, and the Tucker model a fifth,
mood-blind slice; folds and scores use mood rows only. ``repeats`` repeats the k folds with
consecutive seeds.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.shared.errors import UserError
from device.shared.moods import MOODS

from .evalsim import simulated_ratings, spearman_report
from .ratings import Ratings
from .tucker import TuckerConfig, fit_tucker

COMODA_EMO = {1: "sad", 2: "happy", 3: "sad", 4: "neutral", 5: "angry", 6: "angry", 7: "neutral"}
INCAR_MOOD = {"happy": "happy", "sad": "sad", "active": "angry", "lazy": "neutral"}
NO_MOOD = len(MOODS)  # rows without a mood context (training only)


def load_comoda(path: Path) -> Ratings:
    """LDOS-CoMoDa: dominantEmo as mood (scared -> sad, surprised -> neutral, disgusted ->
    angry), genre1 as the item's genre."""
    path = Path(path) / "LDOS-CoMoDa.csv" if Path(path).is_dir() else Path(path)
    rows = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            emo = COMODA_EMO.get(int(row["dominantEmo"]))
            if emo is None or int(row["genre1"]) < 0:
                continue
            rows.append((row["userID"], row["itemID"], emo, row["genre1"], float(row["rating"])))
    return _encode(rows, (1.0, 5.0))


def load_incarmusic(path: Path, context_rows: bool = False) -> Ratings:
    """InCarMusic rows with a mood; genre = the track's category. ``context_rows`` keeps the
    other ~3,600 ratings too, as mood-less training rows."""
    path = Path(path)
    genre_of = {}
    with open(path / "Music_Track.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, skipinitialspace=True):
            genre_of[row["id"].strip()] = row["category_id"].strip()
    rows = []
    with open(path / "ContextualRating.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, skipinitialspace=True):
            mood = INCAR_MOOD.get((row.get("mood") or "").strip().lower())
            item = row["ItemID"].strip()
            if item in genre_of and (mood or context_rows):
                rows.append((row["UserID"], item, mood or "none", genre_of[item],
                             float(row["Rating"])))  # fmt: skip
    return _encode(rows, (0.0, 5.0))


def _encode(rows: list[tuple], scale: tuple[float, float]) -> Ratings:
    if not rows:
        raise UserError("no usable rating rows with a mood context")
    cols = list(zip(*rows, strict=True))
    codes = [np.unique(np.array(c), return_inverse=True)[1] for c in cols[:4]]
    mood = np.array([MOODS.index(m) if m in MOODS else NO_MOOD for m in cols[2]])
    return Ratings(codes[0], codes[1], mood, codes[3], np.array(cols[4], dtype=float), scale)


def _surprise_predict(algo_name: str, train: Ratings, test: Ratings, idx_tr, idx_te):
    # heavy (pandas + surprise, ~0.5 s): only the surprise baselines need them
    import pandas as pd
    from surprise import SVD, Dataset, KNNBasic, Reader

    def knn(sim: str, user_based: bool):
        return KNNBasic(sim_options={"name": sim, "user_based": user_based}, verbose=False)

    algos = {
        "knn_user_cosine": lambda: knn("cosine", True),
        "knn_user_pearson": lambda: knn("pearson", True),
        "knn_item_cosine": lambda: knn("cosine", False),
        "knn_item_pearson": lambda: knn("pearson", False),
        "svd": lambda: SVD(random_state=0),
    }
    shift = 1.0 - train.scale[0]  # surprise's cosine divides by zero on 0 ratings
    frame = pd.DataFrame(
        {"u": train.user[idx_tr], "i": train.item[idx_tr], "r": train.rating[idx_tr] + shift}
    )
    scale = (train.scale[0] + shift, train.scale[1] + shift)
    data = Dataset.load_from_df(frame, Reader(rating_scale=scale))
    algo = algos[algo_name]()
    algo.fit(data.build_full_trainset())
    pairs = zip(test.user[idx_te], test.item[idx_te], strict=True)
    return np.array([algo.predict(int(u), int(i)).est for u, i in pairs]) - shift


@dataclass(frozen=True)
class CellTensor:
    """Training ratings averaged per (user, mood, genre) on 0-10, with counts."""

    values: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, r: Ratings, idx: np.ndarray) -> CellTensor:
        shape = (r.user.max() + 1, NO_MOOD + 1, r.genre.max() + 1)
        flat = np.ravel_multi_index((r.user[idx], r.mood[idx], r.genre[idx]), shape)
        size = int(np.prod(shape))
        count = np.bincount(flat, minlength=size).reshape(shape).astype(float)
        total = np.bincount(flat, weights=to10(r, r.rating[idx]), minlength=size)
        values = np.divide(total.reshape(shape), count, out=np.zeros(shape), where=count > 0)
        if not (r.mood[idx] == NO_MOOD).any():  # no mood-blind rows: drop the empty slice
            values, count = values[:, :NO_MOOD], count[:, :NO_MOOD]
        return cls(values, count)


def to10(r: Ratings, x: np.ndarray) -> np.ndarray:
    lo, hi = r.scale
    return 10 * (x - lo) / (hi - lo)


def from10(r: Ratings, x: np.ndarray) -> np.ndarray:
    lo, hi = r.scale
    return lo + np.clip(x, 0, 10) / 10 * (hi - lo)


def tucker_cells(cells: CellTensor, cfg: TuckerConfig) -> np.ndarray:
    """Equation 4 fitted on the observed cells, weighted by their counts: (U, E, G) 0-10."""
    e, g = cells.values.shape[1:]
    ranks = (cfg.ranks[0], min(cfg.ranks[1], e), min(cfg.ranks[2], g))
    cfg = TuckerConfig(**{**cfg.__dict__, "ranks": ranks})
    return fit_tucker(cells.values, cells.count > 0, cells.count, cfg).predict()


def tensorly_cells(cells: CellTensor, ranks: tuple[int, int, int], seed: int) -> np.ndarray:
    """TensorLy's masked Tucker (HOOI with imputation) on the centred cell means."""
    # heavy (tensorly, ~0.6 s): only this baseline needs it
    import tensorly as tl
    from tensorly.decomposition import tucker

    mask = cells.count > 0
    mean = cells.values[mask].mean()
    x = np.where(mask, cells.values - mean, 0.0)
    ranks = tuple(min(r, n) for r, n in zip(ranks, x.shape, strict=True))
    core, factors = tucker(tl.tensor(x), rank=list(ranks), mask=tl.tensor(mask.astype(float)),
                           n_iter_max=200, init="random", random_state=seed)  # fmt: skip
    return np.clip(tl.to_numpy(tl.tucker_to_tensor((core, factors))) + mean, 0, 10)


@dataclass(frozen=True)
class TrackParts:
    """What the track step needs per test row, before the two weights are applied."""

    unrated: np.ndarray  # 0-10 prediction from the cell, the item offset and equation 6
    own_n: np.ndarray  # the user's training ratings of this very item (any context)
    own_y: np.ndarray  # their sum, 0-10
    own_cell: np.ndarray  # the sum of those ratings' Tucker cells


def track_parts(
    r: Ratings,
    tr: np.ndarray,
    te: np.ndarray,
    cell_pred10: np.ndarray,
    full: np.ndarray,
    threshold: float = 0.3,
    shrink: float = 5.0,
) -> TrackParts:
    """Training rows' residuals from their Tucker cells give each item an offset within its
    genre (shrunk mean); an item the user has not rated gets equation 6: the similarity-
    weighted mean of the user's residuals on the items whose cosine similarity (equation 5,
    over users' ratings) exceeds ``s``."""
    from scipy import sparse  # heavy (scipy.sparse, ~0.2 s): only this baseline needs it

    n_u, n_i = r.user.max() + 1, r.item.max() + 1
    y = to10(r, r.rating[tr])
    cell_tr = full[r.user[tr], r.mood[tr], r.genre[tr]]
    resid = y - cell_tr
    item_off = np.bincount(r.item[tr], weights=resid, minlength=n_i) / (
        np.bincount(r.item[tr], minlength=n_i) + shrink
    )
    pair = (r.user[tr], r.item[tr])

    def at_test(values: np.ndarray) -> np.ndarray:
        mat = sparse.csr_matrix((values, pair), shape=(n_u, n_i))
        return np.asarray(mat[r.user[te], r.item[te]]).ravel()

    resid2 = sparse.csr_matrix((resid - item_off[r.item[tr]], pair), shape=(n_u, n_i))
    has = sparse.csr_matrix((np.ones(tr.size), pair), shape=(n_u, n_i))
    mat = sparse.csr_matrix((y, (r.item[tr], r.user[tr])), shape=(n_i, n_u))
    norms = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1)).ravel())
    unit = sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ mat
    sim = (unit @ unit.T).toarray()
    np.fill_diagonal(sim, 0.0)
    sim[sim <= threshold] = 0.0
    num = np.asarray(resid2[r.user[te]].multiply(sim[r.item[te]]).sum(axis=1)).ravel()
    den = np.asarray(has[r.user[te]].multiply(sim[r.item[te]]).sum(axis=1)).ravel()
    return TrackParts(
        unrated=cell_pred10 + item_off[r.item[te]] + num / (den + shrink),
        own_n=at_test(np.ones(tr.size)),
        own_y=at_test(y),
        own_cell=at_test(cell_tr),
    )


def combine_track(
    parts: TrackParts, cell_pred10: np.ndarray, mood_shift: float, own_shrink: float
) -> np.ndarray:
    """A track the user has rated (in any context) gets their own ratings of it, each moved
    by ``mood_shift`` times the step from its context's cell to the test mood's cell (1: the
    full shift, 0: none), pulled toward the unrated prediction with pseudo-count
    ``own_shrink``; an unrated track gets the unrated prediction."""
    n = parts.own_n
    moved = parts.own_y + mood_shift * (n * cell_pred10 - parts.own_cell)
    rated = (moved + own_shrink * parts.unrated) / np.maximum(n + own_shrink, 1e-9)
    return np.where(n > 0, rated, parts.unrated)


def track_step(
    r: Ratings,
    tr: np.ndarray,
    te: np.ndarray,
    cell_pred10: np.ndarray,
    full: np.ndarray,
    mood_shift: float = 1.0,
    own_shrink: float = 0.5,
) -> np.ndarray:
    """Genre cell -> track (0-10). The speaker's ``TasteModel.track_scores`` is a simpler
    form: a rated track keeps its rating, an unrated one gets equation 6, and both move by
    their genre's full mood shift (it ranks tracks within one genre, where that shift is
    common to all of them)."""
    parts = track_parts(r, tr, te, cell_pred10, full)
    return combine_track(parts, cell_pred10, mood_shift, own_shrink)


#: Candidate (mood_shift, own_shrink) for re-rated tracks, chosen by inner CV per fold.
TRACK_WEIGHTS = tuple((a, k) for a in (0.0, 0.5, 1.0) for k in (0.0, 0.5, 2.0))


def choose_track_weights(
    r: Ratings, tr: np.ndarray, cfg: TuckerConfig, seed: int, inner_folds: int = 4
) -> tuple[float, float]:
    """The (mood_shift, own_shrink) with the lowest inner-CV MAE on training rows ``tr``.

    How far a mood moves a user's rating of a track they already know, and how much one
    earlier rating is worth, differ by data set (InCarMusic: no shift, no shrinkage; the
    simulated listens: half to full shift, strong shrinkage), so they are learnt inside
    each training fold, never on its test rows.
    """
    scored = tr[r.mood[tr] != NO_MOOD]
    context = tr[r.mood[tr] == NO_MOOD]
    fold_of = np.random.default_rng(seed).permutation(scored.size) % inner_folds
    errors = np.zeros(len(TRACK_WEIGHTS))
    for j in range(inner_folds):
        itr = np.concatenate([scored[fold_of != j], context])
        ite = scored[fold_of == j]
        full = tucker_cells(CellTensor.of(r, itr), cfg)
        cell = full[r.user[ite], r.mood[ite], r.genre[ite]]
        parts = track_parts(r, itr, ite, cell, full)
        for w, (shift, shrink) in enumerate(TRACK_WEIGHTS):
            pred = from10(r, combine_track(parts, cell, shift, shrink))
            errors[w] += np.abs(pred - r.rating[ite]).sum()
    return TRACK_WEIGHTS[int(errors.argmin())]


def precision_at(r: Ratings, idx: np.ndarray, pred: np.ndarray, n: int) -> float:
    """Per user: |top-n predicted ∩ items rated >= the n-th best actual| / n, users with > n."""
    scores = []
    users = r.user[idx]
    for u in np.unique(users):
        sel = np.flatnonzero(users == u)
        if sel.size <= n:
            continue
        actual = r.rating[idx][sel]
        cut = np.sort(actual)[::-1][n - 1]
        top = sel[np.argsort(-pred[sel], kind="stable")[:n]]
        scores.append(np.mean(r.rating[idx][top] >= cut))
    return float(np.mean(scores)) if scores else float("nan")


SURPRISE = ("knn_user_cosine", "knn_user_pearson", "knn_item_cosine", "knn_item_pearson", "svd")
METHODS = ("global_mean", "user_mean", *SURPRISE, "tensorly_tucker", "mood_tucker",
           "mood_tucker_tracks")  # fmt: skip
MOOD_BLIND = ("global_mean", "user_mean", *SURPRISE)
DEFAULT_CFG = TuckerConfig(ranks=(3, 4, 4), l1=1.0, l2=1.0, shrink=3.0, k0=1.0, seed=0)


def evaluate_ratings(
    r: Ratings,
    folds: int,
    seed: int,
    cfg: TuckerConfig = DEFAULT_CFG,
    methods: tuple[str, ...] = METHODS,
    repeats: int = 1,
) -> dict:
    """k-fold over the rows with a mood, repeated with seeds ``seed .. seed + repeats - 1``;
    mood-less rows always train.

    Repeats matter on small sets: on InCarMusic's 406 mood rows a fold's P@10 rests on a
    handful of users with more than ten test rows, so one seed's split decides it.
    """
    scored = np.flatnonzero(r.mood != NO_MOOD)
    context = np.flatnonzero(r.mood == NO_MOOD)
    per_fold: dict[str, list[dict]] = {m: [] for m in methods}
    splits = []
    for rep in range(repeats):
        fold_of = np.random.default_rng(seed + rep).permutation(scored.size) % folds
        splits += [(rep, k, fold_of) for k in range(folds)]
    for rep, k, fold_of in splits:
        tr = np.concatenate([scored[fold_of != k], context])
        te = scored[fold_of == k]
        mu = r.rating[tr].mean()
        n_u = r.user.max() + 1
        user_sum = np.bincount(r.user[tr], weights=r.rating[tr], minlength=n_u)
        user_n = np.bincount(r.user[tr], minlength=n_u)
        preds: dict[str, np.ndarray] = {
            "global_mean": np.full(te.size, mu),
            "user_mean": ((user_sum + 3 * mu) / (user_n + 3))[r.user[te]],
        }
        cells = CellTensor.of(r, tr)
        cell_of = (r.user[te], r.mood[te], r.genre[te])
        if "mood_tucker" in methods or "mood_tucker_tracks" in methods:
            full = tucker_cells(cells, cfg)
            preds["mood_tucker"] = from10(r, full[cell_of])
            if "mood_tucker_tracks" in methods:
                weights = choose_track_weights(r, tr, cfg, seed + rep)
                step = track_step(r, tr, te, full[cell_of], full, *weights)
                preds["mood_tucker_tracks"] = from10(r, step)
        if "tensorly_tucker" in methods:
            preds["tensorly_tucker"] = from10(r, tensorly_cells(cells, cfg.ranks, seed)[cell_of])
        for name in methods:
            if name in SURPRISE:
                preds[name] = _surprise_predict(name, r, r, tr, te)
        for name in methods:
            p = np.clip(preds[name], *r.scale)
            err = p - r.rating[te]
            per_fold[name].append({
                "repeat": rep, "fold": k, "mae": float(np.abs(err).mean()),
                "rmse": float(np.sqrt((err**2).mean())),
                **{f"p@{n}": precision_at(r, te, p, n) for n in (5, 10, 20)},
            })  # fmt: skip
            if name == "mood_tucker_tracks":
                per_fold[name][-1]["mood_shift"], per_fold[name][-1]["own_shrink"] = weights
    return _summarise(per_fold)


def _summarise(per_fold: dict[str, list[dict]]) -> dict:
    summary: dict[str, dict] = {}
    for name, folds in per_fold.items():
        summary[name] = {}
        skip = ("repeat", "fold", "mood_shift", "own_shrink")
        for metric in (m for m in folds[0] if m not in skip):
            vals = np.array([f[metric] for f in folds], dtype=float)
            ok = np.isfinite(vals).any()
            summary[name][metric] = float(np.nanmean(vals)) if ok else None
            summary[name][f"{metric}_std"] = float(np.nanstd(vals)) if ok else None
        chosen = [f"{f['mood_shift']:g}/{f['own_shrink']:g}" for f in folds if "mood_shift" in f]
        if chosen:
            values, counts = np.unique(chosen, return_counts=True)
            summary[name]["track_weights_chosen"] = {
                str(v): int(c) for v, c in zip(values, counts, strict=True)
            }
    return {"folds": per_fold, "summary": summary}


def run_evaluation(
    dataset: str, data: Path, folds: int, seed: int, context_rows: bool = False,
    repeats: int = 1,
) -> dict:
    if folds < 2:
        raise UserError(f"--folds must be at least 2, not {folds}")
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1, not {repeats}")
    extra: dict[str, object]
    if dataset == "comoda":
        r, extra = load_comoda(data), {}
    elif dataset == "incarmusic":
        r, extra = load_incarmusic(data, context_rows), {"context_rows": context_rows}
    else:
        sim = simulated_ratings(data)
        r, extra = sim.ratings, {"spearman": spearman_report(sim)}
    info = {"rows": int(r.rating.size), "scored_rows": int((r.mood != NO_MOOD).sum()),
            "users": int(r.user.max() + 1), "items": int(r.item.max() + 1),
            "genres": int(r.genre.max() + 1), "k": folds, "seed": seed,
            "repeats": repeats}  # fmt: skip
    return {"dataset": dataset, **info, **extra,
            **evaluate_ratings(r, folds, seed, repeats=repeats)}  # fmt: skip
