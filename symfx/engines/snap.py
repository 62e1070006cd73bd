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


def nice_values(c: float, rel: float = 0.05, rel_transcendental: float = 2e-3) -> list[sympy.Expr]:
    """Simple numbers near ``c``, simplest first (0 always comes first).

    Integers and fractions p/q (q ≤ 4) within ``rel`` of ``c``; p/q times or over pi or e only
    within ``rel_transcendental``. A law's pi is fitted to a few 1e-4 (``sin(pi*x0)``,
    ``1/(4*pi)``), while a 5 % window put pi into arbitrary coefficients (a GNN message's
    ``0.8486*dy`` printed as ``2.662*dy/pi``).
    """
    out: list[tuple[sympy.Expr, float]] = [(sympy.Integer(0), math.inf)]
    if not math.isfinite(c) or c == 0.0:
        return [sympy.Integer(0)]
    for q in _FRACTIONS:
        p = round(c * q)
        if p != 0:
            out.append((sympy.Rational(p, q), rel))
    for const in (sympy.pi, sympy.E):
        for q in (1, 2, 4):
            p = round(c * q / float(const))
            if p != 0:
                out.append((sympy.Rational(p, q) * const, rel_transcendental))
    for const in (sympy.pi, sympy.E):  # 1/(4*pi) in Coulomb's law, 1/(2*pi) of a frequency
        for q in (1, 2, 4):
            p = round(c * q * float(const))
            if p != 0:
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


def snap(
    expr: sympy.Expr, env: dict, y: np.ndarray, budget_mse: float, refit_rest: bool = True,
    deadline: float = math.inf,
) -> sympy.Expr:
    """Snap float constants one by one (largest first) while the MSE stays within ``budget_mse``.

    Stops early (returning what is snapped so far) at ``deadline`` (``time.perf_counter()``).
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
        for value in nice_values(float(f)):
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
