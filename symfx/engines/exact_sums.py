"""Sums of library terms whose coefficients are exact: a beam ranked by the error after rounding.

The beam of ``basis.beam_search`` ranks subsets by their least-squares error on the network. A
network 0.3-3 % off its law is fitted better by many mimics than by the law's own terms, so the
law's subset is often not among the few that get snapped: from a 0.3 % network of ``cosh(x0)`` on
[-1, 1], 16 pairs (``x0**2 + exp(-3*x0**2/2)``, ...) fit better than {exp(x0), exp(-x0)}, whose
least-squares coefficients are 0.5001 and 0.5002; from a 1 % network of
``x0 - x2 + x3**2 + x1/x0 + 3/4`` the best 5-term fit is ``-0.084*x0*x1 + x0 + 0.6*x1 - x2 + ...``.
What sets the law apart is that its coefficients round to exact values (``basis.EXACT_GRIDS``:
integers, halves, thirds, numerators below ``basis.MAX_EXACT_NUMERATOR``) at no cost.

:func:`exact_sums` scores subsets by the error after rounding all their coefficients to that grid
(the "rounded RSS"), in closed form from Gram products, many subsets at once:

1. every pair of the few-node terms (``basis.few_node_terms``), exhaustively;
2. from the best rounded pairs and the caller's seeds (the free beam's best subsets), one term
   added or one term swapped for any few-node term, twice; a coefficient that rounds to 0 drops
   its term (the free beam's ``x0*x1`` and ``x1`` make way for ``x1/x0``).

The best subsets of each size are refitted on all rows and rounded; the intercept is fitted, then
snapped with ``snap.nice_values`` (0.7527 is ``3/4``).

"Best" is by two rankings, at every step (the pairs, each move's proposals and pool, the subsets
kept): the rounded RSS, and the knee rule's own score of the rounded sum (``ln e + KNEE_RATE *
written size``, the size from the terms' nodes and which coefficients are not 1). A network's
error lets many sums of compound terms with exact (integer) coefficients fit it better than the
law's short sum: from a 1.5 % network of ``2*x0 + sin(x0)`` on [1, 3], 55 pairs such as
``27*tanh(sqrt(x0)) - 37*tanh(tanh(x0))``. Ranked by error alone the law was never kept; the knee
rule, which decides in the end, prefers it.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import sympy

from ..lowering import complexity
from .base import KNEE_FLOOR, KNEE_RATE
from .basis import EXACT_GRIDS, MAX_EXACT_NUMERATOR, LinearFit, Term, few_node_terms

#: subsets kept per size (the best by rounded error): each is refitted on all rows and rounded
KEEP_PER_SIZE = 3
#: rounds of add/swap moves from the best pairs and the seeds
MOVES = 2
#: besides those, this many subsets of each size are kept by the knee rule's own score (below)
KNEE_KEEP = 2


def exact_sums(
    terms: Sequence[Term], y: np.ndarray, allowed_mse: float, seeds: Sequence[Sequence[int]] = (),
    max_terms: int = 4, beam: int = 8, rows: int = 512, seed: int = 0, deadline: float = math.inf,
    few: Sequence[int] | None = None,
) -> list[LinearFit]:
    """Sums of up to ``max_terms`` of ``terms`` with exact coefficients and an error within
    ``allowed_mse`` (on all rows), at most ``KEEP_PER_SIZE`` of each size, best first.

    ``seeds`` are subsets (indices into ``terms``) to start the moves from besides the best exact
    pairs; ``few`` the few-node terms (by default ``basis.few_node_terms``). At ``deadline`` (``time.perf_counter()``) the moves stop; what was found is returned.
    """
    few = few_node_terms(terms) if few is None else list(few)
    seeds = [tuple(s) for s in seeds if 0 < len(s) <= max_terms + 1]
    cols = sorted(set(few) | {i for s in seeds for i in s})
    if len(cols) < 2:
        return []
    local = {g: k for k, g in enumerate(cols)}
    n = len(y)
    idx = np.random.default_rng(seed).choice(n, rows, replace=False) if n > rows else np.arange(n)
    with np.errstate(all="ignore"):  # columns as large as exp(x0**3) on [2, 5] are kept unit-norm
        T = np.stack([terms[i].values[idx] for i in cols], axis=1)
        T = T - T.mean(axis=0)
        scale = np.linalg.norm(T, axis=0)
        usable = np.isfinite(scale) & (scale > 0)
        T = np.where(usable, T / np.where(usable, scale, 1.0), 0.0)
    scale = np.where(usable, scale, 1.0)
    yc = y[idx] - y[idx].mean()
    movable = np.zeros(len(cols), dtype=bool)
    movable[[local[i] for i in few]] = True
    nodes = np.array([complexity(terms[i].expr) for i in cols], dtype=float)
    scores: dict[frozenset[int], float] = {}  # rounded RSS (sample rows) of every subset scored
    knees: dict[frozenset[int], float] = {}  # ... and its knee score (_knee)
    pool = _best_pairs(T, yc, scale, usable & movable, beam, scores, nodes, knees)
    pool += [tuple(local[i] for i in s) for s in seeds]
    for _ in range(MOVES):
        proposals: dict[frozenset[int], float] = {}
        for subset in dict.fromkeys(pool):
            if time.perf_counter() > deadline:
                break
            bases = [subset] if len(subset) < max_terms else []
            bases += [tuple(i for i in subset if i != drop) for drop in subset] if len(subset) > 1 else []
            for base in bases:
                rounded, knee = _rounded_extensions(T, yc, scale, usable & movable, base, nodes)
                for m in dict.fromkeys([*np.argsort(rounded)[:beam], *np.argsort(knee)[:beam]]):
                    if np.isfinite(rounded[m]):
                        key = frozenset(base + (int(m),))
                        proposals.setdefault(key, float(rounded[m]))
                        knees.setdefault(key, float(knee[m]))
        scores.update(proposals)
        by_knee = sorted(proposals, key=lambda k: knees[k])[:beam]
        pool = [tuple(sorted(k)) for k in dict.fromkeys([*sorted(proposals, key=proposals.get)[:2 * beam], *by_knee])]
    limit = allowed_mse * len(idx)
    by_size: dict[int, list[tuple[float, frozenset[int]]]] = {}
    for key, rss in scores.items():
        if rss <= limit:  # a seed's size + 1 at most: terms rounded to 0 drop out in the refit
            by_size.setdefault(len(key), []).append((rss, key))
    out: list[LinearFit] = []
    seen: set[frozenset[int]] = set()
    for size in sorted(by_size):
        # the best by error, then the best by knee score: from a 1.5 % network of 2*x0 + sin(x0) on
        # [1, 3], 55 pairs of compound terms with integer coefficients (27*tanh(sqrt(x0)) -
        # 37*tanh(tanh(x0))) fit better than {x0, sin(x0)}, whose rounded fit the knee prefers
        for ranking, keep in ((lambda p: p[0], KEEP_PER_SIZE), (lambda p: knees.get(p[1], math.inf), KNEE_KEEP)):
            kept = 0
            for _, key in sorted(by_size[size], key=ranking):
                if kept == keep:
                    break
                fit = _rounded_fit(terms, [cols[k] for k in sorted(key)], y, allowed_mse)
                if fit is None:
                    continue
                support = frozenset(id(t) for t in fit.terms)
                if support not in seen:
                    seen.add(support)
                    out.append(fit)
                    kept += 1
    return out


def _knee(rss: np.ndarray, yc: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The knee rule's score (``base.knee_score``) of rounded sums from their RSS on the sample rows
    and their written size: the searches feed that rule, and ranked by error alone they drop a
    short exact law for the many exact-coefficient mimics a network's own error lets fit better."""
    nrmse = np.sqrt(np.maximum(rss, 0.0) / max(float(yc @ yc), 1e-300))
    return np.log(np.maximum(nrmse, KNEE_FLOOR)) + KNEE_RATE * size


