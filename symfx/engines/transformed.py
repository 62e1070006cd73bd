"""Laws that are a sum of library terms after transforming the output: ``y = g⁻¹(S(x))``.

``(x0 + x1**-2)**3`` is no short sum of library terms, but its cube root is ``x0 + x1**-2``;
``sqrt(x0 + x1**2)`` squared, ``exp(x0*x1 + sin(x2))``'s log, ``1/(x0 + cos(x1))``'s reciprocal
are sums too. AI Feynman's transform step, over the whole term library rather than polynomials
(``families.transformed_polynomials`` keeps exact polynomial coefficients; here the sums are rough,
and the caller refits and snaps them against ``y`` itself).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import sympy

from .basis import Term, beam_search, fit_subset
from .families import _transforms

#: best subsets kept per size and transform (each costs a refit and snap downstream)
PER_SIZE = 2


def transformed_sums(terms: Sequence[Term], y: np.ndarray, max_terms: int = 3, beam: int = 6, rows: int = 1024,
                     seed: int = 0, deadline: float = math.inf,
                     operators: frozenset[str] | None = None) -> list[sympy.Expr]:
    """``g⁻¹(S)`` for each output transform ``g`` and the ``PER_SIZE`` best library sums ``S`` of
    each size up to ``max_terms`` fitted to ``g(y)``, rough (least-squares coefficients).

    A row's residual on ``g(y)`` is its residual on ``y`` times ``g'(y)``, so the search ranks on
    rows drawn with probability proportional to ``1/g'(y)**2``: unweighted, the reciprocal of a
    network's output is ruled by its rows near zero, and the cube root by its rows near zero too.
    With ``operators``, only transforms whose inverse they can write (``exp(y)`` needs ``log``).
    """
    import time

    rng = np.random.default_rng(seed)
    scored: list[tuple[int, float, sympy.Expr]] = []
    for target, weight, inverse, inverse_values in _transforms(y, operators, roots=True):
        if time.perf_counter() > deadline:
            break
        p = weight**2
        if not np.isfinite(p.sum()) or p.sum() <= 0:
            continue
        idx = rng.choice(len(y), rows, replace=True, p=p / p.sum())
        drawn = [Term(t.expr, t.values[idx]) for t in terms]
        subsets = beam_search(drawn, target[idx], max_terms=max_terms, beam=beam, rows=rows, seed=seed,
                              deadline=deadline)
        by_size: dict[int, list] = {}
        for s in subsets:
            fit = fit_subset(drawn, s, target[idx])
            by_size.setdefault(len(s), []).append((fit.mse, s, fit))
        for size, group in by_size.items():
            for _, s, fit in sorted(group, key=lambda g: g[0])[:PER_SIZE]:
                values = fit.intercept + sum((c * terms[k].values for c, k in zip(fit.coefs, s)), np.zeros_like(y))
                with np.errstate(all="ignore"):
                    mse = float(np.mean((inverse_values(values) - y) ** 2))
                if math.isfinite(mse):
                    scored.append((size, mse, inverse(fit.expr())))
    # only sums that beat every smaller one by 1 % on y itself: the rest would not reach the front
    out, best = [], math.inf
    for size, mse, law in sorted(scored, key=lambda t: (t[0], t[1])):
        if mse < 0.99 * best and law not in out:
            out.append(law)
            best = mse
    return out
