"""Closed-form families beyond sums of library terms, each fitted by linear algebra in well under
a second: power laws ``c * prod(v_i ** a_i)`` (least squares in log space, exponents snapped to
halves), separable products of single-variable terms (rank-1 alternating least squares),
polynomials with exact small coefficients (integers, halves, thirds: ``basis.EXACT_GRIDS``), and
those polynomials of an output transform (``1/y``, ``1/y**2``, ``y**2``, ``exp(y)``). Rationals
live in ``rationals.py``. Constants are refitted and snapped by the caller (``operon.py``).
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np
import sympy

from .basis import (EXACT_GRIDS, MAX_EXACT_NUMERATOR, LinearFit, Term, away_from_zero,
                    number, power_terms, squared_terms, unary_terms)
from . import lattice, rationals
from .derived import Base
from .nested import composed_terms, joined_bases


def power_laws(bases: Sequence[Base], y: np.ndarray) -> list[sympy.Expr]:
    """``c * prod(v ** a)`` by least squares on logs; exponents snapped to halves, c refit; and,
    where an exponent is not near a half, the fitted exponents too (refitted and snapped later).

    Tried on the original variables and on each derived norm together with the originals
    (e.g. ``x0 * r**-3``). Only for outputs of one sign and positive variables.
    """
    if not (np.all(y > 0) or np.all(y < 0)):
        return []
    ly = np.log(np.abs(y))
    originals = [b for b in bases if not b.derived and np.all(b.values > 0)]
    norms = [b for b in bases if b.derived and b.nonlinear and np.all(b.values > 0)]
    groups = [originals] + [originals + [r] for r in norms]
    out: list[sympy.Expr] = []
    for group in groups:
        if not group:
            continue
        L = np.column_stack([np.log(b.values) for b in group] + [np.ones_like(ly)])
        coef, *_ = np.linalg.lstsq(L, ly, rcond=None)
        halves = [sympy.Rational(int(round(2 * a)), 2) for a in coef[:-1]]
        # the halves (Kepler's 3/2, 1/sqrt) and, where they move an exponent, the fitted exponents
        # themselves (x**0.2, x**(3/4)): polishing refits them and snapping rounds them
        fitted = [sympy.Float(round(float(a), 3)) if abs(a - h) > 0.05 else h for a, h in zip(coef[:-1], halves)]
        for exps in [halves] + ([fitted] if fitted != halves else []):
            if all(e == 0 for e in exps) or any(abs(e) > 4 for e in exps):
                continue
            with np.errstate(all="ignore"):
                shape = np.prod([b.values ** float(e) for b, e in zip(group, exps)], axis=0)
            if not np.all(np.isfinite(shape)) or not np.any(shape):
                continue
            c = float(shape @ y / (shape @ shape))
            out.append(sympy.Float(c) * sympy.Mul(*[b.expr**e for b, e in zip(group, exps)]))
    return out


def separable_products(
    bases: Sequence[Base], y: np.ndarray, operators: frozenset[str], sweeps: int = 12, rows: int = 1500,
    bins: int = 16, seed: int = 0,
) -> list[sympy.Expr]:
    """Products of single-variable terms ``a + c * f1(x_i) * f2(x_j) * ...`` (rank-1 alternating least squares).

    First the factors are found as free functions: each variable's range is cut into ``bins``
    quantile bins, and ``y ~ a + prod_j f_j(bin_j)`` is fitted by alternating least squares from
    a seeded random start (a power iteration for the dominant rank-1 component: it finds
    ``x0*sin(x1)*cos(x2)``, whose factors are each uncorrelated with ``y`` on a symmetric range,
    where a greedy factor-by-factor search stalls). Each free factor is then matched to the
    single-variable term it correlates with best (powers, sin/cos, exp, tanh, as in the library;
    a flat factor is dropped), and the product is refitted. Products with fewer factors (the
    weakest dropped one at a time) are returned too; and, where it differs, the product whose
    factors may also be the fitted shapes ``exp(quadratic)`` or ``1/quadratic`` of one variable
    (shifted gaussians and Lorentzians, ``_factor_shapes``), whichever correlates best.
    """
    originals = [b for b in bases if not b.derived]
    if len(originals) < 2:
        return []
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), min(len(y), rows), replace=False)
    ys = y[idx]
    n = len(originals)
    which = [_bins(b.values[idx], bins) for b in originals]
    f, a = _rank_one(which, [bins] * n, ys, sweeps, rng)
    # match each free factor to a library term, and (a second product) to the best of those and
    # the fitted shapes exp(quadratic) and 1/quadratic (shifted gaussians and Lorentzians)
    factors: list[tuple[float, sympy.Expr, np.ndarray]] = []
    shaped: list[tuple[float, sympy.Expr, np.ndarray]] = []
    candidates: list[list[Term]] = []  # per factor: the variable's terms, products and ratios of two
    free: list[np.ndarray] = []  # per factor: the free factor on the rows idx
    for j, b in enumerate(originals):
        g = f[j][which[j]]
        gc = g - g.mean()
        if float(np.std(g)) <= 0.05 * abs(float(np.mean(g))):
            continue  # flat: this variable is not a factor

        def corr(t) -> float:
            vc = t.values[idx] - t.values[idx].mean()
            denom = float(np.linalg.norm(vc) * np.linalg.norm(gc))
            return abs(float(vc @ gc)) / denom if denom > 0 else -1.0

        library = [(corr(t), t) for _, t in power_terms(b)] + [(corr(t), t) for t in unary_terms(b, operators)]
        if not library:
            continue
        r, t = max(library, key=lambda p: p[0])
        factors.append((r, t.expr, t.values))
        candidates.append(_factor_candidates(b, operators))
        free.append(g)
        r, t = max([(r, t)] + [(corr(s), s) for s in _factor_shapes(b, f[j], which[j], idx, operators)],
                   key=lambda p: p[0])
        shaped.append((r, t.expr, t.values))
    out = _products(factors, y)
    for variant in (shaped, _refined(free, candidates, y[idx], idx)):
        if [t[1] for t in variant] != [t[1] for t in factors]:
            out += _products(variant, y)
    return out


def _refined(free: list[np.ndarray], candidates: list[list[Term]], ys: np.ndarray,
             idx: np.ndarray) -> list[tuple[float, sympy.Expr, np.ndarray]]:
    """The factors of a product matched on every row: each first to the candidate most nearly
    proportional to its free factor (uncentred cosine: a product has no offset per factor, and
    the centred correlation matched sin(x1 + 1/3)/x1, decreasing, to sqrt(x1)), then, twice in
    turn with the others fixed, replaced by the candidate whose product with them fits ``ys`` best
    (``a + c * t * rest``) where that at least halves the RMSE. Free factors are 16 bin means, too
    coarse to tell ``cos(x1)/sin(x1)`` from ``x1`` on [0.8, 2.3]; the product's fit is not."""
    out = []
    for g, terms in zip(free, candidates):
        V = np.stack([t.values[idx] for t in terms], axis=1)
        with np.errstate(all="ignore"):
            cos = np.abs(g @ V) / (np.linalg.norm(V, axis=0) * np.linalg.norm(g))
        best = int(np.argmax(np.where(np.isfinite(cos), cos, -1.0)))
        out.append((float(cos[best]), terms[best].expr, terms[best].values))
    yc = ys - ys.mean()
    # a factor may be a + b*t (x1 - 5, 1 + cos(x0)); not any two terms: of 250 candidates' 31 000
    # pairs, some fit a 1 %-network better than the law's factor does
    ones = Term(sympy.Integer(1), np.ones(len(candidates[0][0].values))) if candidates else None
    steps = [(sweep, pos) for sweep in (0, 1) for pos in range(len(candidates))]
    for sweep, pos in steps:  # twice: a replaced factor changes the others' best
        terms = candidates[pos] + [ones]
        rest = np.prod([t[2][idx] for k, t in enumerate(out) if k != pos], axis=0) if len(out) > 1 else 1.0
        cols = np.stack([t.values[idx] for t in terms], axis=1) * np.reshape(rest, (-1, 1))
        cols = cols - cols.mean(axis=0)
        with np.errstate(all="ignore"):
            rss = float(yc @ yc) - (cols.T @ yc) ** 2 / np.einsum("ij,ij->j", cols, cols)
        rss = np.where(np.isfinite(rss), rss, np.inf)
        current = [k for k, t in enumerate(terms) if t.expr == out[pos][1]]
        best = int(np.argmin(rss))
        if current and rss[best] < 0.25 * rss[current[0]]:
            out[pos] = (out[pos][0], terms[best].expr, terms[best].values)
            current = [best]
        if not current or sweep == 0:
            continue  # the pair of terms: once per factor, in the second sweep
        pair = _best_pair(cols, yc, anchor=len(terms) - 1)
        if pair is not None and pair[0] < 0.25 * rss[current[0]]:
            _, (i, j), (ci, cj) = pair
            scale = ci if abs(ci) >= abs(cj) else cj
            ci, cj = ci / scale, cj / scale
            out[pos] = (out[pos][0], sympy.Float(ci) * terms[i].expr + sympy.Float(cj) * terms[j].expr,
                        ci * terms[i].values + cj * terms[j].values)
    return out


