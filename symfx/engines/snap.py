"""Float64 constant refitting and snapping of constants to simple numbers.

Operon optimises constants in float32 and prints ``2.9987*x0 + 1.2e-9``; the law is ``3*x0``.
Here every candidate gets its constants refitted in float64 (Levenberg-Marquardt), then each
constant is tried at nearby simple values (0, integers, halves, thirds, quarters, those times
pi or e, and over pi or e, as in 1/(4*pi)) — kept only while the loss stays within an allowance
the caller sets from the tolerance. Snapping to 0 drops a negligible term altogether.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import sympy

from ..lowering import evaluate

_FRACTIONS = (1, 2, 3, 4)
#: named constants tried as p/q times or over the constant (a law's constants: 1/(4*pi),
#: 1/sqrt(2*pi) of a normal density, sqrt(2) of an rms value, ln 2 of a half-life)
_NAMED: tuple[sympy.Expr, ...] = (
    sympy.pi, sympy.E, sympy.sqrt(2), sympy.sqrt(sympy.pi), sympy.sqrt(2 * sympy.pi), sympy.log(2),
)


def significant_digits(p: int) -> int:
    """Significant digits of an integer: 30638 has 5, 250 has 2, 3 has 1."""
    digits = str(abs(int(p))).rstrip("0")
    return max(1, len(digits))


def _simple_int(p: int, digits: int = 2) -> bool:
    return p != 0 and significant_digits(p) <= digits


def nice_values(c: float, rel: float = 0.05, rel_transcendental: float = 2e-3) -> list[sympy.Expr]:
    """Simple numbers near ``c``, simplest first (0 always comes first).

    Integers and fractions p/q (q <= 4) within ``rel`` of ``c``, where p has at most two
    significant digits (2, 3/4, 250 are simple; 30638 and 27/22 are not); p/q times or over a
    named constant (pi, e, sqrt(2), sqrt(pi), sqrt(2*pi), ln 2) only within
    ``rel_transcendental``. A law's pi is fitted to a few 1e-4 (``sin(pi*x0)``, ``1/(4*pi)``),
    while a 5 % window put pi into arbitrary coefficients (a GNN message's ``0.8486*dy``
    printed as ``2.662*dy/pi``).
    """
    out: list[tuple[sympy.Expr, float]] = [(sympy.Integer(0), math.inf)]
    if not math.isfinite(c) or c == 0.0:
        return [sympy.Integer(0)]
    for q in _FRACTIONS:
        p = round(c * q)
        if _simple_int(p):
            out.append((sympy.Rational(p, q), rel))
    for const in _NAMED:
        value = float(const)
        for q in (1, 2, 4):
            p = round(c * q / value)
            if _simple_int(p, 1) or abs(p) <= 12:
                out.append((sympy.Rational(p, q) * const, rel_transcendental))
    for const in _NAMED:  # 1/(4*pi) in Coulomb's law, 1/(2*pi) of a frequency
        value = float(const)
        for q in (1, 2, 4):
            p = round(c * q * value)
            if _simple_int(p, 1) or abs(p) <= 12:
                out.append((sympy.Rational(p, q) / const, rel_transcendental))
    seen: set[sympy.Expr] = set()
    kept = []
    for v, window in out:
        if v in seen:
            continue
        seen.add(v)
        if v == 0 or abs(float(v) - c) <= window * abs(c):
            kept.append(v)
    return kept


def tidy(expr: sympy.Expr, rel: float = 1e-6) -> sympy.Expr:
    """Floats that are a simple rational up to float32 noise become it (``1.00000011920929`` -> 1).

    Costs no accuracy (the change is below float32 resolution of the network's outputs), so it
    applies to every candidate, also those not refitted or snapped.
    """
    mapping = {}
    for f in expr.atoms(sympy.Float):
        c = float(f)
        if not math.isfinite(c):
            continue
        if abs(c) < 1e-12:
            mapping[f] = sympy.Integer(0)
            continue
        for q in _FRACTIONS:
            p = round(c * q)
            if p != 0 and abs(p / q - c) <= rel * abs(c) and _simple_int(p, 3):
                mapping[f] = sympy.Rational(p, q)
                break
    return expr.xreplace(mapping) if mapping else expr


def merge_constants(expr: sympy.Expr) -> sympy.Expr:
    """Fold redundant multiplicative constants into one, so each can snap on its own.

    In a product, a sum factor (or a sum in the denominator) whose terms all carry numeric
    coefficients, one of them a ``Float``, is divided by its largest coefficient and that
    coefficient moves to the product's own coefficient. Operon's linear scaling and GP's free
    constants produce ``0.8606*x0*x1/(0.8606*x0 + 0.8605*x1)`` (= ``x0*x1/(x0 + 0.9999*x1)``) or
    ``30638*m*(-3.729e-6*dx - 5.183e-6*dy)`` (= ``m*(-0.1142*dx - 0.1588*dy)``), whose
    constants cannot snap one at a time. The value of the expression is unchanged.
    """
    if not expr.args or not expr.free_symbols:
        return expr
    expr = expr.func(*[merge_constants(a) for a in expr.args])
    if not isinstance(expr, sympy.Mul):
        return expr
    coef = sympy.Integer(1)
    rest = []
    changed = False
    for factor in expr.args:
        base, power = factor.as_base_exp() if isinstance(factor, sympy.Pow) else (factor, sympy.Integer(1))
        if isinstance(base, sympy.Add) and power in (1, -1):
            coefs = [t.as_coeff_Mul()[0] for t in base.args]
            if any(isinstance(c, sympy.Float) for c in coefs):
                k = max(coefs, key=lambda c: abs(float(c)))
                if k != 0 and k != 1:
                    base = sympy.Add(*[t / k for t in base.args])
                    coef = coef * (k if power == 1 else 1 / k)
                    changed = True
                    rest.append(base**power)
                    continue
        rest.append(factor)
    if not changed:
        return expr
    return sympy.Mul(coef, *rest)


def allowed_mse(mse: float, var: float, tolerance: float) -> float:
    """How much worse a simplified candidate may fit: 10 % relative or 5 % of the tolerance.

    Never pushes a candidate that was inside 0.9 x tolerance out of it.
    """
    nrmse = math.sqrt(max(mse, 0.0) / var) if var > 0 else 0.0
    limit = max(1.1 * nrmse, nrmse + 0.05 * tolerance)
    if nrmse <= 0.9 * tolerance:
        limit = min(limit, 0.9 * tolerance)
    return var * limit**2


def _floats(expr: sympy.Expr) -> list[sympy.Float]:
    return sorted(expr.atoms(sympy.Float), key=lambda f: -abs(float(f)))


def mse_of(expr: sympy.Expr, env: dict, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        pred = np.asarray(evaluate(expr, env), dtype=np.float64)
    pred = np.broadcast_to(pred, y.shape)
    if not np.all(np.isfinite(pred)):
        return math.inf
    return float(np.mean((pred - y) ** 2))


class _OutOfTime(Exception):
    pass


def refit(
    expr: sympy.Expr, env: dict, y: np.ndarray, max_nfev: int = 20, deadline: float = math.inf
) -> sympy.Expr:
    """The expression with its float constants re-optimised by least squares in float64.

    Bounded: at most ``max_nfev`` Levenberg-Marquardt iterations, at most 10 constants, and it
    gives up (returning ``expr``) at ``deadline`` (``time.perf_counter()``).
    """
    import time

    floats = _floats(expr)
    if not floats or len(floats) > 10 or time.perf_counter() > deadline:
        return expr
    from scipy.optimize import least_squares

    params = [sympy.Symbol(f"_c{k}") for k in range(len(floats))]
    template = expr.xreplace(dict(zip(floats, params)))
    theta0 = np.array([float(f) for f in floats])

    def residual(theta: np.ndarray, check: bool = True) -> np.ndarray:
        if check and time.perf_counter() > deadline:
            raise _OutOfTime
        local = dict(env)
        local.update({p: float(t) for p, t in zip(params, theta)})
        with np.errstate(all="ignore"):
            pred = np.broadcast_to(np.asarray(evaluate(template, local), dtype=np.float64), y.shape)
        res = pred - y
        return np.where(np.isfinite(res), res, 1e6)

    try:
        # finite-difference Jacobians cost len(theta) evaluations each, so cap the total
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow while probing wild constants
            sol = least_squares(residual, theta0, method="trf", max_nfev=max_nfev, x_scale="jac")
    except (ValueError, FloatingPointError, _OutOfTime):
        return expr
    if not np.all(np.isfinite(sol.x)):
        return expr
    if np.mean(sol.fun**2) >= np.mean(residual(theta0, check=False) ** 2):
        return expr
    return template.xreplace({p: sympy.Float(float(t)) for p, t in zip(params, sol.x)})


def named_window(nrmse: float) -> float:
    """How far (relative) a constant may sit from p/q times a named constant and still try it.

    2e-3 for a near-exact fit; a network that is 1 % off the law fits its constants about that
    far off (``12.53`` for ``4*pi``), so the window widens with the fit's own error, up to 1 %.
    """
    return min(1e-2, max(2e-3, 0.5 * nrmse))


def snap(
    expr: sympy.Expr, env: dict, y: np.ndarray, budget_mse: float, refit_rest: bool = True,
    deadline: float = math.inf, rel_named: float = 2e-3,
) -> sympy.Expr:
    """Snap float constants one by one (largest first) while the MSE stays within ``budget_mse``.

    Named constants are tried within ``rel_named`` (see :func:`named_window`). Stops early
    (returning what is snapped so far) at ``deadline`` (``time.perf_counter()``).
    """
    import time

    current = expr
    tried: set[float] = set()
    while time.perf_counter() < deadline:
        floats = [f for f in _floats(current) if float(f) not in tried]
        if not floats:
            return current
        f = floats[0]
        tried.add(float(f))
        for value in nice_values(float(f), rel_transcendental=rel_named):
            trial = current.xreplace({f: value})
            if mse_of(trial, env, y) <= budget_mse:
                current = trial
                break
            if refit_rest and trial.atoms(sympy.Float):
                trial = refit(trial, env, y, max_nfev=10, deadline=deadline)
                if mse_of(trial, env, y) <= budget_mse:
                    current = trial
                    break
    return current


def simplest_form(expr: sympy.Expr) -> sympy.Expr:
    """The cheapest-to-write of a few equivalent forms (node count)."""
    from ..lowering import complexity

    forms = [expr]
    try:
        forms.append(sympy.expand(expr))
        forms.append(sympy.factor_terms(expr))
    except Exception:  # sympy occasionally fails on odd trees; the original form is fine
        pass
    return min(forms, key=complexity)


def env_of(symbols: Sequence[sympy.Symbol], X: np.ndarray) -> dict:
    return {s: X[:, i] for i, s in enumerate(symbols)}
