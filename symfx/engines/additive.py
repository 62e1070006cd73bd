"""Sums with one structured part: ``y = (sum of library terms) + g(x_S)``.

A law such as ``x4 - x1*x3 - sqrt(x2) + 1/(x0**2 + x1)`` is a short sum of library terms plus
one term no library holds (a rational, a power law, a product of one-variable functions) on a
few of the inputs. Neither search finds it alone: the beam has no column for ``1/(x0**2 + x1)``
and mimics it with terms of every variable; the structured families (``rationals``,
``families``) fit the whole output and see the other terms as error.

Backfitting with a flexible stand-in separates them. For an input subset ``S``, a polynomial of
``x_S`` (a smooth stand-in for any ``g(x_S)``) is projected out of the output and of the few-node
library terms that do not lie within ``S``; the beam then picks the sum part from those, and the
subset whose sum part fits best goes on (one per subset size). What its sum part leaves,
``y - sum``, is a function of ``x_S`` alone (plus an offset), which the structured families
(null-space rationals, power laws, separable products) fit on ``S``'s variables. The best of
those are refitted jointly with the sum's terms.

The constants are rough; the caller (``operon.py``) refits and snaps them.
"""
from __future__ import annotations

import itertools
import math
import time
from typing import Sequence

import numpy as np
import sympy

from ..lowering import evaluate
from . import families, rationals
from .basis import Term, beam_search, number, polynomial_terms
from .derived import Base

#: rows the subsets are ranked on
RANK_ROWS = 400
#: the largest subset of inputs the structured part may use
MAX_SUBSET = 3


def _stand_in(originals: Sequence[Base], subset: Sequence[int], idx: np.ndarray) -> np.ndarray:
    """Columns of a smooth stand-in for any function of the subset's variables: its monomials (degree 5
    for one variable, 3 for two, 2 for three), reciprocals of one-signed variables and their squares."""
    chosen = [originals[i] for i in subset]
    degree = 5 if len(chosen) == 1 else (3 if len(chosen) == 2 else 2)
    cols = [t.values[idx] for t in polynomial_terms(chosen, degree=degree)]
    for b in chosen:
        v = b.values[idx]
        if np.all(v > 0) or np.all(v < 0):
            cols += [1.0 / v, 1.0 / (v * v)]
    return np.column_stack(cols + [np.ones(len(idx))])