def _best_pair(cols: np.ndarray, yc: np.ndarray, anchor: int) -> tuple[float, tuple[int, int], tuple[float, float]] | None:
    """Column ``anchor`` and the (centred) column whose least-squares combination with it leaves the
    smallest RSS (2x2 normal equations from the anchor's Gram row); None when no column is independent."""
    with np.errstate(all="ignore"):
        norm = np.linalg.norm(cols, axis=0)
        ok = np.isfinite(norm) & (norm > 0)
        C = np.where(ok, cols / np.where(ok, norm, 1.0), 0.0)
        g = C[:, anchor] @ C  # the anchor's row of the Gram matrix
        b = C.T @ yc
        det = 1.0 - g * g
        gain = (b[anchor] ** 2 + b**2 - 2 * b[anchor] * b * g) / det
    gain[~((det > 1e-9) & ok & ok[anchor])] = -np.inf
    j = int(np.argmax(gain))
    if not np.isfinite(gain[j]):
        return None
    i = anchor
    ci = (b[i] - b[j] * g[j]) / det[j] / norm[i]
    cj = (b[j] - b[i] * g[j]) / det[j] / norm[j]
    return float(yc @ yc - gain[j]), (i, j), (float(ci), float(cj))


def _compound_terms(b: Base, operators: frozenset[str]) -> list[Term]:
    """Products and ratios of two of one variable's terms (its low powers and one-node functions):
    ``sin(x)/x``, ``x*exp(-x)``, ``cos(x)/sin(x)``, ``log(x)/x``; ratios only by terms bounded away
    from 0 (their smallest magnitude at least 5 % of their largest)."""
    low = [t for p, t in power_terms(b) if p in (1, 2, -1, sympy.Rational(1, 2))]
    unary = unary_terms(b, operators)
    out = [Term.product(a, c) for a, c in itertools.product(low, unary)]
    out += [Term.product(a, c) for a, c in itertools.combinations(unary, 2)]
    if "div" in operators:
        with np.errstate(all="ignore"):
            for a, c in itertools.permutations(unary, 2):
                if away_from_zero(c.values):
                    out.append(Term(a.expr / c.expr, a.values / c.values))
    return [t for t in out if np.all(np.isfinite(t.values)) and float(np.std(t.values)) > 0]


