"""Laws that are a polynomial times a factor: ``u(x) * P(x)``, with ``u`` a single-variable term
(or the product of two, of different variables) and ``P`` a polynomial of degree at most 2 with
integer or half-integer coefficients. ``(x0 + x1*x3)*exp(cos(x2))`` is such a law; it is no sum
of few library terms (its expansion is, but a 2 % network hides the second product among
hundreds), no power law and no rational. Fitted by linear algebra (``operon._fast_pass``).
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import sympy

from .basis import Term, polynomial_terms, unary_terms
from .derived import Base
from .families import exact_polynomials

#: compositions f(g(x)) of one variable offered as factors beside the library's unary terms:
#: each pair of distinct functions of exp, sin, cos (exp(cos(x)), sin(exp(x)), cos(sin(x)), ...)
_COMPOSED = (("exp", np.exp, sympy.exp), ("sin", np.sin, sympy.sin), ("cos", np.cos, sympy.cos))

#: beyond this many inputs the screen (each factor times every degree-2 monomial) is too slow:
#: 32 inputs' 560 monomials times 600 factors took 22 s
MAX_INPUTS = 5

#: a fitted coefficient of 100 or more in ``P`` is a mimic's, not a law's (2 significant digits)
MAX_NUMERATOR = 100


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
    """Laws ``u * P + c`` within ``allowed_mse`` of ``y``, for 2 to ``MAX_INPUTS`` input variables.

    Every factor ``u`` is screened by one least-squares fit of ``y`` on ``u`` times every monomial
    of degree <= 2 (``rows`` rows); the ``pair_from`` best single factors are multiplied in pairs
    of different variables and screened too. The ``top`` best within ``allowed_mse`` go to
    :func:`families.exact_polynomials` over the terms ``u * m``: exact small coefficients are the
    test, as for output transforms. One variable's degree-6 polynomial times any factor fits
    anything, so outputs of one variable are left to the other families.
    """
    originals = [b for b in bases if not b.derived]
    if not 2 <= len(originals) <= MAX_INPUTS:
        return []
    poly = polynomial_terms(bases, degree=2)
    step = max(1, len(y) // rows)
    ys = y[::step]
    design = np.column_stack([np.ones(len(ys))] + [t.values[::step] for t in poly])

    def screen(u: Term) -> float:
        A = np.column_stack([u.values[::step, None] * design, np.ones(len(ys))])
        coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
        return float(np.mean((A @ coef - ys) ** 2))

    singles = sorted(((screen(u), i, u) for i, u in enumerate(factors(originals, operators))), key=lambda t: t[:2])
    best = [u for _, _, u in singles[:pair_from]]
    pairs = [Term(a.expr * b.expr, a.values * b.values) for a, b in itertools.combinations(best, 2)
             if a.expr.free_symbols != b.expr.free_symbols]
    scored = singles + [(screen(u), len(singles) + i, u) for i, u in enumerate(pairs)]
    out: list[sympy.Expr] = []
    for mse, _, u in sorted(scored, key=lambda t: t[:2])[:top]:
        if mse > allowed_mse:
            break
        terms = [u] + [Term(u.expr * t.expr, u.values * t.values) for t in poly]
        # exact_polynomials returns thinned copies of the terms: map them back by expression
        monomial_of = dict(zip((t.expr for t in terms), [sympy.Integer(1)] + [t.expr for t in poly]))
        for fit in exact_polynomials(terms, y, allowed_mse, max_subsets=600, per_size=3, rows=rows):
            if any(abs(c.p) >= MAX_NUMERATOR for c in fit.exact):
                continue
            p = sympy.Add(*[c * monomial_of[t.expr] for c, t in zip(fit.exact[:-1], fit.terms)])
            out.append(u.expr * p + fit.exact[-1])
    return out
