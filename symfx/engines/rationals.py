"""Rational laws ``P(x) / Q(x)``: a linearised least-squares fit with a constant in the
denominator (``rational_fits``, saturation laws such as ``2*x0/(1 + x0)``), sparse ratios of
monomials found as a null-space problem for any input count, the shortest supports scored
exhaustively and longer ones by backward elimination (``rational_nullspace``), and exact
denominators (``x + k``, ``x**2 + k``, ``x0 + x1``) as output transforms ``y*Q`` whose numerator
the caller decodes with exact coefficients (``exact_denominators``). Their constants are rough;
the caller (``operon.py``) refits and snaps them.
"""
from __future__ import annotations

import itertools
import math
import time
from typing import Callable, Sequence

import numpy as np
import sympy

from .basis import monomial_degree, number, polynomial_terms
from .lattice import MAX_DEGREE, closest_integer_vectors
from .derived import Base

def rational_fits(bases: Sequence[Base], y: np.ndarray, max_out: int = 6) -> list[sympy.Expr]:
    """Ratios of low-degree polynomials, ``(sum a_k m_k) / (1 + sum b_k m_k)``, for up to 3 inputs.

    Linearised as ``y = sum a_k m_k - y * sum b_k m_k`` (ordinary least squares), pruned by
    backward elimination; the caller refits the survivors properly. Catches saturation laws
    such as ``2*x0/(1 + x0)`` that a sum of terms can only mimic.
    """
    originals = [b for b in bases if not b.derived]
    if not 1 <= len(originals) <= 3:
        return []
    monos = polynomial_terms(originals)
    if len(originals) > 1:
        monos = [m for m in monos if sympy.Poly(m.expr).total_degree() <= 2]
    rows = np.random.default_rng(0).choice(len(y), min(len(y), 1000), replace=False)
    ys = y[rows]
    M = np.column_stack([m.values[rows] for m in monos])
    scored: dict[int, list[tuple[float, tuple[int, ...], tuple[int, ...]]]] = {}
    # numerator: intercept plus up to two monomials; denominator: 1 plus one or two monomials
    for num in itertools.chain.from_iterable(itertools.combinations(range(len(monos)), k) for k in range(3)):
        for den in itertools.chain.from_iterable(itertools.combinations(range(len(monos)), k) for k in (1, 2)):
            A = np.column_stack([np.ones_like(ys)] + [M[:, i] for i in num] + [-ys * M[:, j] for j in den])
            coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
            d = 1 + M[:, list(den)] @ coef[1 + len(num):]
            if np.min(np.abs(d)) < 1e-3:
                continue  # a pole inside the data
            with np.errstate(all="ignore"):
                mse = float(np.mean((A[:, : 1 + len(num)] @ coef[: 1 + len(num)] / d - ys) ** 2))
            if np.isfinite(mse):
                scored.setdefault(len(num) + len(den), []).append((mse, num, den))
    out: list[sympy.Expr] = []
    for size in sorted(scored):
        for mse, num, den in sorted(scored[size])[:2]:
            A = np.column_stack([np.ones_like(y)] + [monos[i].values for i in num] + [-y * monos[j].values for j in den])
            coef, *_ = np.linalg.lstsq(A, y, rcond=None)
            top = number(coef[0]) + sum((number(c) * monos[i].expr for c, i in zip(coef[1:], num)), sympy.Integer(0))
            bottom = 1 + sum((number(c) * monos[j].expr for c, j in zip(coef[1 + len(num):], den)), sympy.Integer(0))
            out.append(top / bottom)
    return out[:max_out]


def _monomials(originals: Sequence[Base], degree: int) -> list[tuple[sympy.Expr, np.ndarray]]:
    """1 and every monomial of the variables up to ``degree``."""
    n = len(originals[0].values)
    out = [(sympy.Integer(1), np.ones(n))]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(len(originals)), d):
            out.append((sympy.Mul(*[originals[i].expr for i in combo]),
                        np.prod([originals[i].values for i in combo], axis=0)))
    return out


#: rational_nullspace: drops whose residual is within this factor of the best one tie
TIE_FACTOR = 1.5
#: rational_nullspace: the highest degree of P and Q. A degree-d/d ratio has twice the freedom of a
#: degree-d polynomial, so beyond cubics it mimics any smooth law (a 1-input degree-6/6 ratio fits
#: exp and sin to the network's error) and its long members are slow to refit
RATIONAL_DEGREE = 3