def _project_out(B: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``M`` minus its least-squares projection on the columns of ``B``."""
    Q, _ = np.linalg.qr(B)
    return M - Q @ (Q.T @ M)


def structured_sums(
    bases: Sequence[Base], library: Sequence[Term], few: Sequence[int], y: np.ndarray, operators: frozenset[str],
    max_terms: int = 4, beam: int = 8, seed: int = 0, deadline: float = math.inf,
) -> list[sympy.Expr]:
    """Sums of library terms plus one structured term on an input subset (see the module's text).

    The sum part is drawn from ``few`` (indices of the library's few-node terms): the structured
    part carries a law's complexity, and a beam over all terms found mixtures of every variable
    (``1/(x3*(1 + exp(-x4)))``) in place of ``x4 - x1*x3``. Returns rough expressions.
    """
    originals = [b for b in bases if not b.derived]
    n = len(originals)
    if n < 2 or len(few) < 2:
        return []
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), RANK_ROWS, replace=False) if len(y) > RANK_ROWS else np.arange(len(y))
    symbol_of = [b.symbol for b in originals]
    variables = {k: frozenset(library[k].expr.free_symbols) for k in few}
    L = np.column_stack([library[k].values[rows] for k in few])

    # 1. every subset S: the stand-in for g(x_S) projected out, the beam picks the sum part; the
    # best subset of each size goes on (a larger S has a more flexible stand-in, so sizes are not
    # ranked against each other)
    ranked: dict[int, list[tuple[float, tuple[int, ...], list[tuple[int, ...]]]]] = {}
    for size in range(1, min(MAX_SUBSET if n <= 4 else 2, n - 1) + 1):
        for subset in itertools.combinations(range(n), size):
            if time.perf_counter() > deadline:
                break
            inside = frozenset(symbol_of[i] for i in subset)
            pool = [j for j, k in enumerate(few) if not variables[k] <= inside]
            if not pool:
                continue
            # terms and output projected together: one factorisation of the stand-in per subset
            projected = _project_out(_stand_in(originals, subset, rows), np.column_stack([L[:, pool], y[rows]]))
            T, r = projected[:, :-1], projected[:, -1]
            found = beam_search([Term(None, T[:, j]) for j in range(len(pool))], r, max_terms=max_terms, beam=beam,
                                rows=len(rows), seed=seed, deadline=deadline)
            best: dict[int, tuple[float, tuple[int, ...]]] = {}  # per sum size: (rss, library indices)
            for sub in found:
                A = T[:, list(sub)]
                coef, *_ = np.linalg.lstsq(A, r, rcond=None)
                rss = float(np.sum((r - A @ coef) ** 2))
                if len(sub) not in best or rss < best[len(sub)][0]:
                    best[len(sub)] = (rss, tuple(few[pool[j]] for j in sub))
            if best:
                parts = [terms for _, terms in sorted(best.values())[:2]]
                ranked.setdefault(size, []).append((min(best.values())[0], subset, parts))
    chosen = [min(group, key=lambda g: g[0]) for _, group in sorted(ranked.items())]

    # 2. what each sum part leaves, fitted on the subset's variables by the structured families
    out: list[sympy.Expr] = []
    for _, subset, parts in chosen:
        sub_bases = [originals[i] for i in subset]
        stand_in = _stand_in(originals, subset, np.arange(len(y)))
        for terms in parts:
            if time.perf_counter() > deadline:
                break
            S = np.column_stack([library[k].values for k in terms])
            A = np.column_stack([S, stand_in])
            coef, *_ = np.linalg.lstsq(A, y, rcond=None)
            rest = y - S @ coef[: len(terms)]
            out += _joint(_rest_shapes(sub_bases, rest, operators, seed, deadline), terms, library, originals, y)
    return out


def _rest_shapes(sub_bases: Sequence[Base], rest: np.ndarray, operators: frozenset[str], seed: int,
                 deadline: float) -> list[sympy.Expr]:
    """What a sum part leaves, fitted on the subset's variables by the structured families."""
    shapes = rationals.rational_nullspace(sub_bases, rest, max_terms=6, deadline=deadline)
    shapes += families.power_laws(sub_bases, rest)
    if len(sub_bases) >= 2:
        shapes += families.separable_products(sub_bases, rest, operators, seed=seed)
    return shapes


def member_splits(bases: Sequence[Base], members: Sequence[sympy.Expr], y: np.ndarray,
                  operators: frozenset[str], seed: int = 0, deadline: float = math.inf) -> list[sympy.Expr]:
    """Front members (sums) with their terms on an input subset ``S`` replaced by one structured
    term on ``S``: the sum part is the member's other terms, not a beam's pick.

    A member often holds a law's hard part and mimics the rest with terms of a few inputs:
    ``-0.3*x0 + 0.89 + x4*(x1 + x2)/x3`` for ``1/(x0 + 3/4) + x4*(x1 + x2)/x3``, whose sum part
    (two products of three inputs) no few-node pool of :func:`structured_sums` holds. For every
    ``S`` (up to ``MAX_SUBSET`` inputs) that holds some but not all of a member's terms, the kept
    terms and the output have the stand-in for ``g(x_S)`` projected out; the best (member, ``S``)
    of each subset size goes on, and its rest is fitted on ``S`` as in :func:`structured_sums`.
    Returns rough expressions."""
    originals = [b for b in bases if not b.derived]
    n = len(originals)
    if n < 2:
        return []
    env = {b.symbol: b.values for b in originals}
    sums: list[list[Term]] = []
    for member in members:
        sums.append([])
        for arg in sympy.Add.make_args(member):
            with np.errstate(all="ignore"):
                v = np.broadcast_to(np.asarray(evaluate(arg, env), dtype=np.float64), y.shape) if arg.free_symbols else None
            if v is not None and np.all(np.isfinite(v)):
                sums[-1].append(Term(arg, v))
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), RANK_ROWS, replace=False) if len(y) > RANK_ROWS else np.arange(len(y))
    symbol_of = [b.symbol for b in originals]
    ranked: dict[int, tuple[float, tuple[int, ...], tuple[Term, ...]]] = {}  # per size: (rss, S, kept)
    for size in range(1, min(MAX_SUBSET if n <= 4 else 2, n - 1) + 1):
        for subset in itertools.combinations(range(n), size):
            inside = frozenset(symbol_of[i] for i in subset)
            stand_in = None
            for terms in sums:
                kept = tuple(t for t in terms if not t.expr.free_symbols <= inside)
                if not kept or len(kept) == len(terms) or time.perf_counter() > deadline:
                    continue
                if stand_in is None:
                    stand_in = _stand_in(originals, subset, rows)
                M = np.column_stack([t.values[rows] for t in kept] + [y[rows]])
                projected = _project_out(stand_in, M)
                coef, *_ = np.linalg.lstsq(projected[:, :-1], projected[:, -1], rcond=None)
                rss = float(np.sum((projected[:, -1] - projected[:, :-1] @ coef) ** 2))
                if size not in ranked or rss < ranked[size][0]:
                    ranked[size] = (rss, subset, kept)
    out: list[sympy.Expr] = []
    for _, subset, kept in ranked.values():
        if time.perf_counter() > deadline:
            break
        S = np.column_stack([t.values for t in kept])
        coef, *_ = np.linalg.lstsq(np.column_stack([S, _stand_in(originals, subset, np.arange(len(y)))]), y,
                                   rcond=None)
        rest = y - S @ coef[: len(kept)]
        shapes = _rest_shapes([originals[i] for i in subset], rest, operators, seed, deadline)
        out += _joint(shapes, range(len(kept)), kept, originals, y)
    return out


def _joint(shapes: Sequence[sympy.Expr], terms: Sequence[int], library: Sequence[Term],
           originals: Sequence[Base], y: np.ndarray, keep: int = 2) -> list[sympy.Expr]:
    """The ``keep`` structured parts that fit best next to the sum's terms, each refitted with them:
    ``intercept + sum(c_k * term_k) + c * shape`` (the shape's own constants stay as fitted)."""
    symbols = [b.symbol for b in originals]
    env = {s: b.values for s, b in zip(symbols, originals)}
    S = np.column_stack([library[k].values for k in terms] + [np.ones(len(y))])
    scored = []
    for shape in shapes:
        shape = sympy.expand(shape) if shape.is_Add else shape
        try:
            with np.errstate(all="ignore"):
                g = np.broadcast_to(np.asarray(evaluate(shape, env), dtype=np.float64), y.shape)
        except Exception:  # an expression the evaluator cannot take is no candidate
            continue
        if not np.all(np.isfinite(g)) or float(np.std(g)) == 0.0:
            continue
        A = np.column_stack([S, g])
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        mse = float(np.mean((A @ coef - y) ** 2))
        if math.isfinite(mse):
            scored.append((mse, shape, coef))
    out = []
    for mse, shape, coef in sorted(scored, key=lambda s: s[0])[:keep]:
        expr = number(coef[-2]) + number(coef[-1]) * shape
        out.append(expr + sympy.Add(*[number(c) * library[k].expr for c, k in zip(coef, terms)]))
    return out
