"""Tucker completion of the users x moods x genres tensor (equations 2-4).

    Y_ijk = mu_jk + b_i + (G x_1 U_i x_2 E_j x_3 M_k)

fitted on observed entries only, each weighted by ``w = n / (n + k0)`` (``n`` = evidence
behind it, so one stray play counts less than fifty), minimising

    1/2 sum w (X - Y)^2 + l1/2 ||G||^2 + l2/2 (||U||^2 + ||E||^2 + ||M||^2)

The population prior ``mu`` (per mood and genre, shrunk to the global mean) and the shrunk
user offset ``b`` are the cold-start answer and take the first-order structure out, so the
Tucker part only models the interactions. Because moods and genres are tiny (4 x 7), the
whole tensor is a dense (users x 28) matrix product, and L-BFGS (scipy) on all parameters at
once takes 43 s for 100k users, 8 min for 1M (bench/taste.py). A random share of observed
entries is held out for early stopping; the model is then refitted on everything for the
best iteration count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuckerConfig:
    ranks: tuple[int, int, int] = (6, 4, 7)  # moods and genres are tiny: full rank
    l1: float = 0.1  # core regularisation
    l2: float = 0.1  # factor regularisation
    k0: float = 10.0  # evidence weight n / (n + k0): a slice of 5 plays counts 1/3
    shrink: float = 5.0  # pseudo-count pulling prior and user offsets to the mean
    holdout: float = 0.1
    max_iter: int = 500
    patience: int = 20
    seed: int = 0


@dataclass(frozen=True)
class TuckerModel:
    prior: np.ndarray  # (E, G)
    user_offset: np.ndarray  # (U,)
    core: np.ndarray  # (du, de, dg)
    factor_users: np.ndarray  # (U, du)
    factor_moods: np.ndarray  # (E, de)
    factor_genres: np.ndarray  # (G, dg)
    iterations: int
    holdout_rmse: float

    def predict(self) -> np.ndarray:
        """The completed tensor (U, E, G), clipped to 0-10."""
        inter = np.einsum(
            "abc,ia,jb,kc->ijk", self.core, self.factor_users, self.factor_moods,
            self.factor_genres, optimize=True,
        )  # fmt: skip
        full = self.prior[None] + self.user_offset[:, None, None] + inter
        return np.clip(full, 0.0, 10.0).astype(np.float32)


def population_prior(
    values: np.ndarray, weights: np.ndarray, shrink: float, anchor: np.ndarray | None = None
) -> np.ndarray:
    """Weighted mean per (mood, genre), shrunk toward the genre mean, then the global mean;
    or, given an ``anchor`` (E, G) such as the shipped population prior, toward it: a build
    of one household should not take its own average for everyone's."""
    if anchor is not None:
        num = (weights * values).sum(axis=0) + shrink * anchor
        return np.clip(num / (weights.sum(axis=0) + shrink), 0.0, 10.0).astype(np.float32)
    total = weights.sum()
    if total <= 0:
        return np.full(values.shape[1:], 5.0, dtype=np.float32)
    glob = (weights * values).sum() / total
    w_g = weights.sum(axis=(0, 1))
    genre = ((weights * values).sum(axis=(0, 1)) + shrink * glob) / (w_g + shrink)
    w_eg = weights.sum(axis=0)
    prior = ((weights * values).sum(axis=0) + shrink * genre[None]) / (w_eg + shrink)
    return np.clip(prior, 0.0, 10.0).astype(np.float32)