def _bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Each row's quantile bin of ``values`` (0 .. bins - 1)."""
    return np.searchsorted(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]), values)


def _rank_one(which: list[np.ndarray], sizes: list[int], ys: np.ndarray, sweeps: int,
              rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """``ys ~ a + prod_j f_j[which_j]`` by alternating least squares from a seeded random start:
    the free factors (one value per bin, all but the last scaled to unit RMS) and ``a``."""
    n = len(which)
    f = [rng.uniform(0.5, 1.5, size) for size in sizes]
    a = 0.0
    for _ in range(sweeps):
        for j in range(n):
            rest = np.ones(len(ys))
            for k in range(n):
                if k != j:
                    rest = rest * f[k][which[k]]
            num = np.bincount(which[j], (ys - a) * rest, sizes[j])
            den = np.bincount(which[j], rest * rest, sizes[j])
            f[j] = np.where(den > 1e-300, num / np.maximum(den, 1e-300), 0.0)
            norm = float(np.sqrt(np.mean(f[j] ** 2))) or 1.0
            f[j] = f[j] / norm if j < n - 1 else f[j]
        prod = np.ones(len(ys))
        for k in range(n):
            prod = prod * f[k][which[k]]
        a = float(np.mean(ys - prod))
    return f, a


def _factor_candidates(b: Base, operators: frozenset[str]) -> list[Term]:
    """What one variable's factor of a product may be: its powers and one-node functions, their
    squares (``log(x0)**2``), products and ratios of two of them, and its compositions and their
    reciprocals."""
    unary = unary_terms(b, operators)
    return ([t for _, t in power_terms(b)] + unary + squared_terms(unary) + _compound_terms(b, operators)
            + _composed_factors(b, operators))


def pair_separable_products(bases: Sequence[Base], y: np.ndarray, operators: frozenset[str], sweeps: int = 12,
                            rows: int = 1500, bins: int = 16, pair_bins: int = 8, keep: int = 2,
                            seed: int = 0) -> list[sympy.Expr]:
    """Products in which one factor joins two variables, ``a + c * g(x_i, x_j) * prod_k f_k(x_k)``:
    ``log(x0)**2*sin(x1 + x2)``, ``x1*(x0 + x2)/cos(cos(x3))``. A grammar's sums sit inside its
    products; :func:`separable_products` gives each variable a factor of its own and cannot write them.

    For each pair, the rank-1 fit of :func:`separable_products` runs with the pair's rows binned on a
    ``pair_bins`` x ``pair_bins`` grid as one factor; the pair's free factor is then matched (as the
    others, :func:`_refined`) to the two variables' terms, their products and ratios, and the powers
    and one-node functions of their sum, difference, product and ratios. The ``keep`` pairs whose product fits best
    come back (3 to 5 inputs; with two, the pair is the whole law).
    """
    originals = [b for b in bases if not b.derived]
    if not 3 <= len(originals) <= 5:
        return []
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), min(len(y), rows), replace=False)
    ys = y[idx]
    coarse = [_bins(b.values[idx], pair_bins) for b in originals]
    fine = [_bins(b.values[idx], bins) for b in originals]
    single = [_factor_candidates(b, operators) for b in originals]
    scored: list[tuple[float, list[sympy.Expr]]] = []
    for i, j in itertools.combinations(range(len(originals)), 2):
        rest = [k for k in range(len(originals)) if k not in (i, j)]
        which = [coarse[i] * pair_bins + coarse[j]] + [fine[k] for k in rest]
        f, _ = _rank_one(which, [pair_bins**2] + [bins] * len(rest), ys, sweeps, rng)
        free, candidates = [], []
        for g, w, terms in zip(f, which, [_pair_candidates(originals[i], originals[j], operators)]
                               + [single[k] for k in rest]):
            values = g[w]
            if float(np.std(values)) > 0.05 * abs(float(np.mean(values))):  # else flat: not a factor
                free.append(values)
                candidates.append(terms)
        if len(free) < len(f) - len(rest) or not candidates[0]:
            continue  # the pair's own factor is flat: a product of single variables
        matched = _refined(free, candidates, ys, idx)
        products = _products(matched, y)
        if products:
            model = np.prod([t[2][idx] for t in matched], axis=0)
            A = np.column_stack([model, np.ones(len(ys))])
            rss = float(np.sum((ys - A @ np.linalg.lstsq(A, ys, rcond=None)[0]) ** 2))
            scored.append((rss, products))
    return [e for _, products in sorted(scored, key=lambda p: p[0])[:keep] for e in products]


