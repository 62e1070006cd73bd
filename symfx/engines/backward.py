"""Backward elimination over a set of terms (the polynomial's monomials): every size's subset,
dropping the least useful term at a time. Split from ``basis.py`` (which re-exports it)."""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from .basis import Term


def backward_subsets(
    terms: Sequence["Term"], y: np.ndarray, min_terms: int = 1, deadline: float = math.inf, exact_up_to: int = 64,
    keep: int = 8,
) -> list[tuple[int, ...]]:
    """Backward elimination from all ``terms``: drop the least useful one at a time, every size kept.

    The beam grows sets from good single terms, so it misses laws whose terms are useless one by
    one (``x0 + x1 + x2 + x3``); starting from the full polynomial finds those.

    Up to ``exact_up_to`` terms every step re-solves least squares for each candidate drop (the
    reference behaviour). Larger sets (e.g. the 560 degree-2 monomials of 32 inputs) are first cut
    down by the same criterion computed from the inverse Gram matrix, updated by a rank-one downdate
    per step (O(p²) instead of p solves). At ``deadline`` (``time.perf_counter()``) the remaining
    terms are cut to the ``keep`` largest contributions at once and the exact steps finish from there.
    """
    if not terms:
        return []
    if len(y) > 1024:  # ranking the eliminations needs only enough rows; the final fit uses all
        rows = np.random.default_rng(0).choice(len(y), 1024, replace=False)
        y = y[rows]
        A = np.column_stack([t.values[rows] for t in terms] + [np.ones_like(y)])
    else:
        A = np.column_stack([t.values for t in terms] + [np.ones_like(y)])
    active = list(range(len(terms)))
    out = [tuple(active)]
    if len(active) > exact_up_to:
        active = _gram_eliminate(A[:, :-1], y, active, max(min_terms, exact_up_to // 2), keep, deadline, out)
    while len(active) > min_terms:
        if time.perf_counter() > deadline and len(active) > keep:
            active = _cut(A, y, active, keep)
            out.append(tuple(active))
            continue
        best = None
        for k in active:
            cols = [i for i in active if i != k] + [len(terms)]
            coef, *_ = np.linalg.lstsq(A[:, cols], y, rcond=None)
            rss = float(np.sum((A[:, cols] @ coef - y) ** 2))
            if best is None or rss < best[0]:
                best = (rss, k)
        active.remove(best[1])
        out.append(tuple(active))
    return out


def _cut(A: np.ndarray, y: np.ndarray, active: list[int], keep: int) -> list[int]:
    """The ``keep`` terms of ``active`` with the largest standardized least-squares contributions."""
    X = A[:, active]
    X = X - X.mean(axis=0)
    scale = np.linalg.norm(X, axis=0)
    X = X / np.where(scale > 0, scale, 1.0)
    coef, *_ = np.linalg.lstsq(X, y - y.mean(), rcond=None)
    order = np.argsort(-np.abs(coef))[:keep]
    return sorted(active[i] for i in order)


def _gram_eliminate(
    T: np.ndarray, y: np.ndarray, active: list[int], stop: int, keep: int, deadline: float, out: list
) -> list[int]:
    """Backward elimination down to ``stop`` terms by downdating the inverse Gram matrix.

    Dropping term k from a least-squares fit raises the residual sum of squares by
    ``beta_k**2 / Sinv_kk``; after the drop ``Sinv`` and ``beta`` follow from a rank-one update.
    Columns are centred (the intercept) and scaled to unit norm; a tiny ridge keeps ``Sinv`` finite.
    """
    X = T - T.mean(axis=0)
    scale = np.linalg.norm(X, axis=0)
    X = X / np.where(scale > 0, scale, 1.0)
    yc = y - y.mean()
    G = X.T @ X
    G[np.diag_indices_from(G)] += 1e-9
    try:
        S = np.linalg.inv(G)
    except np.linalg.LinAlgError:
        return active
    beta = S @ (X.T @ yc)
    alive = np.ones(len(active), dtype=bool)
    n_alive = len(active)
    while n_alive > stop:
        if time.perf_counter() > deadline:
            kept = np.flatnonzero(alive)
            order = kept[np.argsort(-np.abs(beta[kept]) / np.sqrt(np.maximum(np.diag(S)[kept], 1e-300)))]
            alive[:] = False
            alive[order[:keep]] = True
            n_alive = int(alive.sum())
            out.append(tuple(active[i] for i in np.flatnonzero(alive)))
            break
        d = np.diag(S)
        with np.errstate(all="ignore"):
            cost = np.where(alive, beta * beta / np.maximum(d, 1e-300), np.inf)
        k = int(np.argmin(cost))
        sk = S[:, k].copy()
        beta = beta - sk * (beta[k] / sk[k])
        S -= np.outer(sk, sk) / sk[k]
        alive[k] = False
        S[k, :] = 0.0
        S[:, k] = 0.0
        beta[k] = 0.0
        n_alive -= 1
        out.append(tuple(active[i] for i in np.flatnonzero(alive)))
    return [active[i] for i in np.flatnonzero(alive)]