def _written(raw: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Readable size of ``raw * term`` (``base.readable_size``): the term's nodes, two more (the
    product and its constant) unless the coefficient is 1."""
    return nodes + 2.0 * (np.abs(raw - 1.0) > 1e-9)


def _round(c: np.ndarray, grid: float, scale: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``c`` of unit-norm columns (``scale`` their norms before) rounded on the raw
    columns' grid, back on the unit-norm scale; and where that is no exact coefficient."""
    raw = np.round(c / scale * grid) / grid
    return raw * scale, np.abs(raw * grid) >= MAX_EXACT_NUMERATOR


def _best_pairs(T: np.ndarray, yc: np.ndarray, scale: np.ndarray, usable: np.ndarray, k: int,
                scores: dict[frozenset[int], float], nodes: np.ndarray,
                knees: dict[frozenset[int], float]) -> list[tuple[int, ...]]:
    """The ``k`` pairs of usable (unit-norm) columns with the smallest rounded RSS and the ``k`` with
    the best knee score (``nodes``: each column's term size), scored exhaustively (all pairs' 2x2
    normal equations solved at once); their scores go to ``scores`` and ``knees``."""
    ids = np.flatnonzero(usable)
    if len(ids) < 2:
        return []
    A = T[:, ids]
    G = A.T @ A
    b = A.T @ yc
    s = scale[ids]
    det = 1.0 - G * G
    valid = np.triu(det > 1e-9, 1)
    # collinear pairs (the diagonal; x0 and sqrt(x0**2) on a positive box) get det 1: their
    # scores are masked below, and infinite coefficients would warn about inf - inf to the user
    det = np.where(valid, det, 1.0)
    ci = (b[:, None] - b[None, :] * G) / det
    cj = (b[None, :] - b[:, None] * G) / det
    best = np.full(G.shape, np.inf)
    knee = np.full(G.shape, np.inf)
    n = nodes[ids]
    for grid in EXACT_GRIDS:
        ri, bad_i = _round(ci, grid, s[:, None])
        rj, bad_j = _round(cj, grid, s[None, :])
        rss = float(yc @ yc) - 2 * (ri * b[:, None] + rj * b[None, :]) + ri * ri + 2 * ri * rj * G + rj * rj
        ok = valid & ~bad_i & ~bad_j & (ri != 0) & (rj != 0)
        best = np.where(ok, np.minimum(best, rss), best)
        size = 1.0 + _written(ri / s[:, None], n[:, None]) + _written(rj / s[None, :], n[None, :])
        knee = np.where(ok, np.minimum(knee, _knee(rss, yc, size)), knee)
    out = []
    for f in dict.fromkeys([*np.argsort(best, axis=None)[:k], *np.argsort(knee, axis=None)[:k]]):
        i, j = np.unravel_index(f, best.shape)
        if np.isfinite(best[i, j]):
            pair = (int(ids[i]), int(ids[j]))
            scores[frozenset(pair)] = float(best[i, j])
            knees[frozenset(pair)] = float(knee[i, j])
            out.append(pair)
    return out


