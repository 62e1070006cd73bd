"""Library sums after an output transform (engines/transformed.py), and the scales at which a
rational's constants are snapped (forms.rescalings)."""
from __future__ import annotations

import numpy as np
import sympy

from symfx.config import Config
from symfx.engines import basis, derived, forms, nested, snap
from symfx.engines.transformed import transformed_sums

x0, x1, x2 = sympy.symbols("x0 x1 x2")


def test_a_cube_of_a_sum_is_found_through_the_cube_root():
    """(x0 + x1**-2)**3 expands into four terms with x1**-4 and x1**-6, no short sum of library
    terms; its cube root is a two-term sum. A 0.3 %-network's output gives it back, rough."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(-1, 2, 2000), rng.uniform(2, 5, 2000)])
    law = (X[:, 0] + X[:, 1] ** -2) ** 3
    y = law + 0.003 * np.std(law) * np.sin(2 * X[:, 0] + X[:, 1])
    library = basis.build_library(derived.bases(X, ["x0", "x1"]), frozenset(Config().operators))
    found = transformed_sums([library[i] for i in basis.few_node_terms(library)], y)
    env = snap.env_of([x0, x1], X)
    cubes = [e for e in found if isinstance(e, sympy.Pow) and e.exp == 3 and x1**-2 in
             {t.as_coeff_Mul()[1] for t in sympy.Add.make_args(e.base)}]
    assert cubes, found
    best = min(np.sqrt(snap.mse_of(e, env, y) / np.var(y)) for e in cubes)
    assert best < 0.005, (cubes, best)  # the network's own 0.3 % plus rough constants


def test_a_positive_output_also_tries_its_log_and_square_root():
    """exp(x0*x1 + sin(x0)) is a sum after the log (exact data: found to rounding)."""
    rng = np.random.default_rng(1)
    X = rng.uniform(0.5, 1.5, (2000, 2))
    y = np.exp(X[:, 0] * X[:, 1] + np.sin(X[:, 0]))
    library = basis.build_library(derived.bases(X, ["x0", "x1"]), frozenset(Config().operators))
    found = transformed_sums([library[i] for i in basis.few_node_terms(library)], y)
    env = snap.env_of([x0, x1], X)
    exps = [e for e in found if isinstance(e.as_coeff_Mul()[1], sympy.exp) and np.sqrt(snap.mse_of(e, env, y) / np.var(y)) < 1e-6]
    assert exps, found


def test_rescalings_set_each_coefficient_of_a_sum_factor_to_one():
    member = sympy.Float(0.1107) * x0 * x1 / (x2 + sympy.Rational(1, 4))
    scales = forms.rescalings(member)
    # the outer scale moved into the denominator: x0*x1/(9.033*x2 + 2.258), its 1 exact
    outer = [e for e in scales if e.as_coeff_Mul()[0] == 1]
    assert len(outer) == 1, scales
    den = sympy.fraction(outer[0])[1]
    coefs = sorted(float(c) for c, _ in (t.as_coeff_Mul() for t in sympy.Add.make_args(den)))
    assert np.allclose(coefs, [0.25 / 0.1107, 1 / 0.1107], rtol=1e-9), outer
    # every rescaling is the same function
    X = np.random.default_rng(0).uniform(0.5, 1.5, (50, 3))
    env = snap.env_of([x0, x1, x2], X)
    ref = snap.mse_of(member, env, np.zeros(50))
    for e in scales:
        assert np.isclose(snap.mse_of(e, env, np.zeros(50)), ref, rtol=1e-9), e
    # a plain sum's scale is its own coefficients, and numerators are left alone
    assert forms.rescalings(sympy.Float(0.5) * sympy.exp(x0) - sympy.Float(0.109) * x0) == []
    assert forms.rescalings(sympy.Float(0.3) * x1 * (x0 + sympy.Float(0.2) * sympy.exp(x0))) == []


def test_only_transforms_whose_inverse_the_operators_write():
    """Without ``log`` among the operators, ``exp(y)``'s inverse cannot be written: a GELU fallback
    (operators add, mul, div, exp, sub) printed ``log(x0*exp(x0)/2 + 1)``, 15 % off beyond its data."""
    rng = np.random.default_rng(2)
    X = rng.uniform(0.5, 1.5, (2000, 2))
    y = np.log(X[:, 0] * X[:, 1] + 1)
    ops = frozenset({"add", "sub", "mul", "div", "exp"})
    library = basis.build_library(derived.bases(X, ["x0", "x1"]), ops)
    few = [library[i] for i in basis.few_node_terms(library)]
    assert any(e.has(sympy.log) for e in transformed_sums(few, y))  # all transforms: log(x0*x1 + 1) is one
    found = transformed_sums(few, y, operators=ops)
    assert found and not any(e.has(sympy.log) for e in found), found


def test_an_output_within_one_tries_its_arcsin_and_arccos():
    """sin(sqrt(x1/x0)) is sin of a nested term (the root of a pair's ratio); cos(x0*x1 + x0) is cos
    of a two-term sum within (0, pi), where arcsin would fold. A 0.3 %-network's output gives both
    back through the transform that inverts them, rough; without sin and cos neither is tried."""
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.uniform(2, 5, 2000), rng.uniform(1, 2, 2000)])
    bases = derived.bases(X, ["x0", "x1"])
    ops = frozenset(Config().operators)
    library = basis.build_library(bases, ops)
    pool = [library[i] for i in basis.few_node_terms(library)] + nested.nested_terms(bases, ops, library)
    pool += nested.root_terms(bases, ops, library + pool)
    assert any(t.expr == sympy.sqrt(x1 / x0) for t in pool)
    env = snap.env_of([x0, x1], X)
    wiggle = np.sin(2 * X[:, 0] + X[:, 1])
    for outer, inner in ((sympy.sin, sympy.sqrt(x1 / x0)), (sympy.cos, x0 * x1 / 4 + x0 / 8)):
        law = sympy.lambdify([x0, x1], outer(inner))(X[:, 0], X[:, 1])
        y = law + 0.003 * np.std(law) * wiggle
        found = [e for e in transformed_sums(pool, y, operators=ops) if isinstance(e, outer)]
        assert found, (outer, transformed_sums(pool, y, operators=ops))
        assert min(np.sqrt(snap.mse_of(e, env, y) / np.var(y)) for e in found) < 0.005, found
        assert not any(isinstance(e, (sympy.sin, sympy.cos)) for e in transformed_sums(pool, y, operators=ops - {"sin", "cos"}))