def _monomial_values(mono: sympy.Expr, originals: Sequence[Base]) -> np.ndarray:
    exps = sympy.Poly(mono, *[b.expr for b in originals]).monoms()[0]
    out = np.ones(len(originals[0].values))
    for b, e in zip(originals, exps):
        if e:
            out = out * b.values**e
    return out


def _eliminate(residual: Callable[[Sequence[int]], tuple[float, np.ndarray]], active: list[int], m: int,
               degree_of: Sequence[int], max_terms: int, deadline: float,
               ) -> list[tuple[float, tuple[int, ...], np.ndarray]]:
    """Backward elimination over the columns ``active`` (P's below ``m``, Q's from ``m``): the best
    support of every size up to ``max_terms``, with its residual and null vector."""
    active = list(active)
    kept: list[tuple[float, tuple[int, ...], np.ndarray]] = []
    while len(active) > 2 and time.perf_counter() < deadline:
        trials = []
        for k in active:
            rest = [i for i in active if i != k]
            if not any(i < m for i in rest) or not any(i >= m for i in rest):
                continue  # a numerator and a denominator term must remain
            trials.append((*residual(rest), k))
        if not trials:
            break
        # P*R/(Q*R) fits as well as P/Q for any common factor R the degree leaves room for, so
        # drops that cost (nearly) nothing tie; of those, drop the highest-degree term first:
        # the common factor goes before the law's own terms
        low = min(t[0] for t in trials)
        ties = [t for t in trials if t[0] <= TIE_FACTOR * low + 1e-12]
        best = max(ties, key=lambda t: (degree_of[t[2]], -t[0]))
        active.remove(best[2])
        if len(active) <= max_terms:
            kept.append((best[0], tuple(sorted(active, key=lambda k: k >= m)), best[1]))
    return kept


#: rational_nullspace: how many of each shape of the shortest supports (1/1, 1/2, 2/1 terms) are kept
SHORT_SUPPORTS = 4


def _shortest_supports(G: np.ndarray, m: int, ok: np.ndarray, keep: int = SHORT_SUPPORTS) -> list[tuple[int, ...]]:
    """The ``keep`` supports of lowest relative residual among every ``P/Q`` of one numerator and
    one or two denominator monomials, and of two numerator monomials over one, scored at once.

    ``G`` is the Gram matrix of the normalised columns ``[P monomials, y * Q monomials]`` (``m``
    each). For ``Q = {a, b}`` and ``P = {p}`` the residual is the smallest root of the 2 x 2
    generalized eigenproblem ``det(S - lam*T) = 0``, ``T`` = ``G[Q, Q]``, ``S`` its Schur complement
    after eliminating ``p``; for ``Q = {q}`` it is ``S / T`` in closed form. ~8 000 supports take
    under a millisecond for twenty monomials.
    """
    usable = np.flatnonzero(ok[:m] & ok[m:])
    if len(usable) < 2:
        return []
    i = usable
    P, Q = G[np.ix_(i, i)], G[np.ix_(m + i, m + i)]  # P's and y*Q's Gram blocks
    C = G[np.ix_(i, m + i)]  # P x Q cross products
    out: list[tuple[int, ...]] = []
    with np.errstate(all="ignore"):
        # one over one: lam = 1 - cos^2 of the angle between the columns
        lam11 = 1.0 - C**2 / (np.diag(P)[:, None] * np.diag(Q)[None, :])
        # one over two: P = {p} (axis 0), Q = {a, b} (axes 1, 2)
        gpp = np.diag(P)[:, None, None]
        ca, cb = C[:, :, None], C[:, None, :]
        t11, t22, t12 = np.diag(Q)[None, :, None], np.diag(Q)[None, None, :], Q[None, :, :]
        s11, s22, s12 = t11 - ca**2 / gpp, t22 - cb**2 / gpp, t12 - ca * cb / gpp
        qa = t11 * t22 - t12**2
        qb = -(s11 * t22 + s22 * t11 - 2 * s12 * t12)
        qc = s11 * s22 - s12**2
        lam12 = (-qb - np.sqrt(np.maximum(qb**2 - 4 * qa * qc, 0.0))) / (2 * qa)
        upper = np.arange(len(i))[:, None] < np.arange(len(i))[None, :]
        lam12 = np.where(upper[None] & (qa > 1e-12 * t11 * t22), lam12, np.inf)
        # two over one: P = {a, b} (axes 0, 1), Q = {q} (axis 2); S / T with S = T - c' P^-1 c
        pa, pb, pab = np.diag(P)[:, None, None], np.diag(P)[None, :, None], P[:, :, None]
        c1, c2 = C[:, None, :], C[None, :, :]
        det = pa * pb - pab**2
        quad = (pb * c1**2 - 2 * pab * c1 * c2 + pa * c2**2) / det
        lam21 = 1.0 - quad / np.diag(Q)[None, None, :]
        lam21 = np.where(upper[:, :, None] & (det > 1e-12 * pa * pb), lam21, np.inf)
    for lam, build in ((lam11, lambda a, b: (a, m + b)), (lam12, lambda p, a, b: (p, m + a, m + b)),
                       (lam21, lambda a, b, q: (a, b, m + q))):
        flat = np.where(np.isfinite(lam), lam, np.inf).ravel()
        for k in np.argsort(flat, kind="stable")[:keep]:
            if math.isfinite(flat[k]):
                out.append(build(*(int(i[j]) for j in np.unravel_index(k, lam.shape))))
    return out


