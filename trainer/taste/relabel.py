"""Mood relabelling by EM: each post's true mood given its text and the genres played
around it (a per-user latent-class model), for the list-based and the columnar build alike.

Each user has a mood mix ``pi[u, e]`` (pseudo-count ``beta`` per mood) and a genre
distribution per mood ``theta[u, e]`` (``alpha`` pseudo-plays of the population's), and
all plays around one post share its mood; so a session that fits the user's sad listening
far better than their angry one moves an unsure "angry" post toward sad. The text's
probabilities come from classifiers fitted class-balanced, so they carry no corpus's mood
mix and serve as P(text | mood) up to a constant (a one-hot row keeps a post's mood fixed).

Why numba: the E and M steps are one pass over the posts with 28 products each. In numpy
they gathered a (posts x moods x genres) array per step: 9 s a step for 20M posts, 277 s
of a 1M-person build. Compiled loops read each post once and allocate nothing per post.
Compiled on first use in a process (no on-disk cache: a second or so, and no cache files
for concurrent builds to race on, see ``device.shared.jit_cache``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True)
def _m_step(post_user, resp, plays, per_user, mix):  # pragma: no cover - compiled
    """Per user: the plays around their posts by mood (``per_user``) and the posts' moods
    (``mix``), each post's plays shared by its posterior ``resp``."""
    per_user[:] = 0.0
    mix[:] = 0.0
    for p in range(post_user.shape[0]):
        i = post_user[p]
        for e in range(resp.shape[1]):
            r = resp[p, e]
            mix[i, e] += r
            for g in range(plays.shape[1]):
                per_user[i, e, g] += r * plays[p, g]


@numba.njit(nogil=True)
def _e_step(post_user, text, log_table, log_mix, log_theta, plays, resp):  # pragma: no cover
    """Each post's posterior from its text, its user's mood mix and genres per mood, in
    place; returns the largest change."""
    n_e = resp.shape[1]
    logit = np.empty(n_e)
    change = 0.0
    for p in range(post_user.shape[0]):
        i, k = post_user[p], text[p]
        top = -np.inf
        for e in range(n_e):
            v = log_table[k, e] + log_mix[i, e]
            for g in range(plays.shape[1]):
                v += log_theta[i, e, g] * plays[p, g]
            logit[e] = v
            top = max(top, v)
        total = 0.0
        for e in range(n_e):
            logit[e] = np.exp(logit[e] - top)
            total += logit[e]
        for e in range(n_e):
            new = logit[e] / total
            change = max(change, abs(new - resp[p, e]))
            resp[p, e] = new
    return change


def relabel(
    post_user: np.ndarray,
    table: np.ndarray,
    text: np.ndarray,
    plays: np.ndarray,
    n_users: int,
    alpha: float = 10.0,
    beta: float = 2.0,
    iterations: int = 30,
    tol: float = 1e-3,
) -> np.ndarray:
    """(posts, moods) posterior of each post's mood. ``table[text[p]]`` is the classifier's
    P(mood | text) of post ``p`` (one row per distinct text), ``plays`` the (posts, genres)
    plays that count around it (uint16), ``post_user`` its user (< ``n_users``). EM: M step
    over all posts, then E step, until no posterior moves by ``tol``."""
    n_posts, n_g = plays.shape
    n_e = table.shape[1]
    post_user = np.ascontiguousarray(post_user, dtype=np.int64)
    text = np.ascontiguousarray(text, dtype=np.int64)
    plays = np.ascontiguousarray(plays, dtype=np.uint16)
    log_table = np.log(np.maximum(table, 1e-12))
    resp = table[text]
    resp /= resp.sum(axis=1, keepdims=True)
    per_user = np.empty((n_users, n_e, n_g))
    mix = np.empty((n_users, n_e))
    for _ in range(iterations if n_posts else 0):
        _m_step(post_user, resp, plays, per_user, mix)
        pop = per_user.sum(axis=0) + 1.0
        pop /= pop.sum(axis=1, keepdims=True)
        theta = per_user + alpha * pop[None]
        theta /= theta.sum(axis=2, keepdims=True)
        pi = (mix + beta) / (mix.sum(axis=1, keepdims=True) + n_e * beta)
        change = _e_step(post_user, text, log_table, np.log(pi), np.log(theta), plays, resp)
        if change < tol:
            break
    return resp
