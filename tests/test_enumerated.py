"""Small expressions of one variable, enumerated bottom-up (engines/enumerated.py), as few-node terms."""
from __future__ import annotations

import numpy as np
import sympy

from symfx.config import DEFAULT_OPERATORS, Config
from symfx.engines import basis, derived, enumerated, get_engine
from symfx.lowering import evaluate_columns

x0 = sympy.Symbol("x0")
OPS = frozenset(DEFAULT_OPERATORS)


def _base(lo: float = 0.3, hi: float = 2.5, rows: int = 1000) -> derived.Base:
    X = np.random.default_rng(0).uniform(lo, hi, (rows, 1))
    return derived.bases(X, ["x0"])[0]


def test_every_small_expression_once_smallest_first():
    columns = enumerated.expressions(_base(), OPS)
    exprs = [make() for make, _ in columns]
    # functions of sums and quotients, which the library's families do not write
    for want in (sympy.log(x0 + 1), sympy.sqrt(x0**2 + 1), sympy.sin(x0**2 + x0), sympy.sin(x0) / x0**2,
                 sympy.exp(-x0) * sympy.cos(x0)):
        assert want in exprs, want
    # one expression per column of values: x0*x0 is x0**2, log(x0**2) is 2*log(x0) up to scale only (kept)
    keys = {np.asarray(v[:64], dtype=np.float32).tobytes() for _, v in columns}
    assert len(keys) == len(columns)
    assert sympy.log(x0**2) in exprs and sympy.log(x0) in exprs
    # smallest first: construction nodes never decrease along the list
    assert exprs.index(sympy.sin(x0)) < exprs.index(sympy.sin(sympy.sin(x0))) < exprs.index(sympy.log(x0 + 1))
    # only where defined and tame: no log or sqrt of a column that reaches 0 or below, no 1/u near 0
    negative = enumerated.expressions(_base(-2.0, 2.0), OPS)
    assert all(not (isinstance(make(), sympy.log) and make().args[0] == x0) for make, _ in negative)
    assert all(np.all(np.isfinite(v)) for _, v in negative)


def test_terms_skip_what_the_library_holds_and_respect_the_cap():
    base = _base()
    bases = [base]
    y = 3 * np.sqrt(base.values**2 + 1) - base.values
    library = basis.build_library(bases, OPS)
    nested = basis.nested_terms(bases, OPS, library)
    known = list(library) + nested
    terms = enumerated.enumerated_terms(bases, OPS, known, y)
    room = basis.FEW_NODE_CAP - len(basis.few_node_terms(known))
    assert 0 < len(terms) <= room
    assert sympy.sqrt(x0**2 + 1) in [t.expr for t in terms]  # screened in: it is y's own term
    # none equals a known column up to scale and offset
    assert len(basis.dedupe(known + terms)) == len(basis.dedupe(known)) + len(terms)
    # two inputs: nothing (the enumeration would be ~40x larger)
    two = derived.bases(np.random.default_rng(0).uniform(0.3, 2.5, (200, 2)), ["x0", "x1"])
    assert enumerated.enumerated_terms(two, OPS, known, y[:200]) == []


def test_a_function_of_a_sum_is_on_the_front_only_with_enumeration():
    X = np.random.default_rng(0).uniform(0.3, 2.5, (1000, 1))
    truth = 3 * sympy.sqrt(x0**2 + 1) - x0
    want = evaluate_columns([truth], [x0], X)[:, 0]
    y = want + 0.01 * want.std() * np.sin(3 * X[:, 0] + 1)  # a smooth 1 % error, as a network's

    def found(enumerate_: bool) -> bool:
        front = get_engine("operon").fit(X, y[:, None], ["x0"], Config(
            time_budget=6, engine_options={"gp": False, "enumerate": enumerate_}))[0]
        return any(np.max(np.abs(evaluate_columns([m.expr], [x0], X)[:, 0] - want)) < 1e-6 for m in front)

    assert found(True)
    assert not found(False)
