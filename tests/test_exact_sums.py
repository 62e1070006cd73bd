"""Sums of library terms with exact coefficients (engines/exact_sums.py) and hyperbolic forms
(forms.hyperbolic), on outputs of trained networks that mimics fit better than the law does."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import sympy

from symfx.config import Config
from symfx.engines import Candidate, basis, derived, exact_sums, forms, get_engine, snap
from symfx.lowering import evaluate_columns
from symfx.passes.fit import select

x0, x1, x2, x3 = sympy.symbols("x0:4")
DATA = Path(__file__).parent / "data"
OPS = frozenset(("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "sqrt", "tanh"))


def _network(name: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(DATA / name)
    return data["X"].astype(np.float64), data["y"].astype(np.float64)


def _same(expr: sympy.Expr, truth: sympy.Expr, X: np.ndarray) -> bool:
    syms = list(sympy.symbols(f"x0:{X.shape[1]}"))
    a, b = (evaluate_columns([e], syms, X)[:, 0] for e in (expr, truth))
    return bool(np.max(np.abs(a - b)) < 1e-9 * (1 + np.max(np.abs(b))))


def test_exact_pairs_find_cosh_where_16_mimic_pairs_fit_the_network_better():
    """Outputs of a 2x64 SiLU network 0.3 % off cosh(x0) on [-1, 1] (tests/data, 1000 rows). The
    free beam's best pairs all fit it better than {exp(x0), exp(-x0)} (x0**2 + exp(-3*x0**2/2):
    0.14 %), so that pair was never rounded; scored by its error after rounding (1/2, 1/2) it is
    the best pair there is."""
    X, y = _network("cosh_network.npz")
    library = basis.build_library(derived.bases(X, ["x0"], norms=False, differences=False), OPS)
    pair = {i for i, t in enumerate(library) if t.expr in (sympy.exp(x0), sympy.exp(-x0))}
    assert len(pair) == 2
    free = [set(s) for s in basis.beam_search(library, y, max_terms=2, beam=8) if len(s) == 2]
    assert pair not in free  # why the exact search is needed
    found = exact_sums.exact_sums(library, y, np.var(y) * 0.05**2)
    exprs = [forms.hyperbolic(f.expr()) for f in found]
    assert sympy.cosh(x0) in exprs, [str(e) for e in exprs]


def test_swaps_replace_the_free_beams_terms_by_the_laws():
    """A network 1 % off x0 - x2 + x3**2 + x1/x0 + 3/4 (tests/data, 1000 rows, x0 in [2, 5]):
    x1/x0 is nearly linear in x1 there, and the best free fits use x1 and x0*x1 instead. From
    the free searches' subsets, swapping one term at a time by its rounded error reaches the law,
    and its intercept 0.7527 snaps to 3/4."""
    X, y = _network("exact_sum_network.npz")
    bases = derived.bases(X, ["x0", "x1", "x2", "x3"])
    library = basis.build_library(bases, OPS, max_terms=basis.library_cap(4))
    poly = basis.polynomial_terms(bases)
    seeds = basis.beam_search(library, y) + basis.few_node_search(library, y)
    seeds += [tuple(len(library) + i for i in s) for s in basis.backward_subsets(poly, y)]
    truth = x0 - x2 + x3**2 + sympy.Rational(3, 4) + x1 / x0
    found = exact_sums.exact_sums(list(library) + poly, y, np.var(y) * 0.05**2, seeds=seeds)
    assert any(_same(f.expr(), truth, X) for f in found), [str(f.expr()) for f in found]
    # without the seeds, from the exact pairs alone: ranked by rounded error only, the moves did
    # not reach the law's four weak terms; since session 39 the pool also keeps the best by the
    # knee score (short sums with small coefficients), and they do
    alone = exact_sums.exact_sums(list(library) + poly, y, np.var(y) * 0.05**2)
    assert any(_same(f.expr(), truth, X) for f in alone)


def test_rounded_extension_scores_equal_a_direct_fit():
    """The closed-form rounded RSS of every extension (on unit-norm columns) equals rounding a
    direct least-squares fit of the raw columns, whose scales differ by 1e6."""
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(200, 6)) * np.array([1.0, 1e3, 1e-3, 2.0, 1.0, 0.5])
    y = 2 * raw[:, 0] - 0.5 * raw[:, 3] + raw[:, 1] / 1000 + 0.01 * rng.normal(size=200)
    raw, yc = raw - raw.mean(axis=0), y - y.mean()
    scale = np.linalg.norm(raw, axis=0)
    got, knee = exact_sums._rounded_extensions(raw / scale, yc, scale, np.ones(6, dtype=bool), (0,), np.ones(6))
    assert got[0] == math.inf
    for m in range(1, 6):
        coef, *_ = np.linalg.lstsq(raw[:, [0, m]], yc, rcond=None)
        best = math.inf
        for grid in basis.EXACT_GRIDS:
            c = np.round(coef * grid) / grid
            if c[1] != 0 and np.all(np.abs(c * grid) < basis.MAX_EXACT_NUMERATOR):
                best = min(best, float(np.sum((yc - raw[:, [0, m]] @ c) ** 2)))
        assert got[m] == (pytest.approx(best, rel=1e-9) if math.isfinite(best) else math.inf)
    assert np.argmin(got) == 3  # -x3/2 (x1/1000 has no exact coefficient)
    # the knee score: ln(nRMSE) + 0.2 * written size (2*x0 - x3/2: 1 + 3 + 3 nodes)
    assert knee[3] == pytest.approx(0.5 * math.log(got[3] / float(yc @ yc)) + 0.2 * 7)


def test_sums_ranked_by_the_knee_keep_a_short_law_that_mimics_fit_better():
    """A network 1.5 % off 2*x0 + sin(x0) on [1, 3] (tests/data, 1000 rows; random-s6-044 of the
    discovery benchmark, seed 6). After rounding, dozens of pairs of compound terms with integer
    coefficients fit it better than {x0, sin(x0)} (27*tanh(sqrt(x0)) - 37*tanh(tanh(x0))), so
    ranked by error alone the law's pair was never kept; ranked also by the knee rule's own score
    (the error and the written size) it is, at 1.3 % off the network."""
    X, y = _network("sum_network.npz")
    library = basis.build_library(derived.bases(X, ["x0"], norms=False, differences=False), OPS)
    law = [i for i, t in enumerate(library) if t.expr in (x0, sympy.sin(x0))]
    assert len(law) == 2
    few = basis.few_node_terms(library)
    T = np.stack([library[i].values for i in few], axis=1)
    T = T - T.mean(axis=0)
    scale = np.linalg.norm(T, axis=0)
    scores: dict = {}
    exact_sums._best_pairs(T / scale, y - y.mean(), scale, np.ones(len(few), dtype=bool), 10**6, scores,
                           np.zeros(len(few)), {})
    ranked = sorted(scores, key=scores.get)
    # why the knee's ranking is needed: by rounded error the law's pair is not among those kept
    # (the session-38 code returned none of it: 9 sums of 3-4 compound terms, 0.4-3.7 % off)
    assert ranked.index(frozenset(few.index(i) for i in law)) >= exact_sums.KEEP_PER_SIZE
    found = exact_sums.exact_sums(library, y, np.var(y) * 0.05**2)
    truth = 2 * x0 + sympy.sin(x0)
    offsets = [sympy.expand(f.expr() - truth) for f in found]
    assert any(d.is_number and abs(float(d)) < 0.05 for d in offsets), [str(f.expr()) for f in found]


@pytest.mark.parametrize("expr, expected", [
    (sympy.exp(x0) / 2 + sympy.exp(-x0) / 2, sympy.cosh(x0)),
    (sympy.exp(x0) / 2 - sympy.exp(-x0) / 2, sympy.sinh(x0)),
    (x0 + 3 * x1 * sympy.exp(2 * x0) - 3 * x1 * sympy.exp(-2 * x0), x0 + 6 * x1 * sympy.sinh(2 * x0)),
    (sympy.exp(x0 - x1) / 2 + sympy.exp(x1 - x0) / 2 + 1, sympy.cosh(x0 - x1) + 1),
    (sympy.sin(sympy.exp(x0) / 3 + sympy.exp(-x0) / 3), sympy.sin(2 * sympy.cosh(x0) / 3)),
    (sympy.exp(x0) + 2 * sympy.exp(-x0), sympy.exp(x0) + 2 * sympy.exp(-x0)),  # unequal: unchanged
    (sympy.Float(0.5) * sympy.exp(x0) + sympy.Float(0.5) * sympy.exp(-x0),  # fitted: left to snap
     sympy.Float(0.5) * sympy.exp(x0) + sympy.Float(0.5) * sympy.exp(-x0)),
])
def test_hyperbolic_forms_keep_the_value(expr, expected):
    out = forms.hyperbolic(expr)
    assert out == expected
    X = np.random.default_rng(0).uniform(-1, 1, size=(50, 2))
    assert _same(out, expr, X)


def test_the_engine_returns_cosh_and_the_knee_chooses_it():
    """End to end on the cosh network: x0**2 + cos(x0) equals cosh to 4th order and was chosen
    (0.5 % off the network, 2 % off the law on the 1.5x box); cosh(x0), 2 nodes, now is."""
    X, y = _network("cosh_network.npz")
    cfg = Config(time_budget=2, cache_dir="", progress=False, engine_options={"gp": False})
    front = get_engine("operon").fit(X, y[:, None], ["x0"], cfg)[0]
    entries = [Candidate(c.expr, c.complexity, c.loss, math.sqrt(c.loss / np.var(y)), True) for c in front]
    chosen = entries[select(entries, "knee", 1e-2)].expr
    assert chosen == sympy.cosh(x0), [str(e.expr) for e in entries]


def test_a_variable_times_a_squared_function_is_a_library_term():
    """x1*log(x2)**2 + exp(x0) (a 1 %-smooth error): log(x2)**2 is a square of a one-node function,
    no product of two library terms; with the squares in the library the law is a two-term sum."""
    rng = np.random.default_rng(2)
    X = rng.uniform([-1.0, -1.0, 2.0], [1.0, 1.0, 5.0], size=(2000, 3))
    truth = x1 * sympy.log(x2) ** 2 + sympy.exp(x0)
    t = evaluate_columns([truth], [x0, x1, x2], X)[:, 0]
    y = t + 0.01 * np.std(t) * np.sqrt(2) * np.sin(1.1 * X[:, 0] - 0.9 * X[:, 1] + 0.4 * X[:, 2])
    library = basis.build_library(derived.bases(X, ["x0", "x1", "x2"]), OPS, max_terms=basis.library_cap(3))
    assert any(t.expr == x1 * sympy.log(x2) ** 2 for t in library)
    assert all(t.expr != sympy.sin(x0) ** 2 for t in library)  # equal to cos(2*x0) up to scale and offset
    fits = [basis.fit_subset(library, s, y) for s in basis.beam_search(library, y, max_terms=2)]
    rounded = [snap.round_jointly(f, y, np.var(y) * 0.05**2) for f in fits]
    assert any(r is not None and _same(r.expr(), truth, X) for r in rounded), [str(f.expr()) for f in fits[:8]]


def test_nearly_collinear_terms_raise_no_numpy_warnings(recwarn):
    """Two terms 1e-9 apart (as ``x0`` and a function that is ``x0`` to float precision) have a
    pair system whose determinant rounds to 0; the exact search skips the pair and warns nothing
    (until session 37 every discovery run printed "invalid value encountered in add" from it)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(1.0, 3.0, size=(400, 2))
    for _ in range(10):
        twin = X[:, 0] + 1e-9 * rng.normal(size=len(X))
        terms = [basis.Term(x0, X[:, 0]), basis.Term(x2, twin), basis.Term(x0**2, X[:, 0] ** 2),
                 basis.Term(sympy.cos(x1), np.cos(X[:, 1]))]
        y = X[:, 0] ** 2 + 2 * np.cos(X[:, 1])
        found = exact_sums.exact_sums(terms, y, np.var(y) * 1e-6, few=range(len(terms)))
        assert any(_same(f.expr(), x0**2 + 2 * sympy.cos(x1), X) for f in found), [str(f.expr()) for f in found]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in recwarn]