def rational_nullspace(
    bases: Sequence[Base], y: np.ndarray, max_terms: int | None = None, rows: int = 800, deadline: float = math.inf,
) -> list[sympy.Expr]:
    """Sparse rational laws ``P(x) / Q(x)`` over low-degree monomials, for any input count.

    ``y = P/Q`` means ``[P(x), -y*Q(x)] . c = 0``: the coefficients span the null space of the
    monomial columns next to the ``y``-weighted monomial columns. Neither polynomial is forced to
    hold a constant term, so ``x0*x1/(x0 + x1)``, ``1/(x0*x1 + x2)`` and
    ``(x0*x1 + x2*x3)/(x0 + x2)`` are as reachable as ``2*x0/(1 + x0)``. For a support, ``P`` is
    eliminated by least squares and ``Q`` minimises the relative residual
    ``|y*Q - P| / |y*Q|`` (a generalized eigenproblem on the Schur complement), so a polynomial
    that is nearly zero on the data cannot pass for a null vector. Supports shrink by backward
    elimination (drop the column whose removal raises that residual least), keeping the best of
    every size up to ``max_terms`` (default: 8, or two thirds of the monomial count); before that,
    the shortest supports (one or two monomials over one or two, three at most) are scored
    exhaustively in closed form (:func:`_shortest_supports`), since a greedy path can pass them by.
    The degree comes from the monomial budget
    (``basis.monomial_degree``), at most ``RATIONAL_DEGREE``: 3 up to three inputs, 2 up to five,
    1 beyond.
    The coefficients are rough (the residual is weighted by ``Q``); the caller refits them.
    """
    from scipy.linalg import eigh

    originals = [b for b in bases if not b.derived]
    n_in = len(originals)
    if not 1 <= n_in <= 8:
        return []
    degree = monomial_degree(n_in, max_degree=RATIONAL_DEGREE)
    idx = np.random.default_rng(0).choice(len(y), min(len(y), rows), replace=False)
    monos = _monomials(originals, degree)
    M = np.column_stack([v[idx] for _, v in monos])
    ys = y[idx]
    A = np.column_stack([M, ys[:, None] * M])  # columns of P and of y*Q: P + y*Q = 0
    scale = np.linalg.norm(A, axis=0)
    ok = scale > 1e-12
    A = A / np.where(ok, scale, 1.0)
    G = A.T @ A
    m = len(monos)
    if max_terms is None:  # sums over many inputs need long supports; few inputs get mimics from them
        max_terms = max(8, 2 * m // 3)

    memo: dict[tuple[int, ...], tuple[float, np.ndarray]] = {}  # the degree-capped runs meet the same supports

    def residual(support: Sequence[int]) -> tuple[float, np.ndarray]:
        key = tuple(support)
        if key not in memo:
            memo[key] = _residual(key)
        return memo[key]

    def _residual(support: Sequence[int]) -> tuple[float, np.ndarray]:
        P = [k for k in support if k < m]
        Q = [k for k in support if k >= m]
        Gqq = G[np.ix_(Q, Q)]
        if P:
            Gpp = G[np.ix_(P, P)] + 1e-10 * np.eye(len(P))
            Gpq = G[np.ix_(P, Q)]
            S = Gqq - Gpq.T @ np.linalg.solve(Gpp, Gpq)
        else:
            S = Gqq
        try:
            w, v = eigh(S, Gqq + 1e-12 * np.eye(len(Q)))
        except (np.linalg.LinAlgError, ValueError):
            return math.inf, np.zeros(0)
        q = v[:, 0]
        p = -np.linalg.solve(Gpp, Gpq @ q) if P else np.zeros(0)
        return float(max(w[0], 0.0)), np.concatenate([p, q])

    degree_of = [sympy.Poly(e, *[b.expr for b in originals]).total_degree() for e, _ in monos] * 2
    kept: dict[tuple[int, ...], tuple[float, np.ndarray]] = {}
    # The shortest laws are scored exhaustively first: the elimination below is greedy, and from 40
    # columns a 0.8 % network of 30*x0*x2/(x1**2*(x0 - 10)) led it to x0*x2/(x1**2 - 0.28*x0*x1 +
    # 0.19*x0) (x0*x1**2 is nearly linear in x1 on [1, 2]); scored exhaustively, the law's three
    # columns had a third of the next support's residual.
    for support in _shortest_supports(G, m, ok):
        kept[support] = residual(support)
    # One elimination at the full degree, then one per lower cap on P's or Q's degree. P*R/(Q*R)
    # needs room for R on both sides, so a run that caps one side at the law's own degree cannot
    # drift into it, while a greedy elimination that entered P*R/(Q*R) cannot leave it one term at
    # a time (30*(x0 - 1)*(x2 - 1)/(x1**2*(x0 - 10)) at 0.1 % noise came back times (1 + 0.23*x1)).
    caps = [(dp, degree) for dp in range(degree)] + [(degree, dq) for dq in range(degree - 1, 0, -1)]
    for dp, dq in [(degree, degree)] + caps:
        active = [k for k in range(2 * m) if ok[k] and degree_of[k] <= (dp if k < m else dq)]
        for lam, support, coef in _eliminate(residual, active, m, degree_of, max_terms, deadline):
            if support not in kept or lam < kept[support][0]:
                kept[support] = (lam, coef)
        if time.perf_counter() >= deadline:
            break
    out: list[sympy.Expr] = []
    for support, (lam, coef) in kept.items():
        c = coef / scale[list(support)]
        num = [(c[a], monos[k][0]) for a, k in enumerate(support) if k < m]
        den = [(c[a], monos[k - m][0], monos[k - m][1]) for a, k in enumerate(support) if k >= m]
        if any(not math.isfinite(t[0]) for t in num + den):
            continue
        common = sympy.gcd_list([t[1] for t in num] + [t[1] for t in den])  # x1 in x0*x1**2/(x0*x1 + x1**2)
        if common != 1:  # the pole check below sees the cancelled denominator (x1 may change sign)
            num = [(t[0], sympy.cancel(t[1] / common)) for t in num]
            den = [(t[0], e, _monomial_values(e, originals)) for t, e in
                   ((t, sympy.cancel(t[1] / common)) for t in den)]
        lead = max(den, key=lambda t: abs(t[0]))[0]
        q = sum(t[0] / lead * t[2] for t in den)
        if np.min(np.abs(q)) < 1e-3 * np.max(np.abs(q)):
            continue  # a pole inside the data
        top = sympy.Add(*[number(-t[0] / lead) * t[1] for t in num])  # P + y*Q = 0: y = -P/Q
        bottom = sympy.Add(*[number(t[0] / lead) * t[1] for t in den])
        out.append(top / bottom)
    return out


#: the shifts ``k`` of the exact denominators ``x + k``, ``x - k`` and ``x**2 + k`` (a shift of 0 is a
#: monomial, which the Laurent sets decode: ``lattice.laurent_terms``)
DENOMINATOR_SHIFTS = (1, 2, 3, 4)
#: numerators over an exact denominator: at most this many monomials (the full set of the highest
#: degree within it) and whole-number coefficients of at most this size. Dense sets' nearly vanishing
#: integer combinations have large coefficients (as for ``lattice.LAURENT_MAX_COEF``), and over a
#: quadratic denominator a degree-4 numerator in two inputs fits a 3 %-network of a polynomial
#: within 3 % with coefficients up to 71
DENOMINATOR_COLUMNS = 10
DENOMINATOR_MAX_COEF = 24
#: laws kept: the closest to the data
DENOMINATOR_LAWS = 4


def _denominator_candidates(originals: Sequence[Base]) -> list[tuple[sympy.Expr, np.ndarray]]:
    """Exact denominators with no zero on the data: ``x ± k`` and ``x**2 + k`` of each input (``k`` in
    ``DENOMINATOR_SHIFTS``), and the sum and difference of each pair of inputs."""
    out = []
    for b in originals:
        v = b.values
        out += [(b.expr + k, v + k) for k in DENOMINATOR_SHIFTS] + [(b.expr - k, v - k) for k in DENOMINATOR_SHIFTS]
        out += [(b.expr**2 + k, v * v + k) for k in DENOMINATOR_SHIFTS]
    for a, b in itertools.combinations(originals, 2):
        out += [(a.expr + b.expr, a.values + b.values), (a.expr - b.expr, a.values - b.values)]
    return [(e, v) for e, v in out if float(np.min(np.abs(v))) > 1e-2 * float(np.max(np.abs(v)))]


def exact_denominators(bases: Sequence[Base], y: np.ndarray, allowed_mse: float,
                       operators: frozenset[str] | None = None, rows: int = 200) -> list[sympy.Expr]:
    """Laws ``P/Q`` over an exact denominator ``Q`` (:func:`_denominator_candidates`) whose numerator
    ``P`` has whole-number coefficients: ``y*Q`` decoded by ``lattice`` on the monomials up to the
    highest degree within ``DENOMINATOR_COLUMNS``, rows weighted ``1/|Q|`` (so a row's residual on
    ``y*Q`` is its residual on ``y``), within ``allowed_mse`` of ``y``; the ``DENOMINATOR_LAWS``
    closest.

    The null-space rationals above fit ``P/Q`` with free coefficients; from a 1-3 %-network of
    ``x0*(4 - x0 - x1/(x0 + 1))`` on [1, 6] x [1, 10] they do not find it (``x0/(x0 + 1)`` spans
    only 0.5-0.86 there, and the network's error moves the support), while ``y*(x0 + 1)`` decodes
    to the law's numerator. A free polynomial fits ``y*Q`` about as well for every ``Q`` (a degree-4
    one fits that network to 1.6 % with no denominator): exact coefficients are the test, as for
    the output transforms (``families.transformed_polynomials``).
    """
    if operators is not None and not {"div", "add"} <= set(operators):
        return []
    originals = [b for b in bases if not b.derived]
    if not originals or len(originals) > 5:
        return []
    degree = max([d for d in range(1, MAX_DEGREE + 1) if math.comb(len(originals) + d, d) <= DENOMINATOR_COLUMNS]
                 or [1])
    monos = _monomials(originals, degree)  # 1 first: the intercept is decoded like every coefficient
    step = max(1, len(y) // rows)
    M = np.column_stack([v[::step] for _, v in monos])
    ys = y[::step]
    found = []
    for e, v in _denominator_candidates(originals):
        w = 1.0 / np.abs(v[::step])
        for sq, k in closest_integer_vectors(M * w[:, None], ys * v[::step] * w, keep=2,  # the best two a denominator
                                             max_sq=allowed_mse * len(ys), max_coef=DENOMINATOR_MAX_COEF):
            numerator = sympy.Add(*[int(c) * m for c, (m, _) in zip(k, monos) if c])
            if k.any() and sympy.rem(numerator, e, *[b.expr for b in originals]) != 0:  # else a polynomial's
                found.append((sq / len(ys), numerator / e))
    found.sort(key=lambda t: t[0])
    return [law for _, law in found[:DENOMINATOR_LAWS]]
