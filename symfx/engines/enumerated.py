"""Every small expression of one variable, enumerated bottom-up, as terms for the few-node searches.

The library holds one-node functions of a variable and its powers, products of two of them and
depth-2 compositions; it holds no function of a sum (``log(x + 1)``, ``sin(x**2 + x)``,
``sqrt(x**2 + 1)``) and few quotients of two functions (``sin(x)/x**2``). Rather than add such
families one by one, this module builds every expression of up to ``MAX_NODES`` construction nodes
from the variable, the constants 1 and 2, the operator set's unary functions and its binary
operators, and keeps one expression per distinct column of values (observational equivalence:
``x*x`` and ``x**2`` are one column, the smaller kept). Of the columns the library does not hold
up to scale and offset join the few-node terms (as many as their cap leaves room for), the ones
most correlated with the target or with what its best few-node terms leave unexplained
first. The few-node searches (beam, exact sums, sums with one structured part) then combine them
with the library's terms; polishing refits their inner constants (``log(x + 1)`` -> ``log(x + 3/4)``).

Only for one input: with two, the same enumeration has ~40x the expressions.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import sympy

from .basis import FEW_NODE_CAP, Term, dedupe, few_node_terms
from .derived import Base

__all__ = ["MAX_NODES", "enumerated_terms", "expressions"]

#: construction nodes (variable, constant, function or operator: one each) of the largest
#: expression built; at 5 one variable gives ~2,000 distinct columns in ~0.2 s (256 rows)
MAX_NODES = 5
#: the constants an expression may hold (polishing refits them)
CONSTANTS = (1.0, 2.0)
#: the residuals screened against: the target, and what each of its best this many few-node
#: terms leaves unexplained
SCREEN_RESIDUALS = 4

# a column: how to build its expression (on demand: sympy costs more than the values), its values
_Column = tuple[Callable[[], sympy.Expr], np.ndarray]


def _unary(operators: frozenset[str]) -> list[tuple[str, Callable, Callable]]:
    table = [("sin", sympy.sin, np.sin), ("cos", sympy.cos, np.cos), ("exp", sympy.exp, np.exp),
             ("log", sympy.log, np.log), ("sqrt", sympy.sqrt, np.sqrt), ("tanh", sympy.tanh, np.tanh),
             ("square", lambda a: a**2, np.square), ("div", lambda a: 1 / a, lambda a: 1.0 / a)]
    return [u for u in table if u[0] in operators]


def _bounded_away(values: np.ndarray) -> bool:
    # a divisor (or the argument of 1/u) must stay clear of 0, as for the library's negative powers
    # (basis.power_terms): x0**2 on [0.3, 2.5] divides, though it is not 5 % of its largest value
    magnitudes = np.abs(values)
    return float(magnitudes.min()) > 1e-3 * float(magnitudes.max())


def _built(make: Callable[[], sympy.Expr]) -> Callable[[], sympy.Expr]:
    cache: list[sympy.Expr] = []

    def build() -> sympy.Expr:
        if not cache:
            cache.append(make())
        return cache[0]
    return build


def expressions(base: Base, operators: frozenset[str], max_nodes: int = MAX_NODES) -> list[_Column]:
    """Every expression of ``base`` of up to ``max_nodes`` construction nodes, one per distinct
    finite, non-constant column, smallest first (the variable itself excluded); each as a function
    that builds its sympy expression, and its values."""
    unary = _unary(operators)
    seen = {_key(base.values)}
    levels: dict[int, list[_Column]] = {1: [(lambda: base.expr, base.values)]}

    def keep(out: list[_Column], make: Callable[[], sympy.Expr], values: np.ndarray) -> None:
        if not np.all(np.isfinite(values)) or float(np.max(np.abs(values))) > 1e8:
            return
        if float(np.ptp(values)) <= 1e-9 * (1.0 + float(np.max(np.abs(values)))):
            return  # constant: the fit's offset already is one
        key = _key(values)
        if key not in seen:
            seen.add(key)
            out.append((_built(make), values))

    with np.errstate(all="ignore"):
        for nodes in range(2, max_nodes + 1):
            out: list[_Column] = []
            for e, a in levels[nodes - 1]:
                for name, on_expr, on_values in unary:
                    if (name in ("log", "sqrt") and float(a.min()) <= 0) or (name == "div" and not _bounded_away(a)):
                        continue
                    keep(out, lambda e=e, f=on_expr: f(e()), on_values(a))
            if nodes >= 3:  # one side a constant
                for e, a in levels[nodes - 2]:
                    for c in CONSTANTS:
                        k = sympy.Integer(int(c))
                        _binary(out, keep, operators, (e, a), (lambda k=k: k, np.full_like(a, c)), constant=True)
            for left in range(1, nodes - 1):  # both sides expressions
                right = nodes - 1 - left
                if left > right:
                    break
                for i, (e1, a1) in enumerate(levels[left]):
                    for e2, a2 in levels[right][i if left == right else 0:]:
                        _binary(out, keep, operators, (e1, a1), (e2, a2), constant=False)
            levels[nodes] = out
    return [c for n in range(2, max_nodes + 1) for c in levels[n]]


def _binary(out, keep, operators: frozenset[str], first: _Column, second: _Column, constant: bool) -> None:
    (e1, a1), (e2, a2) = first, second
    if "add" in operators:
        keep(out, lambda: e1() + e2(), a1 + a2)
    if "sub" in operators:
        keep(out, lambda: e1() - e2(), a1 - a2)
        keep(out, lambda: e2() - e1(), a2 - a1)
    if "mul" in operators and not constant:  # a constant factor is the fit's coefficient
        keep(out, lambda: e1() * e2(), a1 * a2)
    if "div" in operators:
        if not constant and _bounded_away(a2):
            keep(out, lambda: e1() / e2(), a1 / a2)
        if _bounded_away(a1):
            keep(out, lambda: e2() / e1(), a2 / a1)


def _key(values: np.ndarray) -> bytes:
    # equal columns to float32 precision: sympy's forms of one function evaluate a few ulps apart
    return np.asarray(values[:64], dtype=np.float32).tobytes()


def enumerated_terms(bases: Sequence[Base], operators: frozenset[str], known: Sequence[Term],
                     y: np.ndarray) -> list[Term]:
    """For one input: the enumerated expressions that ``known`` does not hold up to scale and
    offset, as many as the few-node terms have room for (``FEW_NODE_CAP``), screened by their
    largest correlation with ``y`` or with what one of ``y``'s best ``SCREEN_RESIDUALS`` few-node
    terms of ``known`` leaves unexplained. All of them are few-node terms, whatever sympy's node
    count of their expression (``log(x0**2 + 1)`` counts 6)."""
    originals = [b for b in bases if not b.derived]
    if len(originals) != 1:
        return []
    few_known = [known[i] for i in few_node_terms(known)]
    room = FEW_NODE_CAP - len(few_known)
    if room <= 0:
        return []
    columns = expressions(originals[0], operators)
    # a Term per column (its expression built later, for the kept ones); size 3 so that the library's
    # term wins a tie in the dedupe
    fresh = [Term(sympy.Integer(0), v, size=3) for _, v in columns]
    build = {id(t): make for t, (make, _) in zip(fresh, columns)}
    old = {id(t) for t in known}
    fresh = [t for t in dedupe(list(known) + fresh) if id(t) not in old]
    if len(fresh) > room:
        fresh = _screened(fresh, few_known, y, room)
    return [Term(build[id(t)](), t.values, size=3) for t in fresh]


def _screened(fresh: list[Term], few_known: list[Term], y: np.ndarray, room: int) -> list[Term]:
    residuals = [_standard(y)]
    if few_known:
        ranked = sorted(few_known, key=lambda t: -abs(float(_standard(t.values) @ residuals[0])))
        for t in ranked[:SCREEN_RESIDUALS]:
            residuals.append(_standard(_residual(y, t.values)))
    R = np.stack(residuals)  # [residuals, rows]
    T = np.stack([_standard(t.values) for t in fresh])  # [terms, rows]
    score = np.abs(T @ R.T).max(axis=1)
    order = np.argsort(-score, kind="stable")[:room]
    return [fresh[i] for i in sorted(order)]  # smallest first, as built


def _standard(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean()
    norm = float(np.linalg.norm(centred))
    return centred / norm if norm > 0 and math.isfinite(norm) else centred * 0.0


def _residual(y: np.ndarray, values: np.ndarray) -> np.ndarray:
    A = np.stack([values, np.ones_like(values)], axis=1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return y - A @ coef