def _rounded_extensions(T: np.ndarray, yc: np.ndarray, scale: np.ndarray, usable: np.ndarray,
                        subset: tuple[int, ...], nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every (unit-norm) column m: the RSS of ``subset + (m,)`` with all coefficients rounded
    to the exact grid of the raw columns (``scale``: their norms); inf where m is unusable, in the
    subset, or rounds to 0 (a subset term that rounds to 0 drops out). And the best knee score of
    those roundings (:func:`_knee`; ``nodes``: each column's term size).

    With ``A`` the subset's columns (QR: ``Q R``) and ``r`` its residual, adding column ``t``
    gives it the coefficient ``beta = t.r / |t - Q Q^T t|^2`` and shifts the others by
    ``-beta R^-1 Q^T t``; the rounded coefficients' RSS is ``|y|^2 - 2 c.b + c^T G c`` with the
    Gram products of ``[A, t]``: all columns at once, no solve per column.
    """
    k = len(subset)
    r, rem = yc, np.ones(T.shape[1])
    if k:
        A = T[:, list(subset)]
        Q, R = np.linalg.qr(A)
        if np.min(np.abs(np.diag(R))) < 1e-9:
            return np.full(T.shape[1], np.inf)  # collinear subset
        P = Q.T @ T  # k x M
        R_inv = np.linalg.inv(R)  # k x k: one small inverse is cheaper than triangular solves on k x M
        base = R_inv @ (Q.T @ yc)
        shift = R_inv @ P  # R^-1 Q^T t
        r = yc - Q @ (Q.T @ yc)
        rem = 1.0 - np.einsum("ij,ij->j", P, P)
        H = A.T @ T
        GSS = A.T @ A
        bS = A.T @ yc
        sS = scale[list(subset)][:, None]
    ok = usable & (rem > 1e-9)
    if k:
        ok[list(subset)] = False
    with np.errstate(all="ignore"):
        beta = np.where(ok, (T.T @ r) / np.where(ok, rem, 1.0), 0.0)
    bm = T.T @ yc
    out = np.full(T.shape[1], np.inf)
    knee = np.full(T.shape[1], np.inf)
    for grid in EXACT_GRIDS:
        cm, bad = _round(beta, grid, scale)
        bad |= ~ok | (cm == 0)
        quad = cm * cm
        lin = cm * bm
        size = 1.0 + _written(cm / scale, nodes)
        if k:
            cS, bad_S = _round(base[:, None] - beta[None, :] * shift, grid, sS)
            bad |= np.any(bad_S, axis=0)
            quad = quad + np.einsum("im,im->m", cS, GSS @ cS) + 2 * cm * np.einsum("im,im->m", cS, H)
            lin = lin + bS @ cS
            size = size + np.sum(_written(cS / sS, nodes[list(subset)][:, None]), axis=0)
        rss = float(yc @ yc) - 2 * lin + quad
        out = np.where(bad, out, np.minimum(out, rss))
        knee = np.where(bad, knee, np.minimum(knee, _knee(rss, yc, size)))
    return out, knee


def _rounded_fit(terms: Sequence[Term], subset: list[int], y: np.ndarray, allowed_mse: float) -> LinearFit | None:
    """The subset refitted on all rows, its coefficients rounded to the coarsest exact grid that
    stays within ``allowed_mse``, the intercept refitted and snapped to the simplest nice value that
    costs at most 10 % in RMSE. Terms whose coefficient rounds to 0 are dropped and the rest refitted
    (collinear terms share a coefficient: without ``x1``, ``x1/x0`` takes its exact 1)."""
    from .snap import nice_values  # snap imports basis; this module is imported by operon only

    subset = list(subset)
    while subset:
        A = np.column_stack([terms[i].values for i in subset])
        coef, *_ = np.linalg.lstsq(np.column_stack([A, np.ones_like(y)]), y, rcond=None)
        c, bad = _round(coef[:-1], EXACT_GRIDS[-1])
        if not c.all():  # zero on the finest grid: zero on every grid
            subset = [i for i, v in zip(subset, c) if v != 0]
            continue
        for grid in EXACT_GRIDS:
            c, bad = _round(coef[:-1], grid)
            if not c.all() or bad.any():
                continue
            residual = y - A @ c
            intercept = float(np.mean(residual))
            mse = float(np.mean((residual - intercept) ** 2))
            if mse > allowed_mse:
                continue
            limit = min(allowed_mse, 1.21 * mse + 1e-6 * float(np.var(y)))
            exact_intercept = None
            for value in nice_values(intercept, reciprocals=False):
                if float(np.mean((residual - float(value)) ** 2)) <= limit:
                    exact_intercept, intercept = value, float(value)
                    break
            mse = float(np.mean((residual - intercept) ** 2))
            exact = tuple(sympy.Rational(int(round(v * grid)), int(grid)) for v in c)
            return LinearFit(tuple(terms[i] for i in subset), c, intercept, mse, exact + (exact_intercept,))
        return None
    return None
