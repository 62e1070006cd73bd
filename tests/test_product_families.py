"""Product families of the fast pass (issue #13): separable products of single-variable factors
(refined on every row, shaped factors, a factor of two variables), a polynomial times a factor,
and a polynomial plus a polynomial times a factor. Split from ``test_search_families.py``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy

from symfx.config import Config
from symfx.engines import derived, factored, families, get_engine
from symfx.lowering import evaluate_columns

from .test_search_families import _noisy, _nrmse, x0, x1, x2, x3  # the shared helpers and symbols


@pytest.mark.parametrize("truth, lo, hi", [
    (x1 * sympy.exp(-(x0 - 2) ** 2 / 2), 0.0, 4.0),  # a shifted gaussian factor
    (sympy.sin(x0) / (1 + (x1 - 1) ** 2), 0.0, 3.0),  # a shifted Lorentzian factor
])
def test_separable_products_fit_shifted_gaussian_and_lorentzian_factors(truth, lo, hi):
    X, y = _noisy(truth, 2, lo, hi, noise=3e-3)
    ops = frozenset({"add", "sub", "mul", "div", "exp", "sin", "cos", "sqrt", "log"})
    found = families.separable_products(derived.bases(X, ["x0", "x1"]), y, ops)
    assert min(_nrmse(e, truth, 2, lo, hi) for e in found) < 1e-2, [str(e) for e in found]


@pytest.mark.parametrize("truth, lo, hi", [
    # Strogatz shear flow: cos(x1)/sin(x1) is no library term, and on [0.8, 2.3] its 16 bin means
    # correlate with x1 about as well (the old match: x1*cos(x0), 96 % off the law)
    (sympy.cos(x0) * sympy.cos(x1) / sympy.sin(x1), [-3.0, 0.8], [3.0, 2.3]),
    # an affine factor, a + b*t: (x1 - 5)*exp(-x0)
    ((x1 - 5) * sympy.exp(-x0), [0.0, 0.0], [2.0, 3.0]),
])
def test_separable_factors_refined_on_every_row(truth, lo, hi):
    rng = np.random.default_rng(4)
    X = rng.uniform(lo, hi, size=(2000, 2))
    t = evaluate_columns([truth], [x0, x1], X)[:, 0]
    y = t + 0.003 * np.std(t) * np.sqrt(2) * np.sin(1.3 * X[:, 0] + 0.7 * X[:, 1])  # smooth, 0.3 % off
    ops = frozenset({"add", "sub", "mul", "div", "exp", "sin", "cos", "sqrt", "log", "tanh"})
    found = families.separable_products(derived.bases(X, ["x0", "x1"]), y, ops)
    wide = rng.uniform(lo, hi, size=(2000, 2))
    truth_wide = evaluate_columns([truth], [x0, x1], wide)[:, 0]
    errors = [np.sqrt(np.mean((evaluate_columns([e], [x0, x1], wide)[:, 0] - truth_wide) ** 2)) / np.std(truth_wide)
              for e in found]
    assert min(errors) < 5e-3, [str(e) for e in found]


def test_a_polynomial_times_a_composed_factor_is_recovered():
    """(x0*x1 + 2)*exp(sin(x2)) is a degree-2 polynomial times exp(sin(x2)): no sum of few library
    terms, no power law, no rational. The factor is screened from every variable's unary terms
    and compositions of exp, sin, cos; the polynomial's coefficients come out exact."""
    truth = (x0 * x1 + 2) * sympy.exp(sympy.sin(x2))
    X = np.random.default_rng(0).uniform(-2.0, 2.0, size=(2000, 3))
    t = evaluate_columns([truth], [x0, x1, x2], X)[:, 0]
    y = t + 0.01 * np.std(t) * np.sqrt(2) * np.sin(1.3 * X[:, 0] - 0.8 * X[:, 2])  # smooth, 1 % off
    bases = derived.bases(X, ["x0", "x1", "x2"], norms=False, differences=False)
    ops = frozenset(("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "tanh"))
    found = factored.factored_polynomials(bases, y, np.var(y) * 0.05**2, ops)
    assert any(_nrmse(e, truth, 3, -2.0, 2.0) < 1e-9 for e in found), [str(e) for e in found]
    assert all(not e.atoms(sympy.Float) for e in found)  # exact coefficients only
    # one variable's degree-2 polynomial times a factor fits too much: not offered
    assert factored.factored_polynomials(bases[:1], y, np.var(y), ops) == []
    cfg = Config(time_budget=2, cache_dir="", progress=False, engine_options={"gp": False})
    front = get_engine("operon").fit(X, y[:, None], ["x0", "x1", "x2"], cfg)[0]
    assert any(_nrmse(c.expr, truth, 3, -2.0, 2.0) < 1e-9 for c in front), [str(c.expr) for c in front]


@pytest.mark.parametrize("truth", [
    (2 * x1 + sympy.log(x0) - x0**2 / 2) / x1,
    # other powers of a variable as the factor (session 36): none was found with only x and 1/x
    (3 * x0 + sympy.cos(x1)) / x0**2,
    (x0 * x1 - 2 * sympy.log(x1)) / sympy.sqrt(x0),
    x0**3 * (x1 - sympy.sin(x0)),
])
def test_a_power_times_a_sum_of_one_node_functions_is_recovered(truth):
    """(2*x1 + log(x0) - x0**2/2)/x1: a power of a variable times a short sum that mixes monomials
    with one-node functions of the variables. It is no polynomial times a single-variable factor;
    the factored search's second dictionary (monomials and exp/log/sin/cos/tanh of each variable,
    with the variables' library powers among the factors) holds it, with exact coefficients."""
    X = np.random.default_rng(2).uniform([0.5, 0.5], [3.0, 2.0], size=(2000, 2))
    t = evaluate_columns([truth], [x0, x1], X)[:, 0]
    y = t + 0.01 * np.std(t) * np.sqrt(2) * np.sin(1.3 * X[:, 0] - 0.8 * X[:, 1])  # smooth, 1 % off
    bases = derived.bases(X, ["x0", "x1"], norms=False, differences=False)
    ops = frozenset(Config().operators)
    found = factored.factored_polynomials(bases, y, np.var(y) * 0.05**2, ops)
    assert any(_nrmse(e, truth, 2, 0.5, 2.0) < 1e-9 for e in found), [str(e) for e in found]
    assert all(not e.atoms(sympy.Float) for e in found)  # exact coefficients only


def test_a_variable_divided_by_a_composition_is_a_separable_product():
    """x0/cos(sin(x1)): the factor of x1 is the reciprocal of a composition; before compositions were
    candidates, the product came back as x0*(1 - 0.34*sqrt(x1)*cos(2*x1)), 0.8 % off."""
    truth = x0 / sympy.cos(sympy.sin(x1))
    X = np.random.default_rng(0).uniform([2.0, 0.5], [5.0, 1.5], size=(4000, 2))
    t = evaluate_columns([truth], [x0, x1], X)[:, 0]
    y = t + 0.008 * np.std(t) * np.sqrt(2) * np.sin(1.3 * X[:, 0] + 2.0 * X[:, 1])  # smooth, 0.8 % off
    found = families.separable_products(derived.bases(X, ["x0", "x1"]), y, frozenset(Config().operators))
    # the law's shape, its two constants fitted to the network's error (snapping rounds them later)
    shaped = [e for e in found if e.has(sympy.cos(sympy.sin(x1))) and e.has(x0)]
    assert shaped and min(_nrmse(e, truth, 2, [2.0, 0.5], [5.0, 1.5]) for e in shaped) < 1e-2, [str(e) for e in found]


@pytest.mark.parametrize("truth, lo, hi", [
    (sympy.log(x0)**2 * sympy.sin(x1 + x2), [0.5, -1.0, -1.0], [3.0, 1.0, 1.0]),
    (9 * x1 * (x0 + x2) / sympy.cos(sympy.cos(x3)), [0.5, 0.5, 0.5, -2.0], [2.0, 2.0, 2.0, 2.0]),
])
def test_a_product_with_a_factor_of_two_variables_is_found(truth, lo, hi):
    """A sum inside a product (sin(x1 + x2), x0 + x2) is no factor of one variable: separable_products
    misses these laws, the pair variant finds their shape 1 % off a smooth network error."""
    n = len(lo)
    syms = list(sympy.symbols(f"x0:{n}"))
    X = np.random.default_rng(0).uniform(lo, hi, size=(4000, n))
    t = evaluate_columns([truth], syms, X)[:, 0]
    y = t + 0.01 * np.std(t) * np.sqrt(2) * np.sin(1.3 * X[:, 0] + 0.7 * X[:, 1])  # smooth, 1 % off
    bases = derived.bases(X, [str(s) for s in syms])
    ops = frozenset(Config().operators)
    pair = families.pair_separable_products(bases, y, ops)
    assert min(_nrmse(e, truth, n, lo, hi) for e in pair) < 1e-2, [str(e) for e in pair]
    assert min(_nrmse(e, truth, n, lo, hi) for e in families.separable_products(bases, y, ops)) > 0.05
    assert families.pair_separable_products(bases[:2], y, ops) == []  # two inputs: the pair is the whole law


@pytest.mark.parametrize("truth, lo, hi", [
    (x0 * x1 + x0 + (x0 + x1) / sympy.sqrt(x0), 1.0, 2.0),  # P1 = x0 + x1, u = 1/sqrt(x0) (random-s0-031)
    (x0**2 + x1 - (x0 + x1 + sympy.Rational(11, 6)) * sympy.cos(x0), -1.0, 1.8),  # sixths (random-s0-083)
])
def test_a_polynomial_plus_a_polynomial_times_a_factor_is_decoded_exactly(truth, lo, hi):
    """``P0 + u*P1`` from a 0.3 %-network: neither the product family (no ``P0``) nor the beam (its
    expansion has 4-5 terms, x0 and sqrt(x0) nearly collinear on [1, 2]) reaches it. Its exact
    coefficients decode from the screened factors, sixths included; and on a law that is no such
    sum (a ratio of sums) nothing within 5 x tolerance decodes."""
    X = np.random.default_rng(0).uniform(lo, hi, size=(2000, 2))
    t = evaluate_columns([truth], [x0, x1], X)[:, 0]
    wiggle = np.sin(1.3 * X[:, 0] - 0.8 * X[:, 1])
    y = t + 0.003 * np.std(t) * wiggle / np.std(wiggle)
    bases = derived.bases(X, ["x0", "x1"])
    ops = frozenset(Config().operators)
    found = [f.expr() for f in factored.modulated_polynomials(bases, y, np.var(y) * 0.05**2, ops)]
    # (near-identities of collinear terms, 10*sqrt(x0)/3 + x0/3 - 8/3 + 1/sqrt(x0) ~ sqrt(x0) + x0 on
    # [1, 2], decode too, with more terms: the knee rule weighs them)
    assert any(_nrmse(e, truth, 2, lo, hi) < 1e-9 for e in found), [str(e) for e in found]
    assert all(not e.atoms(sympy.Float) for e in found)
    other = evaluate_columns([x0 * x1 / (x0 + x1 + 1)], [x0, x1], X)[:, 0]
    assert factored.modulated_polynomials(bases, other, np.var(other) * 0.001**2, ops) == []
    # a plain polynomial (no factor term) is the polynomial stages' to decode, on their own grids
    plain = evaluate_columns([x0**2 + 5 * x1 / 6], [x0, x1], X)[:, 0]
    assert factored.modulated_polynomials(bases, plain, np.var(plain) * 0.001**2, ops) == []
    # one input's P0 + u*P1 fits too much (tests/test_contract.py's x*sigmoid(1.702*x)): not offered
    assert factored.modulated_polynomials(bases[:1], y, np.var(y), ops) == []


def test_factors_the_screen_cannot_rank_are_all_decoded():
    """A 2x64 SiLU network 0.1 % off x0*x1 + x0 + (x0 + x1)/sqrt(x0) on [1, 2] x [0.5, 1.5]
    (random-s0-031; tests/data, 1024 rows). The screen fits the first 16 factors (x0**(3/2),
    sigmoid(x0), sin(x0), ..., 1/sqrt(x0), 1/x0, ...) within 1.6x of the best, all at about the
    network's own error; the law's factor ranked 13th, past the 12 decoded, and the law was missed
    (session 37). Factors tied with the best within ``SCREEN_TIE`` are decoded too."""
    data = np.load(Path(__file__).parent / "data" / "modulated_network.npz")
    X, y = data["X"].astype(np.float64), data["y"].astype(np.float64)
    bases = derived.bases(X, ["x0", "x1"])
    found = factored.modulated_polynomials(bases, y, np.var(y) * 0.05**2, frozenset(Config().operators))
    truth = x0 * x1 + x0 + (x0 + x1) / sympy.sqrt(x0)
    assert found and _nrmse(found[0].expr(), truth, 2, 1.0, 2.0) < 1e-9, [str(f.expr()) for f in found[:3]]


def test_factors_ranked_by_short_sums_are_decoded():
    """A 2x64 SiLU network 2.7 % off x0*x1**2*(2*x1 + exp(x0)) on [-1, 1] x [1, 3] (random-s4-030;
    tests/data, 1024 rows). Fitted on every degree-2 monomial and one-node function, eight factors
    (x1**2*tanh(x0), x1**(3/2)*sin(x0), ...) fit the network better than the law's x0*x1**2,
    ranked 9th: only the best 3 were decoded and the law was missed (session 38). By the best fit
    on two of those terms, x0*x1**2 ranks first; such factors are decoded too."""
    data = np.load(Path(__file__).parent / "data" / "factored_network.npz")
    X, y = data["X"].astype(np.float64), data["y"].astype(np.float64)
    found = factored.factored_polynomials(derived.bases(X, ["x0", "x1"]), y, np.var(y) * 0.05**2,
                                          frozenset(Config().operators))
    truth = x0 * x1**2 * (2 * x1 + sympy.exp(x0))
    assert any(_nrmse(law, truth, 2, -1.0, 1.0) < 1e-9 for law in found), [str(e) for e in found[:3]]


def test_a_composed_factor_is_screened_as_a_modulation():
    """A 2x64 SiLU network 0.3 % off x0**2 - x1*sin(cos(x0)) on [-1, 1] x [0, 2] (random-s7-026;
    tests/data, 1024 rows). ``P0 + u*P1`` screened only one-node functions as ``u``: its decodings
    were 2 % off the network (``x0**2 - 2*x1*cos(x0)/3 - x1/6``, ``... - 2*x1*exp(-x0**2/2)/3 ...``)
    and the law was left neural (session 40). The factors are now those of the product family
    above, compositions of two of exp, sin, cos included."""
    data = np.load(Path(__file__).parent / "data" / "composed_modulated_network.npz")
    X, y = data["X"].astype(np.float64), data["y"].astype(np.float64)
    found = factored.modulated_polynomials(derived.bases(X, ["x0", "x1"]), y, np.var(y) * 0.05**2,
                                           frozenset(Config().operators))
    truth = x0**2 - x1 * sympy.sin(sympy.cos(x0))
    assert found and found[0].expr() == truth, [str(f.expr()) for f in found[:3]]


def test_a_composition_alone_is_not_a_modulation():
    """``x0 + c*cos(sin(x1))`` is a sum of a monomial and one composed term: the few-node search's
    (engines/nested.py), not ``P0 + u*P1``'s. With a constant ``P1`` the family's exact decoding fit
    a 4.3 %-network's error: random-s3-018's ``x0 + cos(x1)`` came back as ``x0 + cos(sin(x1))``
    (session 40). A composition is decoded only where it modulates (``P1`` not constant); a one-node
    factor still may stand alone."""
    X = np.random.default_rng(0).uniform(-2.0, 2.0, size=(2000, 2))
    bases = derived.bases(X, ["x0", "x1"])
    ops = frozenset(Config().operators)

    def decoded(law: sympy.Expr) -> list[sympy.Expr]:
        y = evaluate_columns([law], [x0, x1], X)[:, 0]
        return [f.expr() for f in factored.modulated_polynomials(bases, y, np.var(y) * 0.001**2, ops)]
    assert not any(e.has(sympy.cos(sympy.sin(x1))) for e in decoded(x0 + 2 * sympy.cos(sympy.sin(x1))))
    assert x0**2 + 2 * x0 * sympy.cos(sympy.sin(x1)) in decoded(x0**2 + 2 * x0 * sympy.cos(sympy.sin(x1)))
    assert x0**2 + 2 * sympy.cos(x1) in decoded(x0**2 + 2 * sympy.cos(x1))


def test_a_factor_collinear_with_its_monomials_is_decoded():
    """A 2x64 SiLU network 0.27 % off x0 - (x1 + 4)*(x2 + 1/2) - exp(x1) on [-2, 2] x [0.5, 1.5] x
    [-1, 1] (random-s7-054; tests/data, 1024 rows). On x1's narrow range every factor of x1 fits
    the network within 1 % of the best once the degree-2 monomials stand beside it: exp(x1) ranked
    22nd of 62 and was never decoded, and the law was left neural (session 45). With a constant
    ``P1`` every tied factor is decoded, and only the law's is as close as the network's error."""
    data = np.load(Path(__file__).parent / "data" / "single_factor_network.npz")
    X, y = data["X"].astype(np.float64), data["y"].astype(np.float64)
    found = factored.modulated_polynomials(derived.bases(X, ["x0", "x1", "x2"]), y, np.var(y) * 0.05**2,
                                           frozenset(Config().operators))
    x2 = sympy.Symbol("x2")
    truth = x0 - (x1 + 4) * (x2 + sympy.Rational(1, 2)) - sympy.exp(x1)
    assert found and sympy.expand(found[0].expr() - truth) == 0, [str(f.expr()) for f in found[:3]]
