"""Derived variables: pairwise differences and norms of pairs, as extra input columns.

Every engine missed the laws built on a distance ``r = sqrt(dx**2 + dy**2)``: the search
has to invent the norm, then divide by it. Offering ``r`` as one more column makes
``2*x0/r**3`` a three-node tree. Each derived column carries its expression in the
original variables, so results are substituted back before anyone sees them.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy


@dataclass(frozen=True)
class Base:
    """One input column for the search: an original variable or a derived one."""

    symbol: sympy.Symbol  # the name the search uses for it
    expr: sympy.Expr  # the same quantity in the original variables
    values: np.ndarray
    derived: bool = False
    nonlinear: bool = False  # False for a difference, which is linear in the originals


def bases(
    X: np.ndarray, variables: Sequence[str], *, norms: bool = True, differences: bool = True, max_pairs: int = 10
) -> list[Base]:
    """The original columns, then norms ``sqrt(xi**2 + xj**2)`` and differences ``xi - xj`` of pairs."""
    syms = [sympy.Symbol(v) for v in variables]
    out = [Base(s, s, np.asarray(X[:, i], dtype=np.float64)) for i, s in enumerate(syms)]
    pairs = list(itertools.combinations(range(len(syms)), 2))[:max_pairs]
    for k, (i, j) in enumerate(pairs):
        a, b = out[i].values, out[j].values
        if norms:
            r = np.sqrt(a * a + b * b)
            if _new(r, out):
                out.append(Base(sympy.Symbol(f"_r{k}"), sympy.sqrt(syms[i] ** 2 + syms[j] ** 2), r,
                                derived=True, nonlinear=True))
        if differences and len(syms) <= 5:  # beyond five inputs the library would grow too large
            d = a - b
            # a difference is worth a column only if it is not almost always of one size
            if np.std(d) > 1e-9 and np.min(np.abs(d)) > 0 and _new(d, out):
                out.append(Base(sympy.Symbol(f"_d{k}"), syms[i] - syms[j], d, derived=True))
    return out


def _new(values: np.ndarray, columns: Sequence[Base], rel: float = 1e-5) -> bool:
    """False when ``values`` repeats a column already there (up to float32 rounding).

    A model often gets the distance as an input next to the offsets it comes from (a GNN edge
    with dx, dy and r). A derived norm equal to that input only lets the search write the same
    law twice, e.g. ``dx*sqrt(dx**2 + dy**2)/r`` for ``dx``; the input itself is the readable name.
    """
    scale = rel * (1.0 + float(np.max(np.abs(values)))) if values.size else 0.0
    return all(values.shape != c.values.shape or float(np.max(np.abs(values - c.values))) > scale for c in columns)


def substitute(expr: sympy.Expr, used: Sequence[Base]) -> sympy.Expr:
    """Replace derived symbols by their expressions in the original variables (:func:`as_real`).

    With plain (complex) symbols, sympy's automatic evaluation of a function of a norm, e.g. a GP
    member's ``tanh(tanh(241.4*sqrt(x0**2 + x3**2) - 291.3))``, asks assumptions it cannot settle
    and took 40 s for one member; with real inputs they are settled at once.
    """
    mapping = {b.symbol: b.expr for b in used if b.derived}
    if not mapping or not (expr.free_symbols & mapping.keys()):
        return expr
    return as_real(expr, mapping)


def as_real(expr: sympy.Expr, mapping: dict | None = None) -> sympy.Expr:
    """``expr`` (with ``mapping`` substituted) evaluated as sympy evaluates it for real inputs, in
    the same plain symbols: ``1/sqrt(exp(x0**2))`` is ``exp(-x0**2/2)``, ``Abs(sqrt(x0**2 + x1**2))``
    is ``sqrt(x0**2 + x1**2)``. The inputs are real data. Evaluated with real twins of the symbols,
    then renamed back unevaluated (the structure is already evaluated)."""
    mapping = mapping or {}
    plain = set(expr.free_symbols - mapping.keys()).union(*(e.free_symbols for e in mapping.values()))
    twin = {s: sympy.Symbol(s.name, real=True) for s in plain if not s.is_real}
    real_form = expr.xreplace({**{k: v.xreplace(twin) for k, v in mapping.items()}, **twin})
    with sympy.evaluate(False):
        return real_form.xreplace({t: s for s, t in twin.items()})
