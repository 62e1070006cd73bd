"""Laws that are a short sum times a factor: ``u(x) * S(x)``, with ``u`` a single-variable term
(or the product of two, of different variables, or a power of a variable) and ``S`` a
polynomial of degree at most 2, or one with each variable's one-node functions beside its
monomials, with exact small coefficients. ``(x0 + x1*x3)*exp(cos(x2))`` is such a law; it is no sum
of few library terms (its expansion is, but a 2 % network hides the second product among
hundreds), no power law and no rational. Fitted by linear algebra (``operon._fast_pass``).
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
import sympy

from ..lowering import complexity
from . import lattice
from .basis import LinearFit, Term, polynomial_terms, power_terms, unary_terms
from .derived import Base
from .families import exact_polynomials

#: compositions f(g(x)) of one variable offered as factors beside the library's unary terms:
#: each pair of distinct functions of exp, sin, cos (exp(cos(x)), sin(exp(x)), cos(sin(x)), ...)
_COMPOSED = (("exp", np.exp, sympy.exp), ("sin", np.sin, sympy.sin), ("cos", np.cos, sympy.cos))

#: short sums ``S`` (this many dictionary columns, the constant 1 among them, chosen greedily) rank
#: the factors a second time, beside the fit over the whole dictionary; ...
SHORT_SUMS = (2, 3)
#: ... and each size's best factors are decoded too, over the greedy path's columns (one spare)
SHORT_TOP = 2
#: beyond this many inputs the screen (each factor times every degree-2 monomial) is too slow:
#: 32 inputs' 560 monomials times 600 factors took 22 s
MAX_INPUTS = 5


def factors(originals: Sequence[Base], operators: frozenset[str]) -> list[Term]:
    """Each variable's unary library terms and its compositions of two of exp, sin and cos."""
    out: list[Term] = []
    for b in originals:
        out += unary_terms(b, operators)
        with np.errstate(all="ignore"):
            for (f, fv, fs), (g, gv, gs) in itertools.permutations(_COMPOSED, 2):
                if {f, g} <= operators:
                    values = fv(gv(b.values))
                    if np.all(np.isfinite(values)) and float(np.max(np.abs(values))) < 1e6:
                        out.append(Term(fs(gs(b.expr)), values))
    return [t for t in out if float(np.std(t.values)) > 1e-9]


