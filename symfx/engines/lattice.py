"""Polynomials with exact coefficients by integer least squares (closest lattice vectors).

:func:`families.exact_polynomials` rounds each least-squares coefficient down or up. On nearly
collinear monomials that misses the law: a network's error moves the coefficients by more than
one step. From a 0.09 %-network of ``x0**9 + x0**8 + ... + x0`` on [-1, 1] the degree-9
least-squares coefficients are 0.98, 0.98, 1.24, 1.11, 0.06, 0.79, 2.35, 1.12, 0.36, and rounding
them is 14 % off the network. The integer vector closest to the data in the design matrix's own
metric is the law itself, 0.1 % off.

:func:`closest_integer_vectors` finds the few closest integer vectors ``k`` to ``y`` under
``||y - A k||`` by Schnorr-Euchner enumeration over the LLL-reduced QR factor of ``A`` (depth-first,
each level's values tried outward from its conditional centre, pruned by the k-th best distance
so far). :func:`integer_polynomials` decodes the full monomial set of the inputs at each degree
(integers, halves and thirds: ``basis.EXACT_GRIDS``); a degree above the law's decodes its extra
monomials to 0.
"""
from __future__ import annotations

import itertools
import math
import time
from typing import Sequence

import numpy as np
import sympy

from .basis import EXACT_GRIDS, MAX_EXACT_NUMERATOR, Base, LinearFit, Term, polynomial_terms

#: the monomial sets decoded: at most this many columns, at most this degree (one input: 1-10,
#: two inputs: 1-4, three or four: 1-2, five: 1)
MAX_COLUMNS = 15
MAX_DEGREE = 10
#: enumeration nodes per decode (a safety net: on a reduced basis the measured decodes took < 100)
MAX_NODES = 5_000
#: Laurent sets: at most this many columns, and numerators at most this: a dense set's nearly
#: vanishing integer combinations have large coefficients, and added to a law they give vectors
#: as close to a 0.3 %-network as the law (``46*x0/x1 - 38*x0/x1**2 + 125/x1 ...``)
LAURENT_COLUMNS = 24
LAURENT_MAX_COEF = 12
#: closest vectors kept per decode (those with a numerator of 100 or more are dropped after)
KEEP = 8


