"""Nested terms: compositions of one variable and one-node functions of a pair's sum, difference,
product and ratios (``exp(sin(x0))``, ``cos(x0 + x1)``, ``sqrt(x1/x0)``).

A grammar's nesting, which no sum or product of library terms writes. They are searched with the
few-node terms and by the transformed sums, not in the library's beam (see :func:`nested_terms`).
Split from ``basis.py``.
"""
from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np
import sympy

from .basis import Term, _dedupe, _ok, away_from_zero, unary_terms
from .derived import Base

#: up to this many inputs, the few-node searches also see compositions of one variable
#: (``composed_terms``) and the one-node functions of each pair's sum, difference, product and ratios
#: (``joined_bases``): ``nested_terms``. With more, ~50 columns a variable and ~60 a pair are too many
COMPOSED_INPUTS = 3


def composed_terms(base: Base, operators: frozenset[str]) -> list[Term]:
    """Depth-2 compositions of one variable, ``u(w(x))`` for one-node functions ``u`` and ``w`` of
    the operator set (``exp(sin(x))``, ``log(cos(x))``, ``exp(1/x)``, ``1/cos(sin(x))``,
    ``sqrt(log(x))``): a grammar's nesting, which no sum or product of library terms writes and
    the genetic stage, searching all shapes at once, rarely assembles in its budget. Each ``u`` and
    ``w`` only where it is defined and tame on the data (``log`` of a positive, ``1/`` of a
    function bounded away from 0); compositions equal to another column (``exp(log(x))``) are
    dropped by the library's dedupe. About 50 columns per variable."""
    v, e = base.values, base.expr
    inner: list[tuple[sympy.Expr, np.ndarray]] = []
    outer: list[tuple[str, Callable, Callable]] = []  # (operator, on sympy, on numpy)
    with np.errstate(all="ignore"):
        if {"sin", "cos"} & operators:
            inner += [(sympy.sin(e), np.sin(v)), (sympy.cos(e), np.cos(v))]
            outer += [("sin", sympy.sin, np.sin), ("cos", sympy.cos, np.cos)]
        if "exp" in operators:
            inner += [(sympy.exp(e), np.exp(v)), (sympy.exp(-e), np.exp(-v))]
            outer.append(("exp", sympy.exp, np.exp))
        if "log" in operators:
            if np.all(v > 0):
                inner.append((sympy.log(e), np.log(v)))
            outer.append(("log", sympy.log, np.log))
        if "sqrt" in operators:
            if np.all(v >= 0):
                inner.append((sympy.sqrt(e), np.sqrt(v)))
            outer.append(("sqrt", sympy.sqrt, np.sqrt))
        if "tanh" in operators:
            inner.append((sympy.tanh(e), np.tanh(v)))
            outer.append(("tanh", sympy.tanh, np.tanh))
        if "div" in operators:
            if away_from_zero(v):
                inner.append((1 / e, 1.0 / v))
            outer.append(("div", lambda a: 1 / a, lambda a: 1.0 / a))
        out = []
        for w_expr, w in inner:
            if not np.all(np.isfinite(w)):
                continue
            for name, u_expr, u in outer:
                if (name in ("log", "sqrt") and not np.all(w > 0)) or (name == "div" and not away_from_zero(w)):
                    continue
                values = u(w)
                if _ok(values):
                    out.append(Term(u_expr(w_expr), values, size=2))
    return out


def joined_bases(a: Base, b: Base) -> list[Base]:
    """``a + b``, ``a - b``, ``a * b`` and (where the divisor stays away from 0) ``a / b`` and
    ``b / a`` as bases of their own: ``cos(x0 + x1)``, ``sin(x1 - x2)``, ``exp(x0*x1)`` and
    ``cos(x1/x2)`` are a grammar's unary functions of two variables, no sum or product of library terms."""
    out = [Base(sympy.Dummy(), a.expr + b.expr, a.values + b.values),
           Base(sympy.Dummy(), a.expr - b.expr, a.values - b.values),
           Base(sympy.Dummy(), a.expr * b.expr, a.values * b.values)]
    for num, den in ((a, b), (b, a)):
        if away_from_zero(den.values):
            out.append(Base(sympy.Dummy(), num.expr / den.expr, num.values / den.values))
    return out