def _pair_candidates(bi: Base, bj: Base, operators: frozenset[str]) -> list[Term]:
    """A two-variable factor: each variable's powers and one-node functions, their products and
    ratios, and the powers and one-node functions of their sum, difference, product and ratios."""
    own = {k: [t for _, t in power_terms(b)] + unary_terms(b, operators) for k, b in ((0, bi), (1, bj))}
    low = {k: [t for p, t in power_terms(b) if p in (1, 2, -1)] for k, b in ((0, bi), (1, bj))}
    out = own[0] + own[1] + [Term.product(a, c) for a, c in itertools.product(low[0], low[1])]
    for joined in joined_bases(bi, bj):
        out += [t for _, t in power_terms(joined)] + unary_terms(joined, operators)
    return [t for t in out if np.all(np.isfinite(t.values)) and float(np.std(t.values)) > 0]


def _composed_factors(b: Base, operators: frozenset[str]) -> list[Term]:
    """One variable's compositions (``basis.composed_terms``) and, with ``div``, their reciprocals
    where bounded away from 0: a law divided by ``cos(sin(x1))`` has the factor ``1/cos(sin(x1))``."""
    composed = composed_terms(b, operators)
    if "div" not in operators:
        return composed
    with np.errstate(all="ignore"):
        return composed + [Term(1 / t.expr, 1.0 / t.values) for t in composed
                           if away_from_zero(t.values)]


