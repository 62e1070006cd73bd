"""Float64 constant refitting, snapping of constants to simple numbers, and their final precision.

Operon optimises constants in float32 and prints ``2.9987*x0 + 1.2e-9``; the law is ``3*x0``.
Here every candidate gets its constants refitted in float64 (Levenberg-Marquardt), then each
constant is tried at nearby simple values, simplest first: 0, small integers and fractions, the
constant with one or two significant digits (0.4), and only then p/q times or over ONE named
constant (pi, e, sqrt(2), sqrt(pi), sqrt(2*pi), ln 2) within a tight window — kept only while the
loss stays within an allowance the caller sets from the tolerance. Snapping to 0 drops a
negligible term altogether. Last, :func:`precision` writes every constant left with the fewest
significant digits (at most 4) that the same allowance supports, after folding composite
coefficients into one number (``27/22 * 0.1405`` -> ``0.1724``). float32 noise (``1.0000001``)
becomes the exact value (:func:`tidy`).
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import sympy

from ..lowering import evaluate, numpy_program
from .basis import EXACT_GRIDS, MAX_EXACT_NUMERATOR, LinearFit
from .forms import NAMED_CONSTANTS, round_sig

_FRACTIONS = (1, 2, 3, 4)
#: 1/n for these n is tried too (within RECIPROCAL_WINDOW): dividing by a small whole number is as
#: exact as multiplying by one (x0*x1/(9*x2 + 9/4) is 0.111*x0*x1/(x2 + 1/4); 1/6, 1/12 of physics).
#: Not 1/5 and 1/10: the decimals 0.2 and 0.1 write them already (a run with them made keijzer-5's
#: mimic -3*x0*x2*(x0/10 + 1)/x1**2 two nodes cheaper than the law, and chosen)
_RECIPROCALS = (6, 7, 8, 9, 11, 12)
#: ... within this relative distance only: neighbours 1/n and 1/(n+1) are 8-20 % apart, so the
#: fractions' 5 % window would give nearly every constant in [0.08, 0.2] an exact form
RECIPROCAL_WINDOW = 0.01


def reciprocal_neighbours(value: sympy.Expr) -> list[sympy.Expr]:
    """For a reciprocal 1/n of ``nice_values`` (n > 4): 1/(n-1) and 1/(n+1), the values the data must
    rule out for 1/n to be the constant; otherwise none."""
    if not (value.is_Rational and abs(value.p) == 1 and value.q > 4):
        return []
    return [sympy.Rational(value.p, value.q - 1), sympy.Rational(value.p, value.q + 1)]


def significant_digits(p: int) -> int:
    """Significant digits of an integer: 30638 has 5, 250 has 2, 3 has 1."""
    digits = str(abs(int(p))).rstrip("0")
    return max(1, len(digits))


def _simple_int(p: int, digits: int = 2) -> bool:
    return p != 0 and significant_digits(p) <= digits


def replace_numbers(expr: sympy.Expr, mapping: dict) -> sympy.Expr:
    """``expr.xreplace(mapping)``, without sympy's re-evaluation of every node when all the new
    values are Floats (the structure is unchanged then; an Integer, 0 or pi may fold, so those
    are substituted with evaluation). Evaluating exp/sin/tanh of symbolic arguments ran
    polynomial gcds: seconds per GP member."""
    if all(isinstance(v, sympy.Float) for v in mapping.values()):
        with sympy.evaluate(False):
            return expr.xreplace(mapping)
    return expr.xreplace(mapping)


def short(value: float) -> sympy.Expr:
    """A rounded value as sympy: an Integer when it is one (``3``, not ``3.0``), else a Float."""
    if value.is_integer() and abs(value) < 100:
        return sympy.Integer(int(value))
    return sympy.Float(value)


def simple_fractions(c: float) -> list[tuple[int, int]]:
    """(p, q) with p = round(c*q) for q in 1..4 where p has at most two significant digits and
    |p| < 100, the smallest q first: the simple fractions :func:`nice_values` tries near ``c``
    (not yet filtered by distance)."""
    numerators = [(round(c * q), q) for q in _FRACTIONS]
    return [(p, q) for p, q in numerators if _simple_int(p) and abs(p) < 100]


def distance_to_simple(value: float) -> float:
    """Distance of ``value`` to the nearest simple fraction (:func:`simple_fractions`) or 0: how far
    an equivalent writing's constant (a moved phase, a folded exponent) is from an exact one."""
    return min([abs(value)] + [abs(value - p / q) for p, q in simple_fractions(value)])