def reduce_basis(R: np.ndarray, delta: float = 0.99, max_swaps: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """LLL reduction of the columns of ``R``: ``(R @ U, U)`` with ``U`` unimodular (integer, det ±1).

    The enumeration below walks a tree whose width at each level is the span of that level's
    values; on a raw monomial basis (``x0**k`` on [0.5, 1.8]) most of the tree lies inside the
    bound while no leaf does (30 000 nodes, 0.15 s, for nothing), on a reduced one it is a few
    dozen nodes. Gram-Schmidt comes from a QR of the (small, square) basis at each step.
    """
    B, n = R.astype(np.float64).copy(), R.shape[1]
    U = np.eye(n)
    k, swaps = 1, 0
    while k < n and swaps < max_swaps:
        G = np.linalg.qr(B)[1]  # mu[k, j] = G[j, k] / G[j, j]
        for j in range(k - 1, -1, -1):
            q = round(G[j, k] / G[j, j])
            if q:
                B[:, k] -= q * B[:, j]
                U[:, k] -= q * U[:, j]
                G[:, k] -= q * G[:, j]
        if G[k, k] ** 2 >= (delta - (G[k - 1, k] / G[k - 1, k - 1]) ** 2) * G[k - 1, k - 1] ** 2:
            k += 1
        else:  # Lovasz condition fails: swap and step back
            B[:, [k - 1, k]] = B[:, [k, k - 1]]
            U[:, [k - 1, k]] = U[:, [k, k - 1]]
            k, swaps = max(k - 1, 1), swaps + 1
    return B, U


def closest_integer_vectors(A: np.ndarray, y: np.ndarray, keep: int = KEEP, max_sq: float = math.inf,
                            max_nodes: int = MAX_NODES, max_coef: float = math.inf) -> list[tuple[float, np.ndarray]]:
    """The ``keep`` integer vectors ``k`` with the smallest ``||y - A k||**2`` (below ``max_sq``),
    closest first, as ``(squared distance, k)``. Stops after ``max_nodes`` enumeration nodes with
    what it has (the first complete vector is Babai's rounding in the reduced basis)."""
    n = A.shape[1]
    if A.shape[0] < n:
        return []  # fewer rows than columns (a tiny calibration set): integer vectors are not unique
    Q, R = np.linalg.qr(A)
    z = Q.T @ y
    outside = float(y @ y - z @ z)  # the part of y no combination of A's columns reaches
    scale = np.abs(np.diag(R))
    if n == 0 or np.any(scale < 1e-12 * max(1.0, float(np.max(scale)))):
        return []  # dependent columns: integer vectors are not unique
    reduced, U = reduce_basis(R)
    Q, R = np.linalg.qr(reduced)
    z = Q.T @ z
    diag = np.diag(R)
    best: list[tuple[float, np.ndarray]] = []
    bound = [max_sq - outside]
    vec = np.zeros(n)
    nodes = [0]

    def descend(i: int, dist: float) -> None:
        centre = (z[i] - R[i, i + 1:] @ vec[i + 1:]) / diag[i]
        nearest = math.floor(centre + 0.5)
        offset = 0
        while nodes[0] < max_nodes:
            values = (nearest,) if offset == 0 else (nearest + offset, nearest - offset)
            if min(dist + diag[i] ** 2 * (v - centre) ** 2 for v in values) >= bound[0]:
                break  # every value further out is further still
            for v in values:
                d = dist + diag[i] ** 2 * (v - centre) ** 2
                if d >= bound[0]:
                    continue
                nodes[0] += 1
                vec[i] = v
                if i == 0:
                    k = np.rint(U @ vec)
                    if np.max(np.abs(k)) > max_coef:
                        continue
                    best.append((d + outside, k))
                    best.sort(key=lambda t: t[0])
                    del best[keep:]
                    if len(best) == keep:
                        bound[0] = best[-1][0] - outside
                else:
                    descend(i - 1, d)
            offset += 1
        vec[i] = 0.0

    descend(n - 1, 0.0)
    return best


def integer_polynomials(bases: Sequence[Base], y: np.ndarray, allowed_mse: float, rows: int = 1000,
                        weights: np.ndarray | None = None, deadline: float = math.inf) -> list[LinearFit]:
    """Polynomials of the original inputs whose coefficients are all integers, halves or thirds
    (and the intercept too), within ``allowed_mse`` of ``y``: the closest integer vectors of each
    full monomial set up to ``MAX_COLUMNS`` columns and degree ``MAX_DEGREE``, then of the Laurent
    set (:func:`laurent_terms`), on ``rows`` evenly spaced rows. With ``weights``, row ``i``'s
    residual counts ``weights[i]`` times."""
    originals = [b for b in bases if not b.derived]
    step = max(1, len(y) // rows)
    w = np.ones(len(y[::step])) if weights is None else np.asarray(weights[::step], dtype=np.float64)
    found: dict[sympy.Expr, LinearFit] = {}
    degrees = [d for d in range(1, MAX_DEGREE + 1) if math.comb(len(originals) + d, d) - 1 <= MAX_COLUMNS]
    monomials = polynomial_terms(originals, degree=degrees[-1]) if degrees else []  # built once, cut per degree
    degree_of = [sum(sympy.degree_list(t.expr)) for t in monomials]
    for degree in degrees:
        if time.perf_counter() > deadline:
            break
        _decode([t for t, d in zip(monomials, degree_of) if d <= degree], y, step, w, allowed_mse, math.inf, found)
    laurent = laurent_terms(originals)
    if laurent and time.perf_counter() < deadline:
        _decode(laurent, y, step, w, allowed_mse, LAURENT_MAX_COEF, found)
    return sorted(found.values(), key=lambda f: f.mse)


def laurent_terms(originals: Sequence[Base]) -> list[Term]:
    """Monomials with exponents -2 .. 2 of each input (negative ones only where the input keeps away
    from 0), at least one negative, of total degree (sum of |exponents|) up to the largest that
    keeps the set within ``LAURENT_COLUMNS`` with the plain monomials beside them."""
    away = [bool(np.min(np.abs(b.values)) > 1e-3 * np.max(np.abs(b.values))) for b in originals]
    if not any(away):
        return []
    exponents = list(itertools.product(*[range(-2 if a else 0, 3) for a in away]))
    chosen: list[tuple[int, ...]] = []
    for degree in range(1, 4):
        within = [e for e in exponents if 0 < sum(map(abs, e)) <= degree]
        if len(within) > LAURENT_COLUMNS:
            break
        chosen = within
    if not any(min(e) < 0 for e in chosen):
        return []
    out = []
    with np.errstate(all="ignore"):
        for e in chosen:
            values = np.prod([b.values ** float(p) for b, p in zip(originals, e) if p], axis=0)
            if np.all(np.isfinite(values)):
                out.append(Term(sympy.Mul(*[b.expr**p for b, p in zip(originals, e) if p]), values))
    return out


def _decode(terms: Sequence[Term], y: np.ndarray, step: int, w: np.ndarray, allowed_mse: float, max_coef: float,
            found: dict[sympy.Expr, LinearFit], grids: Sequence[float] = EXACT_GRIDS,
            max_nodes: int = MAX_NODES) -> None:
    """Add to ``found`` the closest exact combinations of ``terms`` on every ``step``-th row (row
    weights ``w``), for each grid of ``grids``, numerators at most ``max_coef``, each decode
    stopped after ``max_nodes`` enumeration nodes."""
    yw = y[::step] * w
    with np.errstate(all="ignore"):
        A = np.column_stack([t.values[::step] for t in terms]) * w[:, None]
    if not np.all(np.isfinite(A)):
        return
    # the intercept is free while decoding: project the weight column out of A and y
    A_free = A - np.outer(w, w @ A) / (w @ w)
    y_free = yw - w * (w @ yw) / (w @ w)
    for grid in grids:
        for _, k in closest_integer_vectors(A_free / grid, y_free, max_sq=allowed_mse * len(yw), max_coef=max_coef,
                                           max_nodes=max_nodes):
            coefs = k / grid
            if not coefs.any():
                continue
            intercept = round(float(w @ (yw - A @ coefs)) / float(w @ w) * grid) / grid
            mse = float(np.mean((yw - A @ coefs - w * intercept) ** 2))
            if mse > allowed_mse or max(np.max(np.abs(k)), abs(intercept * grid)) >= MAX_EXACT_NUMERATOR:
                continue  # not a small exact coefficient: a mimic's (see basis.MAX_EXACT_NUMERATOR)
            nz = np.flatnonzero(coefs)
            exact = tuple(sympy.Rational(int(k[j]), int(grid)) for j in nz)
            fit = LinearFit(tuple(terms[j] for j in nz), coefs[nz], intercept, mse,
                            exact + (sympy.Rational(int(round(intercept * grid)), int(grid)),))
            found.setdefault(fit.expr(), fit)