def _products(factors: list[tuple[float, sympy.Expr, np.ndarray]], y: np.ndarray) -> list[sympy.Expr]:
    """``c * prod(factors) + a`` refitted, for all factors, then with the weakest dropped one at a time."""
    out = []
    factors = sorted(factors, key=lambda t: -t[0])
    while factors:
        col = np.prod([t[2] for t in factors], axis=0)
        A = np.column_stack([col, np.ones_like(y)])
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        if np.all(np.isfinite(coef)):
            out.append(number(coef[0]) * sympy.Mul(*[t[1] for t in factors]) + number(coef[1]))
        factors = factors[:-1]
    return out


def _factor_shapes(b: Base, fb: np.ndarray, which: np.ndarray, idx: np.ndarray, operators: frozenset[str]) -> list:
    """A free factor (values ``fb`` per bin) of one sign fitted as ``exp(c2*x**2 + c1*x)`` (a quadratic
    in log space) and as ``1/(x**2 + p*x + q)`` (a quadratic fitted to its reciprocal), on bin centres."""
    from .basis import Term

    counts = np.bincount(which, minlength=len(fb))
    ok = counts > 0
    centres = np.bincount(which, b.values[idx], minlength=len(fb))[ok] / counts[ok]
    g = fb[ok]
    g = g * np.sign(g[np.argmax(np.abs(g))])  # the factor's sign goes into the product's constant
    x, v, out = b.expr, b.values, []
    with np.errstate(all="ignore"):
        high = g > 0.02 * np.max(g)  # a gaussian's tails are lost in the noise: fit its body
        if "exp" in operators and np.sum(high) >= 5:
            c2, c1, _ = np.polyfit(centres[high], np.log(g[high]), 2)
            out.append(Term(sympy.exp(sympy.Float(c2) * x**2 + sympy.Float(c1) * x), np.exp(c2 * v * v + c1 * v)))
        if "div" in operators and np.all(high):
            d2, d1, d0 = np.polyfit(centres, 1.0 / np.abs(g), 2)
            if abs(d2) > 1e-12:
                q = v * v + d1 / d2 * v + d0 / d2
                if np.min(np.abs(q)) > 1e-3 * np.max(np.abs(q)) and (np.all(q > 0) or np.all(q < 0)):
                    out.append(Term(1 / (x**2 + sympy.Float(d1 / d2) * x + sympy.Float(d0 / d2)), 1.0 / q))
    return [t for t in out if np.all(np.isfinite(t.values))]