def nice_values(c: float, rel: float = 0.05, rel_transcendental: float = 2e-3,
                reciprocals: bool = True) -> list[sympy.Expr]:
    """Simple numbers near ``c``, simplest first (0 always comes first).

    In this order: integers and fractions p/q (q <= 4) within ``rel`` of ``c``, where p has at
    most two significant digits and |p| < 100 (2, 3/4, 25/2; never 30638 or 27/22); reciprocals
    1/n of n = 6..9, 11, 12 within ``RECIPROCAL_WINDOW`` (1 %: 1/9, 1/12), unless ``reciprocals`` is
    False (an offset: dividing by a whole number is a scale, and a mimic's intercept snapped to -1/7
    beat random-s0-009's law ``-x1*x3 - sqrt(x2) + x4 + 1/(x0**2 + x1)`` by two nodes); ``c`` written
    with one, then two significant digits (0.4, 0.35: a plain short decimal is preferred to a
    named constant whenever both fit); then p/q times or over ONE named constant (pi, e, sqrt(2),
    sqrt(pi), sqrt(2*pi), ln 2; |p| <= 12, q in 1, 2, 4) within ``rel_transcendental`` only, and
    only when closer to ``c`` than ``c`` written with three significant digits is. A law's pi is
    fitted to a few 1e-4 (``sin(pi*x0)``, ``1/(4*pi)``), while a wide window puts pi or ln 2 into
    arbitrary coefficients (a GNN message's ``0.8486*dy`` printed as ``2.662*dy/pi``, a plain 0.4
    as ``5/(4*pi)``, ``0.1733`` as ``log(2)/4``): within 3e-3 about one number in five has a
    named form nearby.
    """
    out: list[tuple[sympy.Expr, float]] = [(sympy.Integer(0), math.inf)]
    if not math.isfinite(c) or c == 0.0:
        return [sympy.Integer(0)]
    out += [(sympy.Rational(p, q), rel) for p, q in simple_fractions(c)]
    out += [(sympy.Rational(1 if c > 0 else -1, n), RECIPROCAL_WINDOW) for n in _RECIPROCALS if reciprocals]
    for digits in (1, 2):
        value = round_sig(c, digits)
        if not value.is_integer():  # integers come with their own window above
            out.append((sympy.Float(value), math.inf))
    for const in NAMED_CONSTANTS:
        value = float(const)
        for q in (1, 2, 4):
            p = round(c * q / value)
            if 0 < abs(p) <= 12:
                out.append((sympy.Rational(p, q) * const, rel_transcendental))
    for const in NAMED_CONSTANTS:  # 1/(4*pi) in Coulomb's law, 1/(2*pi) of a frequency
        value = float(const)
        for q in (1, 2, 4):
            p = round(c * q * value)
            if 0 < abs(p) <= 12:
                out.append((sympy.Rational(p, q) / const, rel_transcendental))
    three = abs(round_sig(c, 3) - c)  # a named constant must explain c better than 3 digits do
    seen: set[float] = set()
    kept = []
    for v, window in out:
        fv = float(v)
        if fv in seen:
            continue
        seen.add(fv)
        named = window == rel_transcendental and not v.is_Rational
        if v == 0 or (abs(fv - c) <= window * abs(c) and (not named or abs(fv - c) < three)):
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
    expr = expr.xreplace(mapping) if mapping else expr
    return expr.replace(lambda e: isinstance(e, sympy.exp), _power_of_log) if expr.has(sympy.log) else expr


def _power_of_log(e: sympy.Expr) -> sympy.Expr:
    """``exp(c*log(b))`` written ``b**c`` (one node fewer; equal wherever the log is defined)."""
    factors = sympy.Mul.make_args(e.args[0])
    logs = [f for f in factors if isinstance(f, sympy.log)]
    if len(logs) != 1:
        return e
    return logs[0].args[0] ** sympy.Mul(*[f for f in factors if f is not logs[0]])


def allowed_mse(mse: float, var: float, tolerance: float) -> float:
    """How much worse a simplified candidate may fit: 10 % relative or 5 % of the tolerance.

    Never pushes a candidate that was inside 0.9 x tolerance out of it, and one between 0.9 x
    tolerance and the tolerance keeps half its headroom (the precision step spends the whole
    allowance, and the whole-model check on other rows must not then find it just over).
    """
    nrmse = math.sqrt(max(mse, 0.0) / var) if var > 0 else 0.0
    limit = max(1.1 * nrmse, nrmse + 0.05 * tolerance)
    if nrmse <= 0.9 * tolerance:
        limit = min(limit, 0.9 * tolerance)
    elif nrmse <= tolerance:
        limit = min(limit, 0.5 * (nrmse + tolerance))
    return var * limit**2