class _Problem:
    """Loss and gradient of equation 4 over a flat parameter vector.

    The (users x 28) data, weights and the two work buffers are float32 and reused: at 1M
    users one evaluation then moves half the bytes and allocates nothing big (measured 0.81
    -> 0.39 s per evaluation); sums over users are taken in float64."""

    def __init__(self, resid: np.ndarray, weights: np.ndarray, cfg: TuckerConfig) -> None:
        n, e, g = resid.shape
        self.du, self.de, self.dg = cfg.ranks
        self.n, self.e, self.g = n, e, g
        self.x = np.ascontiguousarray(resid.reshape(n, e * g), dtype=np.float32)
        self.w = np.ascontiguousarray(weights.reshape(n, e * g), dtype=np.float32)
        self.diff = np.empty_like(self.x)
        self.err = np.empty_like(self.x)
        self.cfg = cfg
        self.sizes = [n * self.du, e * self.de, g * self.dg, self.du * self.de * self.dg]

    def unpack(self, flat: np.ndarray):
        parts = np.split(flat, np.cumsum(self.sizes)[:-1])
        return (
            parts[0].reshape(self.n, self.du),
            parts[1].reshape(self.e, self.de),
            parts[2].reshape(self.g, self.dg),
            parts[3].reshape(self.du, self.de, self.dg),
        )

    def mixing(self, e: np.ndarray, m: np.ndarray, core: np.ndarray) -> np.ndarray:
        """(du, E*G): core x_2 E x_3 M, so that predictions are U @ mixing."""
        return np.einsum("abc,jb,kc->ajk", core, e, m, optimize=True).reshape(self.du, -1)

    def loss_grad(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        u, e, m, core = self.unpack(flat)
        mix = self.mixing(e, m, core)
        u32, mix32 = u.astype(np.float32), mix.astype(np.float32)
        diff, err = self.diff, self.err
        np.matmul(u32, mix32, out=diff)
        diff -= self.x
        np.multiply(diff, self.w, out=err)
        l1, l2 = self.cfg.l1, self.cfg.l2
        loss = 0.5 * float(np.einsum("ij,ij->i", err, diff).sum(dtype=np.float64))
        loss += 0.5 * l1 * float((core**2).sum())
        loss += 0.5 * l2 * float((u**2).sum() + (e**2).sum() + (m**2).sum())
        g_u = (err @ mix32.T).astype(np.float64) + l2 * u
        g_mix = (u32.T @ err).astype(np.float64).reshape(self.du, self.e, self.g)
        g_core = np.einsum("ajk,jb,kc->abc", g_mix, e, m, optimize=True) + l1 * core
        g_e = np.einsum("ajk,abc,kc->jb", g_mix, core, m, optimize=True) + l2 * e
        g_m = np.einsum("ajk,abc,jb->kc", g_mix, core, e, optimize=True) + l2 * m
        grad = np.concatenate([g_u.ravel(), g_e.ravel(), g_m.ravel(), g_core.ravel()])
        return loss, grad


class _EarlyStop:
    """Held-out RMSE after each iteration, predicted for the held-out entries only."""

    def __init__(self, problem: _Problem, held: np.ndarray, patience: int) -> None:
        self.problem, self.patience = problem, patience
        self.rows, self.cols = np.divmod(np.sort(held), problem.e * problem.g)
        self.truth = problem.x[self.rows, self.cols].astype(np.float64)
        self.best, self.best_iter, self.iter = np.inf, 0, 0

    def __call__(self, intermediate_result) -> None:
        self.iter += 1
        u, e, m, core = self.problem.unpack(intermediate_result.x)
        mix = self.problem.mixing(e, m, core)
        pred = np.einsum("ia,ai->i", u[self.rows], mix[:, self.cols])
        rmse = float(np.sqrt(np.mean((pred - self.truth) ** 2)))
        if rmse < self.best - 1e-6:
            self.best, self.best_iter = rmse, self.iter
        elif self.iter - self.best_iter >= self.patience:
            raise StopIteration


def _minimise(problem: _Problem, x0: np.ndarray, max_iter: int, callback=None) -> np.ndarray:
    result = minimize(
        problem.loss_grad, x0, jac=True, method="L-BFGS-B", callback=callback,
        options={"maxiter": max(1, max_iter), "maxcor": 20},
    )  # fmt: skip
    return result.x


def fit_tucker(
    values: np.ndarray,
    observed: np.ndarray,
    evidence: np.ndarray,
    cfg: TuckerConfig,
    anchor: np.ndarray | None = None,
) -> TuckerModel:
    """Fit on observed entries of ``values`` (U, E, G); ``evidence`` gives the weights;
    ``anchor`` is what the prior is shrunk toward (``population_prior``)."""
    rng = np.random.default_rng(cfg.seed)
    weights = np.where(observed, evidence / (evidence + cfg.k0), 0.0)
    prior = population_prior(values, weights, cfg.shrink, anchor)
    dev = np.where(observed, values - prior[None], 0.0)
    user_offset = (weights * dev).sum(axis=(1, 2)) / (weights.sum(axis=(1, 2)) + cfg.shrink)
    resid = np.where(observed, dev - user_offset[:, None, None], 0.0)
    n, e, g = values.shape
    du, de, dg = cfg.ranks
    x0 = np.concatenate([
        0.1 * rng.standard_normal(n * du), 0.5 * rng.standard_normal(e * de),
        0.5 * rng.standard_normal(g * dg), 0.1 * rng.standard_normal(du * de * dg),
    ])  # fmt: skip
    iterations, holdout_rmse = cfg.max_iter, float("nan")
    obs_idx = np.flatnonzero(observed.reshape(n, e * g))
    n_hold = int(cfg.holdout * obs_idx.size)
    if n_hold >= 10:
        held = rng.choice(obs_idx, size=n_hold, replace=False)
        problem = _Problem(resid, weights, cfg)
        problem.w.reshape(-1)[held] = 0.0
        stop = _EarlyStop(problem, held, cfg.patience)
        _minimise(problem, x0, cfg.max_iter, stop)
        iterations, holdout_rmse = max(stop.best_iter, 1), stop.best
        log.info("tucker: best held-out RMSE %.3f at iteration %d", stop.best, stop.best_iter)
        del problem, stop
    problem = _Problem(resid, weights, cfg)
    flat = _minimise(problem, x0, iterations)
    u, em, m, core = problem.unpack(flat)
    return TuckerModel(
        prior=prior,
        user_offset=user_offset.astype(np.float32),
        core=core.astype(np.float32),
        factor_users=u.astype(np.float32),
        factor_moods=em.astype(np.float32),
        factor_genres=m.astype(np.float32),
        iterations=iterations,
        holdout_rmse=holdout_rmse,
    )