def factored_polynomials(bases: Sequence[Base], y: np.ndarray, allowed_mse: float, operators: frozenset[str],
                         top: int = 3, pair_from: int = 8, rows: int = 300) -> list[sympy.Expr]:
    """Laws ``u * S + c`` within ``allowed_mse`` of ``y``, for 2 to ``MAX_INPUTS`` input variables.

    ``S`` is a short sum with exact small coefficients over one of two dictionaries: the monomials
    of degree <= 2 (``(x0 + x1*x3)*exp(cos(x2))``), or those and each variable's one-node functions
    (``exp``, ``log``, ``sin``, ``cos``, ``tanh`` of a variable: ``x0*(-x1 - 2*log(x0) + log(x1))``).
    For each dictionary, every factor ``u`` is screened by one least-squares fit of ``y`` on ``u``
    times every dictionary term (``rows`` rows); the ``pair_from`` best single factors are
    multiplied in pairs of different variables and screened too. The ``top`` best within
    ``allowed_mse`` go to :func:`families.exact_polynomials` over the terms ``u * d``: exact small
    coefficients are the test, as for output transforms. So do the best by short greedy sums
    (:func:`_screened`), over the few terms their greedy path chose. One variable's degree-6
    polynomial times any factor fits anything, so outputs of one variable are left to the other
    families.
    """
    originals = [b for b in bases if not b.derived]
    if not 2 <= len(originals) <= MAX_INPUTS:
        return []
    poly = polynomial_terms(bases, degree=2)
    functions = [t for b in originals for t in unary_terms(b, operators) if complexity(t.expr) == 2]
    step = max(1, len(y) // rows)
    ys = y[::step]
    units = factors(originals, operators)
    out: list[sympy.Expr] = []
    # a variable times a quadratic is a cubic, which the polynomial stages already try: the
    # power factors join only with the one-node functions
    searches = ((poly, units, 600), (poly + functions, units + power_factors(originals), 1500))
    for dictionary, candidates, subsets in searches:
        screened, short = _screened(candidates, dictionary, ys, step, top, pair_from)
        # the full screen's best: every short sum of the dictionary; the short fits' best: sums of
        # the terms their greedy path chose (a handful of subsets, so they cost almost nothing)
        jobs = [(u, dictionary, subsets) for mse, _, u in screened if mse <= allowed_mse]
        jobs += [(u, [dictionary[j - 1] for j in path if j], subsets) for mse, u, path in short if mse <= allowed_mse]
        for u, terms, n_subsets in jobs:
            for law in _exact_products(u, terms, y, allowed_mse, rows, n_subsets):
                if law not in out:
                    out.append(law)
    return out


def power_factors(originals: Sequence[Base]) -> list[Term]:
    """Each variable's library powers (:func:`basis.power_terms`: negative ones where it stays away
    from zero, fractional ones where it is positive): ``x0 * S``, ``S / x1``, ``S / x0**3``,
    ``S / sqrt(x0)``. Until session 36 only ``x`` and ``1/x``; ``(sin(x0) + cos(x1))/x0**3`` then
    had no factor and came back as ``-1/4 + 0.598/x0 + (cos(x1) + 1/2)/x0**3``."""
    return [t for b in originals for _, t in power_terms(b)]


def _screened(units: list[Term], dictionary: list[Term], ys: np.ndarray, step: int, top: int,
              pair_from: int) -> tuple[list[tuple[float, int, Term]], list[tuple[float, Term, list[int]]]]:
    """The ``top`` factors (and products of two of the ``pair_from`` best, of different variables)
    by the MSE of ``ys`` fitted on the factor times every dictionary term, best first; and the
    ``SHORT_TOP`` best others by each fit on ``SHORT_SUMS`` columns of the factor times the
    dictionary (``1`` first), chosen greedily: (MSE, factor, the greedy path's columns)."""
    design = np.column_stack([np.ones(len(ys))] + [t.values[::step] for t in dictionary])

    def screen(u: Term) -> float:
        A = np.column_stack([u.values[::step, None] * design, np.ones(len(ys))])
        coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
        return float(np.mean((A @ coef - ys) ** 2))

    singles = sorted(((screen(u), i, u) for i, u in enumerate(units)), key=lambda t: t[:2])
    best = [u for _, _, u in singles[:pair_from]]
    pairs = [Term(a.expr * b.expr, a.values * b.values) for a, b in itertools.combinations(best, 2)
             if a.expr.free_symbols != b.expr.free_symbols]
    scored = sorted(singles + [(screen(u), len(singles) + i, u) for i, u in enumerate(pairs)], key=lambda t: t[:2])
    chosen = scored[:top]
    # a full fit over the dictionary fits a network's own error with almost any factor: from a
    # 2.7 % network of x0*x1**2*(2*x1 + exp(x0)) eight factors fit it better than x0*x1**2. A law's
    # S is short, and by the best fit on two columns x0*x1**2 ranks first
    taken = {i for _, i, _ in chosen}
    depth = max(SHORT_SUMS, default=-1) + 1  # one spare column past the longest short sum
    paths = {i: _greedy_path(u.values[::step, None] * design, ys, depth) for _, i, u in scored[top:]} if depth else {}
    short: list[tuple[float, Term, list[int]]] = []
    for size in SHORT_SUMS:
        ranked = sorted((paths[i][1][size - 1], i, u) for _, i, u in scored[top:] if len(paths[i][1]) >= size)
        fresh = [(i, u) for _, i, u in ranked if i not in taken][:SHORT_TOP]
        short += [(next(m for m, j, _ in scored if j == i), u, paths[i][0]) for i, u in fresh]
        taken.update(i for i, _ in fresh)
    return chosen, short


def _greedy_path(A: np.ndarray, ys: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Up to ``k`` columns of ``A`` chosen one at a time, each the one that most reduces the
    residual of ``ys`` fitted on a constant and the columns so far (orthogonal matching pursuit),
    and the MSE after each."""
    path: list[int] = []
    mses: list[float] = []
    with np.errstate(all="ignore"):
        q0 = np.ones(len(ys)) / math.sqrt(len(ys))
        r = ys - q0 * (q0 @ ys)
        C = A - np.outer(q0, q0 @ A)
        for _ in range(min(k, A.shape[1])):
            norms = np.einsum("ij,ij->j", C, C)
            usable = norms > 1e-12 * (1.0 + float(np.max(norms)))
            gain = np.where(usable, (C.T @ r) ** 2 / np.where(usable, norms, 1.0), -1.0)
            j = int(np.argmax(gain))
            if gain[j] <= 0:
                break
            q = C[:, j] / math.sqrt(norms[j])
            r = r - q * (q @ r)
            C = C - np.outer(q, q @ C)
            path.append(j)
            mses.append(float(np.mean(r * r)))
    return path, mses


def _exact_products(u: Term, dictionary: list[Term], y: np.ndarray, allowed_mse: float, rows: int,
                    max_subsets: int) -> list[sympy.Expr]:
    """``u * S + c`` for the exact small-coefficient sums ``S`` over ``dictionary`` within ``allowed_mse``."""
    terms = [u] + [Term(u.expr * t.expr, u.values * t.values) for t in dictionary]
    # exact_polynomials returns thinned copies of the terms: map them back by expression
    term_of = dict(zip((t.expr for t in terms), [sympy.Integer(1)] + [t.expr for t in dictionary]))
    out = []
    for fit in exact_polynomials(terms, y, allowed_mse, max_subsets=max_subsets, per_size=3, rows=rows):
        s = sympy.Add(*[c * term_of[t.expr] for c, t in zip(fit.exact[:-1], fit.terms)])
        out.append(u.expr * s + fit.exact[-1])
    return out


#: the modulated polynomials' input counts (3 inputs: 9 + 4 columns, within lattice.MAX_COLUMNS)
MODULATED_INPUTS = 3
#: their exact coefficients: integers, halves, thirds, quarters, sixths (numerators at most 12)
MODULATED_GRIDS = (1.0, 2.0, 3.0, 4.0, 6.0)
#: factors whose screen error is within this factor of the best one's fit the network as well, to
#: within its own error: the screen cannot rank them, so they are decoded beyond the usual count
SCREEN_TIE = 2.0
#: ``P0 + c*u`` (``P1`` a constant) is decoded for every factor whose own screen is tied, on these
#: grids: quarters and sixths cost 6x as much (62 factors of 3 inputs: 3.8 s, 0.6 s without them)
SINGLE_GRIDS = (1.0, 2.0, 3.0)
#: ... each decode stopped after this many enumeration nodes: where no small exact vector fits, the
#: enumeration walks its whole node cap rejecting large numerators (random-s4-044: 55 factors, 3.9 s)
SINGLE_NODES = 500


def modulated_polynomials(bases: Sequence[Base], y: np.ndarray, allowed_mse: float, operators: frozenset[str],
                          top: int = 12, rows: int = 1000) -> list[LinearFit]:
    """Laws ``P0 + u * P1`` with exact coefficients (``MODULATED_GRIDS``): ``P0`` a polynomial of
    degree at most 2, ``P1`` of degree at most 1, ``u`` one of the product family's factors
    (:func:`factors`: one variable's unary term or composition of two of exp, sin, cos) or its half
    or negative power (``x0*sin(x1) + x1``, ``(1 + x0)*exp(x1) + x0**2``, ``x0*x1 + x0 + (x0 +
    x1)/sqrt(x0)``, ``x0**2 - x1*sin(cos(x0))``).

    Neither the product family above (no ``P0``) nor the library's sums reach them: the expansion
    has up to ``4 + 4`` terms, beyond the beam's four, and its monomials and their products with
    ``u`` are nearly collinear (x0 and sqrt(x0) on [1, 2]). For each ``u``, one least-squares fit
    of ``y`` on ``P0``'s monomials and ``u`` times ``P1``'s (``rows`` rows) screens it; the ``top``
    best are decoded exactly (:func:`lattice.closest_integer_vectors`, as the polynomials are), and
    only decodings within ``allowed_mse`` of ``y`` that use a factor term are returned. ``P0 + c*u``
    is screened and decoded apart, for every factor the screen cannot rank (``SINGLE_GRIDS``). Two
    to ``MODULATED_INPUTS`` inputs.
    """
    originals = [b for b in bases if not b.derived]
    # one input's P0 + u*P1 fits too much, as the products above do: a 0.5 s fit of x*sigmoid(1.702*x)
    # chose x0/2 + 5/4 - 5*exp(-x0**2/3)/4, 9 % off beyond the data (tests/test_contract.py)
    if not 2 <= len(originals) <= MODULATED_INPUTS:
        return []
    p0 = polynomial_terms(originals, degree=2)
    p1 = [Term(sympy.Integer(1), np.ones(len(y)))] + polynomial_terms(originals, degree=1)
    units = factors(originals, operators)
    outer = (sympy.exp, sympy.sin, sympy.cos)  # the compositions of two of them, read off the terms
    bare = {u.expr for u in units if isinstance(u.expr, outer) and isinstance(u.expr.args[0], outer)}
    units += [t for b in originals for p, t in power_terms(b) if p < 0 or p.q != 1]
    step = max(1, len(y) // rows)
    ys = y[::step]
    base = np.column_stack([np.ones(len(ys))] + [t.values[::step] for t in p0])

    def screen(u: Term, modulations: list[Term] = p1) -> float:
        A = np.column_stack([base] + [u.values[::step] * m.values[::step] for m in modulations])
        coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
        return float(np.mean((A @ coef - ys) ** 2))

    found: dict[sympy.Expr, LinearFit] = {}
    # the screen cannot tell collinear factors apart (1/sqrt(x0), 1/x0**2 on [1, 2]): several are
    # decoded, fewer for 3 inputs, whose 13 columns cost the decoder most; beyond that count, those
    # within SCREEN_TIE of the best too, up to twice as many: from a 0.1 %-network of
    # x0*x1 + x0 + (x0 + x1)/sqrt(x0) the first 16 factors all fit within 1.6x of the best, and
    # the law's, 13th, was cut
    count = top if len(originals) <= 2 else top // 3
    ranked = sorted((screen(u), i, u) for i, u in enumerate(units))
    tied = ranked[0][0] * SCREEN_TIE if ranked else 0.0
    for rank, (mse, _, u) in enumerate(ranked[:2 * count]):
        if not mse <= allowed_mse or (rank >= count and not mse <= tied):
            break
        terms = p0 + [Term(u.expr * m.expr, u.values * m.values) for m in p1]
        lattice._decode(terms, y, step, np.ones(len(ys)), allowed_mse, lattice.LAURENT_MAX_COEF, found, MODULATED_GRIDS)
    # P1 a constant: a factor of one variable on a narrow range is collinear with that variable's
    # monomials, so least squares fits the network equally well with any of them and the screen
    # above ranks at random (random-s7-054's x0 - (x1 + 4)*(x2 + 1/2) - exp(x1), x1 in [0.5, 1.5]:
    # exp(x1) ranked 22nd of 62, every factor within 1 % of the best). Only the exact decoding
    # tells them apart (the law 0.27 % off the network, the next decoding 0.45 %), and with one
    # factor column it is cheap enough to run for every tied factor.
    single = sorted((screen(u, p1[:1]), i, u) for i, u in enumerate(units))
    single_tied = min(allowed_mse, single[0][0] * SCREEN_TIE) if single else 0.0
    for mse, _, u in single:
        if not mse <= single_tied:
            break
        lattice._decode(p0 + [u], y, step, np.ones(len(ys)), allowed_mse, lattice.LAURENT_MAX_COEF, found, SINGLE_GRIDS,
                        SINGLE_NODES)
    # a decoding without a factor term is a plain polynomial, the polynomial stages' (on their grids:
    # sixths here turned random-s3-018's 4 %-network of x0 + cos(x1) into x0 + 5/6)
    plain = {t.expr for t in p0}
    # a composition enters only as a modulation (P1 not constant): alone, c*u(w(x)) is a term the
    # few-node search already offers (engines/nested.py), and with P0's exact coefficients it fit a
    # 4 %-network's error: random-s3-018's x0 + cos(x1) came back as x0 + cos(sin(x1))
    modulating = {u * m.expr for u in bare for m in p1[1:]}

    def kept(f: LinearFit) -> bool:
        exprs = {t.expr for t in f.terms}
        return bool(exprs - plain) and not (exprs & bare and not exprs & modulating)
    return sorted((f for f in found.values() if kept(f)), key=lambda f: f.mse)