def _floats(expr: sympy.Expr) -> list[sympy.Float]:
    return sorted(expr.atoms(sympy.Float), key=lambda f: -abs(float(f)))


def mse_of(expr: sympy.Expr, env: dict, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return _mse(np.asarray(evaluate(expr, env), dtype=np.float64), y)


def _mse(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of a prediction (broadcast to ``y``); inf where it is not finite."""
    pred = np.broadcast_to(pred, y.shape)
    if not np.all(np.isfinite(pred)):
        return math.inf
    with np.errstate(over="ignore"):  # huge but finite predictions: the MSE is inf
        return float(np.mean((pred - y) ** 2))


def parametrize(expr: sympy.Expr, floats: Sequence[sympy.Float]) -> tuple[list[sympy.Symbol], sympy.Expr]:
    """Parameters ``_c0, _c1, ...`` and ``expr`` with ``floats`` replaced by them. Numbers for
    symbols leave the structure unchanged, so sympy's re-evaluation of every node is skipped (exp/sin
    of a symbolic argument ran polynomial gcds: seconds per GP member)."""
    params = [sympy.Dummy(f"_c{k}") for k in range(len(floats))]
    with sympy.evaluate(False):
        return params, expr.xreplace(dict(zip(floats, params)))


class _OutOfTime(Exception):
    pass


class _Template:
    """``expr`` with its float constants as parameters, compiled once (``numpy_program``).

    Refitting and snapping then work on the vector ``theta`` of constants: each trial is one
    numpy evaluation, and a sympy expression is built once at the end. Building one per trial
    cost seconds per GP member (sympy re-evaluates exp/sin/tanh of symbolic arguments, down to
    polynomial gcds).
    """

    def __init__(self, expr: sympy.Expr, env: dict, y: np.ndarray, floats: Sequence[sympy.Float]):
        self.params, self.expr = parametrize(expr, floats)
        # constants that are terms of a sum (offsets), not factors: they take no reciprocal 1/n
        terms = {a for add in self.expr.atoms(sympy.Add) for a in add.args}
        self.offsets = {k for k, p in enumerate(self.params) if p in terms}
        self.program = numpy_program(self.expr)
        self.theta = np.array([float(f) for f in floats])
        self.env, self.y = dict(env), y

    def predict(self, theta: np.ndarray) -> np.ndarray:
        self.env.update(zip(self.params, (float(t) for t in theta)))
        with np.errstate(all="ignore"):  # a wild trial constant may overflow
            return np.broadcast_to(np.asarray(self.program(self.env), dtype=np.float64), self.y.shape)

    def residual(self, theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            res = self.predict(theta) - self.y
        return np.where(np.isfinite(res), res, 1e6)

    def mse(self, theta: np.ndarray) -> float:
        return _mse(self.predict(theta), self.y)

    def fit(self, theta: np.ndarray, free: Sequence[int], max_nfev: int, deadline: float) -> np.ndarray:
        """``theta`` with the entries ``free`` re-optimised by least squares (``theta`` itself when
        that does not lower the error, fails, or runs past ``deadline``)."""
        import time

        from scipy.optimize import least_squares

        free = list(free)
        if not free or len(free) > 10 or time.perf_counter() > deadline:
            return theta

        def residual(sub: np.ndarray) -> np.ndarray:
            if time.perf_counter() > deadline:
                raise _OutOfTime
            full = theta.copy()
            full[free] = sub
            return self.residual(full)

        try:
            # finite-difference Jacobians cost len(free) evaluations each, so cap the total
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)  # overflow while probing wild constants
                sol = least_squares(residual, theta[free], method="trf", max_nfev=max_nfev, x_scale="jac")
        except (ValueError, FloatingPointError, _OutOfTime):
            return theta
        if not np.all(np.isfinite(sol.x)) or np.mean(sol.fun**2) >= np.mean(self.residual(theta) ** 2):
            return theta
        out = theta.copy()
        out[free] = sol.x
        return out

    def build(self, values: dict[int, sympy.Expr], theta: np.ndarray) -> sympy.Expr:
        """The expression with parameter k set to ``values[k]`` (exact) or ``Float(theta[k])``."""
        return replace_numbers(self.expr, {p: values.get(k, sympy.Float(float(theta[k])))
                                           for k, p in enumerate(self.params)})


def refit(
    expr: sympy.Expr, env: dict, y: np.ndarray, max_nfev: int = 20, deadline: float = math.inf,
    frozen: frozenset[float] | set[float] = frozenset(),
) -> sympy.Expr:
    """The expression with its float constants re-optimised by least squares in float64.

    Floats whose value is in ``frozen`` (short decimals already snapped) stay as they are.
    Bounded: at most ``max_nfev`` trust-region iterations, at most 10 constants, and it
    gives up (returning ``expr``) at ``deadline`` (``time.perf_counter()``).
    """
    import time

    floats = _floats(expr)
    free = [k for k, f in enumerate(floats) if float(f) not in frozen]
    if not free or len(free) > 10 or time.perf_counter() > deadline:
        return expr
    t = _Template(expr, env, y, floats)
    theta = t.fit(t.theta, free, max_nfev, deadline)
    return expr if theta is t.theta else t.build({}, theta)


def named_window(nrmse: float) -> float:
    """How far (relative) a constant may sit from p/q times a named constant and still try it.

    1e-3 for a near-exact fit, widening with the fit's own error up to 3e-3 (a network 1 % off
    fits ``12.53`` for ``4*pi``). Never wider: within 1 % nearly every number is p/q times or
    over some named constant, and ``0.4`` came back as ``5/(4*pi)``. Where the window misses,
    the constant prints as a short decimal instead (``12.5``), which is readable and honest.
    """
    return min(3e-3, max(1e-3, 0.3 * nrmse))


def _design(fit: LinearFit, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fit's term columns plus a column of ones, and its coefficients then intercept."""
    return np.column_stack([t.values for t in fit.terms] + [np.ones_like(y)]), np.append(fit.coefs, fit.intercept)