def exact_polynomials(poly: Sequence, y: np.ndarray, allowed_mse: float, max_size: int = 6,
                      max_subsets: int = 1500, per_size: int = 8, rows: int = 1000,
                      weights: np.ndarray | None = None) -> list[LinearFit]:
    """Polynomials of up to ``max_size`` monomials with integer, half or third coefficients
    (``EXACT_GRIDS``) within ``allowed_mse``: the ``per_size`` most accurate of each size, as
    :class:`basis.LinearFit` with exact coefficients.

    Every subset is tried (up to ``max_subsets``, smallest sizes first; one input's six monomials
    give 63, five inputs' twenty stop inside size 3), on ``rows`` evenly spaced rows, not only the backward
    elimination's path: that path drops the monomial whose loss a network's own error hides
    best (``x0**2 + 3*x0/2 - 4`` from a 0.6 % network went to ``x0**2, x0**5`` at two terms).
    Each coefficient is rounded down and up (every combination, the intercept refitted and
    rounded after): a network's error moves correlated coefficients by more than half a step
    (1.76 for 3/2 beside 0.96 for 1), so the nearest value alone misses the law.
    With ``weights``, row ``i``'s residual counts ``weights[i]`` times (the intercept too is weighted).
    """
    found: dict[int, dict[tuple, LinearFit]] = {}
    step = max(1, len(y) // rows)
    w = np.ones(len(y[::step])) if weights is None else weights[::step]
    y = y[::step] * w
    poly = [Term(t.expr, t.values[::step] * w) for t in poly]
    n_rows = len(y)
    sizes = range(1, min(max_size, len(poly)) + 1)
    subsets = itertools.islice(itertools.chain.from_iterable(
        itertools.combinations(range(len(poly)), k) for k in sizes), max_subsets)
    corners_of = {k: np.array(list(itertools.product((0.0, 1.0), repeat=k))).T for k in sizes}  # k x 2**k
    for subset in subsets:
        size = len(subset)
        corners = corners_of[size]
        A = np.column_stack([poly[k].values for k in subset])
        coef, *_ = np.linalg.lstsq(np.column_stack([A, w]), y, rcond=None)
        best = None
        for grid in EXACT_GRIDS:
            combos = (np.floor(coef[:-1] * grid)[:, None] + corners) / grid  # size x 2**size
            keep = combos.any(axis=0)
            if not keep.any():
                continue
            combos = combos[:, keep]
            resid = y[:, None] - A @ combos
            intercept = np.round(w @ resid / (w @ w) * grid) / grid
            resid = resid - w[:, None] * intercept
            mse = np.einsum("ij,ij->j", resid, resid) / n_rows
            j = int(np.argmin(mse))
            if mse[j] <= allowed_mse and (best is None or mse[j] < best[0] - 1e-12 * abs(best[0])):
                best = (float(mse[j]), combos[:, j], float(intercept[j]), grid)
        if best is None:
            continue
        mse, coefs, intercept, grid = best
        if max(np.max(np.abs(coefs)), abs(intercept)) * grid >= MAX_EXACT_NUMERATOR:
            continue  # not a small exact coefficient: a mimic's (see basis.MAX_EXACT_NUMERATOR)
        nz = [k for k in range(size) if coefs[k] != 0.0]
        exact = tuple(sympy.Rational(int(round(coefs[k] * grid)), int(grid)) for k in nz)
        exact += (sympy.Rational(int(round(intercept * grid)), int(grid)),)
        f = LinearFit(tuple(poly[subset[k]] for k in nz), coefs[nz], intercept, mse, exact)
        # keyed by terms and values, not by sympy expression: a loose allowance passes thousands
        key = (tuple(subset[k] for k in nz), exact)  # a zero coefficient: a smaller subset's fit
        found.setdefault(len(nz), {}).setdefault(key, f)
    return [f for k in sorted(found) for f in sorted(found[k].values(), key=lambda f: f.mse)[:per_size]]


#: an output transform: g(y), the row weights 1/|g'(y)|, g's inverse on sympy and on numpy values
Transform = tuple[np.ndarray, np.ndarray, Callable[[sympy.Expr], sympy.Expr], Callable]


def _transforms(y: np.ndarray, operators: frozenset[str] | None = None, roots: bool = False) -> list[Transform]:
    """The output transforms whose image of ``y`` is worth a polynomial fit: ``g(y)``, the row
    weights ``1/|g'(y)|``, and ``g``'s inverse on sympy and on numpy values. Only where ``g`` is
    defined and tame on all of ``y``, and (given ``operators``) where the inverse is written with
    them: ``exp(y)``'s inverse needs ``log``. With ``roots``, also the cube root (any sign), and the
    square root and log of a one-signed output, and arcsin and arccos of an output within (-1, 1)
    that reaches |y| >= 1/2 (``transformed.transformed_sums``)."""
    out = []
    away = float(np.min(np.abs(y))) > 1e-3 * float(np.max(np.abs(y)))
    one_sign = bool(np.all(y > 0) or np.all(y < 0))
    sign = 1 if np.all(y > 0) else -1  # an int: sympy keeps 1/sqrt(...) free of a float 1.0
    with np.errstate(all="ignore"):
        def ok(*names: str) -> bool:
            return operators is None or all(n in operators for n in names)
        if away and one_sign and ok("div"):
            out.append((1.0 / y, y * y, lambda e: 1 / e, lambda v: 1.0 / v))
            if ok("sqrt"):
                out.append((y**-2.0, np.abs(y) ** 3 / 2, lambda e: sign / sympy.sqrt(e), lambda v: sign / np.sqrt(v)))
        if one_sign and away and ok("sqrt"):
            out.append((y**2.0, 1.0 / (2 * np.abs(y)), lambda e: sign * sympy.sqrt(e), lambda v: sign * np.sqrt(v)))
        if float(np.ptp(y)) <= 12.0 and ok("log"):  # exp of a wider range is a few rows' polynomial
            out.append((np.exp(y), np.exp(-y), sympy.log, np.log))
        if roots and ok("mul"):
            out.append((np.cbrt(y), 3 * np.abs(y) ** (2 / 3), lambda e: e**3, lambda v: v**3))
            if one_sign:
                out.append((np.sqrt(np.abs(y)), 2 * np.sqrt(np.abs(y)), lambda e: sign * e**2,
                            lambda v: sign * v**2))
        if roots and one_sign and away and ok("exp"):
            out.append((np.log(np.abs(y)), np.abs(y), lambda e: sign * sympy.exp(e), lambda v: sign * np.exp(v)))
        # y = sin(S) or cos(S): S is arcsin(y) or arccos(y). Not for an output within (-1/2, 1/2), where
        # sin(S) is S to 4 %: there the transform adds no shape, only mimics (sin(sin(x1/x0)/3))
        if roots and 0.5 <= float(np.max(np.abs(y))) < 1.0:
            slope = np.sqrt(1.0 - y * y)  # 1/|g'(y)| for both: rows near |y| = 1 pin S poorly
            if ok("sin"):
                out.append((np.arcsin(y), slope, sympy.sin, np.sin))
            if ok("cos"):
                out.append((np.arccos(y), slope, sympy.cos, np.cos))
    return [t for t in out if np.all(np.isfinite(t[0])) and np.all(np.isfinite(t[1]))]


def transformed_polynomials(poly: Sequence[Term], y: np.ndarray, allowed_mse: float,
                            max_subsets: int = 1000, rows: int = 300,
                            operators: frozenset[str] | None = None, bases: Sequence[Base] = ()) -> list[sympy.Expr]:
    """Laws ``g⁻¹(P(x))`` for an output transform ``g`` (``1/y``, ``1/y**2``, ``y**2``, ``exp(y)``)
    and a polynomial ``P`` with integer or half-integer coefficients (:func:`exact_polynomials`
    fitted to ``g(y)``), within ``allowed_mse`` of ``y``.

    A law that is no sum of library terms can be one after transforming the output, as AI
    Feynman's transform step has it: ``1/(sqrt(x0)*(x0 + x1))`` is ``1/y**2 = x0**3 + 2*x0**2*x1 +
    x0*x1**2``, ``log(x0 + 1) + log(x0**2 + 1)`` is ``exp(y) = x0**3 + x0**2 + x0 + 1``,
    ``sqrt(x0**2 + x0*x1)`` is ``y**2 = x0**2 + x0*x1``. The exact coefficients are the test: a
    network's error makes every transform fit some polynomial, but rarely one of small integers.
    Rows are weighted by ``1/|g'(y)|``, so that a row's residual on ``g(y)`` is (to first order)
    its residual on ``y``: unweighted, ``exp(y)`` of a 3.6 % network of ``log(x0 + 1) + log(x0**2 +
    1)`` is ruled by its largest rows and rounds to no polynomial; weighted, it rounds to the law.
    Given the inputs' ``bases``, the closest integer vectors of each full monomial set are tried too
    (:func:`lattice.integer_polynomials`).
    """
    values = {t.expr: t.values for t in poly}
    out: list[sympy.Expr] = []
    for target, weight, inverse, inverse_values in _transforms(y, operators):
        # second-order terms of the transform stretch a network's error: 2x the window
        found = exact_polynomials(poly, target, 4 * allowed_mse, max_subsets=max_subsets, per_size=4, rows=rows,
                                  weights=weight)
        found += lattice.integer_polynomials(bases, target, 4 * allowed_mse, weights=weight) if bases else []
        for fit in found:
            # exact_polynomials' terms hold sampled, weighted rows; the lattice's hold all rows
            p = fit.intercept + sum((c * values.get(t.expr, t.values) for c, t in zip(fit.coefs, fit.terms)),
                                    np.zeros_like(y))
            with np.errstate(all="ignore"):
                mse = float(np.mean((inverse_values(p) - y) ** 2))
            law = inverse(fit.expr())
            if math.isfinite(mse) and mse <= allowed_mse and law not in out:
                out.append(law)
    return out + rationals.exact_denominators(bases, y, allowed_mse, operators)