def _root_and_reciprocal(base: Base, operators: frozenset[str]) -> list[Term]:
    """``sqrt(j)``, ``1/sqrt(j)`` and ``1/j`` of a joined base ``j`` (``sqrt(x1/x0)``, ``1/(x0 + x1)``):
    the grammar's other one-node functions, which a single variable's powers hold for it alone.
    Each only where defined and tame: a root of a positive ``j``, a reciprocal of one away from 0."""
    v, e = base.values, base.expr
    # a ratio's reciprocals are the other ratio's terms, written the plain way (sqrt(x1/x0))
    ratio = any(f.is_Pow and f.exp.is_negative for f in sympy.Mul.make_args(e))
    out: list[Term] = []
    with np.errstate(all="ignore"):
        if "sqrt" in operators and np.all(v > 0):
            out.append(Term(sympy.sqrt(e), np.sqrt(v)))
            if "div" in operators and away_from_zero(v) and not ratio:
                out.append(Term(1 / sympy.sqrt(e), 1.0 / np.sqrt(v)))
        if "div" in operators and away_from_zero(v) and not ratio:
            out.append(Term(1 / e, 1.0 / v))
    return [t for t in out if _ok(t.values)]


def nested_terms(bases: Sequence[Base], operators: frozenset[str], library: Sequence[Term]) -> list[Term]:
    """For up to ``COMPOSED_INPUTS`` inputs: each variable's compositions (:func:`composed_terms`) and
    the one-node functions of each pair's sum, difference, product and ratios (:func:`joined_bases`),
    less the columns ``library`` already holds (up to scale and offset: ``log(exp(x))`` is ``x``).

    They are searched with the few-node terms, not in the library's beam: in the beam their ~50
    columns a variable led the greedy first steps off Hooke's law (``3*x0 - 3*x0/r``, whose two
    terms are each a poor fit alone), which the 8-wide beam then no longer reached."""
    originals = [b for b in bases if not b.derived]
    if len(originals) > COMPOSED_INPUTS:
        return []
    terms = [t for b in originals for t in composed_terms(b, operators)]
    terms += [t for a, b in itertools.combinations(originals, 2) for joined in joined_bases(a, b)
              for t in unary_terms(joined, operators)]
    return _unseen([t for t in terms if _ok(t.values)], library)


def root_terms(bases: Sequence[Base], operators: frozenset[str], known: Sequence[Term]) -> list[Term]:
    """For up to ``COMPOSED_INPUTS`` inputs: ``sqrt``, ``1/sqrt`` and ``1/`` of each pair's sum,
    difference, product and ratios (:func:`_root_and_reciprocal`), less the columns ``known`` holds.

    They are the inner terms of the output transforms only (``transformed.transformed_sums``:
    ``sin(sqrt(x1/x0))`` is ``arcsin(y) = sqrt(x1/x0)``). In the few-node search their columns led
    the beam off a four-term law (``tests/test_search_families.py``), as the nested terms did in
    the library's beam."""
    originals = [b for b in bases if not b.derived]
    if len(originals) > COMPOSED_INPUTS:
        return []
    terms = [t for a, b in itertools.combinations(originals, 2) for joined in joined_bases(a, b)
             for t in _root_and_reciprocal(joined, operators)]
    return _unseen(terms, known)


def _unseen(terms: Sequence[Term], known: Sequence[Term]) -> list[Term]:
    """``terms`` deduplicated, less the columns ``known`` holds (``_dedupe``'s sense of equal)."""
    old = {id(t) for t in known}
    return [t for t in _dedupe(list(known) + list(terms)) if id(t) not in old]