def snap_linear(fit: LinearFit, y: np.ndarray, allowed_mse: float, rel_named: float = 2e-3) -> LinearFit:
    """Snap coefficients (and the intercept) to simple numbers one at a time, refitting the rest.

    A snap is kept only while the MSE stays below ``allowed_mse``.
    """
    A, coef = _design(fit, y)
    fixed = np.zeros(len(coef), dtype=bool)
    # snap the intercept first (0 is the most common nice value), then the largest coefficients
    order = [len(coef) - 1] + list(np.argsort(-np.abs(coef[:-1])))
    exact: list[sympy.Expr | None] = [None] * len(coef)
    for i in order:
        best = None
        for value in nice_values(float(coef[i]), rel_transcendental=rel_named, reciprocals=i != len(coef) - 1):
            trial, mse = _linear_trial(A, y, coef, fixed, i, float(value))
            if mse <= allowed_mse and any(_linear_trial(A, y, coef, fixed, i, float(nb))[1] <= allowed_mse
                                          for nb in reciprocal_neighbours(value)):
                continue  # the data does not single out this 1/n from its neighbours
            if mse <= allowed_mse:  # nice_values come simplest first: take the first that fits
                best = (mse, trial, value)
                break
        if best is not None:
            coef = best[1]
            fixed[i] = True
            exact[i] = best[2]
    mse = float(np.mean((A @ coef - y) ** 2))
    keep = [k for k in range(len(fit.terms)) if coef[k] != 0.0]
    return LinearFit(tuple(fit.terms[k] for k in keep), coef[keep], float(coef[-1]), mse,
                     tuple(exact[k] for k in keep) + (exact[-1],))


def _linear_trial(A: np.ndarray, y: np.ndarray, coef: np.ndarray, fixed: np.ndarray, i: int,
                  value: float) -> tuple[np.ndarray, float]:
    """:func:`snap_linear`'s trial: coefficient ``i`` at ``value``, the other unfixed ones refitted;
    the coefficients and their MSE."""
    trial = coef.copy()
    trial[i] = value
    free = ~fixed
    free[i] = False
    if free.any():
        sol, *_ = np.linalg.lstsq(A[:, free], y - A[:, ~free] @ trial[~free], rcond=None)
        trial[free] = sol
    return trial, float(np.mean((A @ trial - y) ** 2))


