"""Integer least squares (engines/lattice.py): exact polynomials on nearly collinear monomials."""
from __future__ import annotations

import numpy as np
import sympy

from symfx.engines import basis, derived, families, lattice, rationals
from symfx.lowering import evaluate_columns


def _network_like(law: np.ndarray, x: np.ndarray, share: float) -> np.ndarray:
    """``law`` plus a smooth error of about ``share`` of its spread that wiggles a few times across
    the box, as a trained network's does (a slower one, sin(2.5 x), is nearly a polynomial: the
    least-squares coefficients then round to the law anyway)."""
    return law + share * np.std(law) * np.sqrt(2) * np.sin(8.0 * x + 1.0)


def test_closest_integer_vector_is_the_law_where_rounding_the_least_squares_fit_is_not():
    x = np.linspace(-1.0, 1.0, 1000)
    A = np.column_stack([x**k for k in range(1, 10)])
    y = _network_like(A.sum(axis=1), x, 0.003)  # x**9 + ... + x, 0.3 % off
    A, y = A - A.mean(axis=0), y - y.mean()
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    assert not np.array_equal(np.round(coef), np.ones(9))  # the collinear fit drifts by over half a step
    found = lattice.closest_integer_vectors(A, y, keep=3)
    assert len(found) == 3 and [d for d, _ in found] == sorted(d for d, _ in found)
    assert np.array_equal(found[0][1], np.ones(9)), found[0][1]
    # none beyond the bound: the law's own squared distance, slightly above
    law_sq = found[0][0]
    assert [np.array_equal(k, np.ones(9)) for _, k in lattice.closest_integer_vectors(A, y, max_sq=1.01 * law_sq)] == [True]


def test_integer_polynomials_recover_a_ninth_degree_law_and_decode_the_extra_monomials_to_zero():
    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(2000, 1))
    bases = derived.bases(x, ["x0"], norms=False, differences=False)
    law = sum(x[:, 0] ** k for k in range(1, 10))
    y = _network_like(law, x[:, 0], 0.003)
    fits = lattice.integer_polynomials(bases, y, np.var(y) * 0.05**2)
    truth = sympy.sympify("+".join(f"x0**{k}" for k in range(1, 10)))
    found = [f.expr() for f in fits]
    assert truth in found, found[:3]
    assert all(all(c.is_Rational for c in f.exact) for f in fits)
    assert fits == sorted(fits, key=lambda f: f.mse)
    # with integers only, the law is the closest: closer ones need halves or thirds (and the
    # ten-monomial set, whose x0**10 decodes to 0 for the law): the knee rule charges those digits
    whole = [f for f in fits if all(c.is_integer for c in f.exact)]
    assert whole[0].expr() == truth, [f.expr() for f in whole[:3]]
    # rounding each coefficient (families.exact_polynomials, up to six monomials) has no such law
    poly = basis.polynomial_terms(bases)
    assert truth not in [f.expr() for f in families.exact_polynomials(poly, y, np.var(y) * 0.05**2)]


def test_transformed_polynomials_decode_the_output_transform_too():
    """log(P(x)) with an 8th-degree P: exp(y) is as collinear a polynomial as any."""
    x = np.random.default_rng(1).uniform(-1.0, 1.0, size=(2000, 1))
    bases = derived.bases(x, ["x0"], norms=False, differences=False)
    inner = 1 + sum(x[:, 0] ** k for k in range(1, 9))  # positive for every real x0
    y = _network_like(np.log(inner), x[:, 0], 0.003)
    poly = basis.polynomial_terms(bases)
    truth = sympy.log(sympy.sympify("1+" + "+".join(f"x0**{k}" for k in range(1, 9))))
    allowed = np.var(y) * 0.05**2
    assert truth not in families.transformed_polynomials(poly, y, allowed)
    assert truth in families.transformed_polynomials(poly, y, allowed, bases=bases)


def test_closest_integer_vectors_agree_with_brute_force_on_a_reduced_basis():
    import itertools

    x = np.linspace(0.5, 1.8, 400)  # one-signed box: the monomials are nearly parallel
    A = np.column_stack([x**k for k in range(1, 5)])
    A = A - A.mean(axis=0)
    y = A @ np.array([3.0, -7.0, 5.0, 2.0]) + 0.02 * np.sin(9 * x)
    grid = np.array(list(itertools.product(range(-20, 21), repeat=4)), dtype=float).T  # 4 x 41**4
    gram, proj = A.T @ A, A.T @ y
    dist = y @ y - 2 * proj @ grid + np.einsum("ij,ij->j", grid, gram @ grid)
    order = np.argsort(dist)[:3]
    found = lattice.closest_integer_vectors(A, y, keep=3)
    assert np.max(np.abs([k for _, k in found])) < 20  # inside the brute-force box: a fair comparison
    assert [k.tolist() for _, k in found] == [grid[:, j].tolist() for j in order]
    assert np.allclose([d for d, _ in found], dist[order], rtol=1e-6, atol=1e-9)
    _, R = np.linalg.qr(A)
    reduced, U = lattice.reduce_basis(R)
    assert np.array_equal(U, np.rint(U)) and round(abs(np.linalg.det(U))) == 1
    assert np.allclose(R @ U, reduced)


def test_laurent_sums_with_integer_coefficients_are_decoded_where_the_inputs_keep_away_from_zero():
    X = np.random.default_rng(2).uniform(1.0, 3.0, size=(3000, 2))
    bases = derived.bases(X, ["x0", "x1"], norms=False, differences=False)
    truth = sympy.sympify("x0**2 + x0*x1 + x0 + x0/x1 + x1")  # five terms: beyond exact_sums' four
    law = evaluate_columns([truth], sympy.symbols("x0 x1"), X)[:, 0]
    y = _network_like(law, X[:, 0] - 0.7 * X[:, 1], 0.003)
    assert truth in [f.expr() for f in lattice.integer_polynomials(bases, y, np.var(y) * 0.05**2)]
    terms = lattice.laurent_terms(bases)
    assert len(terms) <= lattice.LAURENT_COLUMNS and sympy.sympify("x0/x1") in [t.expr for t in terms]
    # an input that crosses zero gets no negative powers; with none away from zero there is no set
    crossing = derived.bases(X - 2.0, ["x0", "x1"], norms=False, differences=False)
    assert lattice.laurent_terms(crossing) == []
    half = derived.bases(np.column_stack([X[:, 0] - 2.0, X[:, 1]]), ["x0", "x1"], norms=False, differences=False)
    assert all(sympy.degree(t.expr.as_numer_denom()[1], sympy.Symbol("x0")) == 0 for t in lattice.laurent_terms(half))


def test_fewer_rows_than_columns_decode_nothing_and_do_not_raise():
    """A calibration set of 6 rows (the fuzz test of tests/test_hard_inputs.py drew one) gave a
    6 x 10 design: its QR factor is not square, and the LLL step indexed past it (IndexError)."""
    rng = np.random.default_rng(0)
    A, y = rng.normal(size=(6, 10)), rng.normal(size=6)
    assert lattice.closest_integer_vectors(A, y) == []
    X = rng.uniform(0.5, 1.5, size=(6, 2))
    bases = derived.bases(X, ["x0", "x1"])
    y = X[:, 0] * X[:, 1] + 1 / (X[:, 0] + 1)
    assert isinstance(lattice.integer_polynomials(bases, y, allowed_mse=1e-4), list)
    assert isinstance(rationals.exact_denominators(bases, y, 1e-4, frozenset({"add", "sub", "mul", "div"})), list)