def round_jointly(fit: LinearFit, y: np.ndarray, allowed_mse: float) -> LinearFit | None:
    """``fit`` with every coefficient (and the intercept) rounded at once to the nearest integer,
    or else to the nearest half, or third (``basis.EXACT_GRIDS``), when that stays within
    ``allowed_mse``; None when none does.

    Greedy snapping (:func:`snap_linear`) fixes one coefficient and refits the rest; on
    nearly collinear terms a network's error moves the least-squares coefficients far apart
    (``x0**6 + ... + x0`` from a 1 %-network fits as ``1.1*x0**6 + 4*x0**5/3 + 0.8*x0**4 +
    0.6*x0**3 ...``), no single coefficient is within reach of its value, and the refits drift.
    Rounding them together lands on the law when the law is what the network approximates.
    """
    A, coef = _design(fit, y)
    for grid in EXACT_GRIDS:
        rounded = np.round(coef * grid) / grid
        if np.array_equal(rounded, coef) or not rounded[:-1].any():
            continue
        if np.max(np.abs(rounded * grid)) >= MAX_EXACT_NUMERATOR:
            break  # finer grids only lengthen the numerators
        mse = float(np.mean((A @ rounded - y) ** 2))
        if mse <= allowed_mse:
            keep = [k for k in range(len(fit.terms)) if rounded[k] != 0.0]
            exact = tuple(sympy.Rational(int(round(rounded[k] * grid)), int(grid)) for k in keep)
            return LinearFit(tuple(fit.terms[k] for k in keep), rounded[keep], float(rounded[-1]), mse,
                             exact + (sympy.Rational(int(round(rounded[-1] * grid)), int(grid)),))
    return None


def snap(
    expr: sympy.Expr, env: dict, y: np.ndarray, budget_mse: float, refit_rest: bool = True,
    deadline: float = math.inf, rel_named: float = 2e-3, max_refits: int = 12,
) -> sympy.Expr:
    """Snap float constants one by one (largest first) while the MSE stays within ``budget_mse``.

    Each constant takes the first of :func:`nice_values` that fits (simplest first; the others
    refitted if needed, except for a short decimal, which must fit as it is); a short decimal it
    snaps to (``0.35``) stays fixed in later refits.
    Named constants are tried within ``rel_named`` (see :func:`named_window`). Stops early
    (returning what is snapped so far) at ``deadline`` (``time.perf_counter()``). At most
    ``max_refits`` trials refit the other constants; after that a value must fit as it is. That
    bounds the work by count, not by the clock (the same seed gives the same equation on a busy
    machine): a 9-constant GP mimic took 6.7 s of refits here, while a law has few constants.
    """
    import time

    floats = _floats(expr)
    if not floats:
        return expr
    t = _Template(expr, env, y, floats)
    theta = t.theta.copy()
    values: dict[int, sympy.Expr] = {}  # parameter -> the value it snapped to (then fixed)
    refits_left = max_refits
    untried = set(range(len(floats)))
    while untried and time.perf_counter() < deadline:
        k = max(untried, key=lambda i: (abs(theta[i]), -i))  # largest constant first
        untried.discard(k)
        for value in nice_values(float(theta[k]), rel_transcendental=rel_named, reciprocals=k not in t.offsets):
            trial = theta.copy()
            trial[k] = float(value)
            free = [i for i in range(len(theta)) if i != k and i not in values]
            # a short decimal is a rounding, not a law: it fits as it is or not at all
            if (t.mse(trial) > budget_mse and refit_rest and refits_left > 0 and not value.is_Float and free):
                refits_left -= 1
                trial = t.fit(trial, free, 10, deadline)
            if t.mse(trial) <= budget_mse:
                if any(t.mse(_with(t, theta, k, float(nb), free, deadline)) <= budget_mse
                       for nb in reciprocal_neighbours(value)):
                    continue  # the data does not single out this 1/n from its neighbours
                theta = trial
                values[k] = value
                break
    return t.build(values, theta) if values or not np.array_equal(theta, t.theta) else expr


def _with(t: "_Template", theta: np.ndarray, k: int, value: float, free: list[int], deadline: float) -> np.ndarray:
    """``theta`` with constant ``k`` at ``value`` and the ``free`` ones refitted (a snap's trial)."""
    trial = theta.copy()
    trial[k] = value
    return t.fit(trial, free, 10, deadline) if free else trial


def env_of(symbols: Sequence[sympy.Symbol], X: np.ndarray) -> dict:
    return {s: X[:, i] for i, s in enumerate(symbols)}
