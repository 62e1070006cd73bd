"""The precision step: every constant a snap left as a decimal written with the fewest significant
digits (1-4) that the caller's allowance supports (the last step of ``snap.py``'s polishing,
split from it)."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import sympy

from ..lowering import evaluate
from .forms import merge_constants, readable_coefficients, round_sig
from .snap import _floats, mse_of, parametrize, replace_numbers, short, tidy


def _digit_trials(c: float, max_digits: int) -> list[float]:
    """``c`` with 1, 2, ... digits, up to the first form that is ``c`` itself or ``max_digits``.
    A whole number of 3 or more digits is skipped: ``239.8`` rounded to ``240`` reads as an exact
    count the data never gave (the next digit count is tried instead)."""
    out = []
    for digits in range(1, max_digits + 1):
        value = round_sig(c, digits)
        if value == c:
            break
        if abs(value) >= 100 and value.is_integer() and digits < max_digits:
            continue
        out.append(value)
    return out


def large_whole(expr: sympy.Expr) -> bool:
    """Whether ``expr`` prints a decimal that is a whole number of 3 or more digits (``197.0``)."""
    return any(abs(float(f)) >= 100 and float(f).is_integer() for f in expr.atoms(sympy.Float))


def _forced(c: float, options: Sequence[float], max_digits: int) -> bool:
    """Whether ``c`` needs more than ``max_digits`` digits (its last trial is the rounding to them)."""
    return bool(options) and options[-1] == round_sig(c, max_digits) != c


def precision(expr: sympy.Expr, env: dict, y: np.ndarray, budget_mse: float | Callable[[float], float],
              max_digits: int = 4) -> tuple[sympy.Expr, int]:
    """Every Float written with the fewest significant digits (1..``max_digits``) that keep the
    MSE within ``budget_mse``: the data support no more digits than that. Returns the expression
    and how many constants were forced to ``max_digits`` beyond the budget. ``budget_mse`` may be
    a function of the expression's own MSE (computed only where there is something to round).

    Composite coefficients are made one number first and redundant scales merged
    (:func:`readable_coefficients`, :func:`merge_constants`). Constants are rounded largest first,
    each as short as the budget left allows. A constant that needs more than ``max_digits`` digits
    marks an ill-conditioned mimic (``exp(20.13*x)``): it is written with ``max_digits`` digits
    anyway and the caller recomputes the loss of what is printed, so the candidate competes on its
    true, higher loss (what is printed is what is applied; dropping it instead would hide it).

    Cost: one batched evaluation (every constant at every digit count, as numpy broadcasting over
    a trial axis) and one check of the result; one evaluation per trial only where the batched
    first-order estimate was wrong.
    """
    current = tidy(merge_constants(readable_coefficients(expr)))
    floats = [f for f in _floats(current) if math.isfinite(float(f))]
    trials = [_digit_trials(float(f), max_digits) for f in floats]
    if not any(trials):
        return current, 0
    chosen, budget_mse = _batched_choice(current, floats, trials, env, y, budget_mse, max_digits)
    if chosen is not None:
        out = replace_numbers(current, {f: short(v) for f, v in zip(floats, chosen) if v != float(f)})
        changed = sum(v != float(f) for f, v in zip(floats, chosen))
        # one changed constant: the batch evaluated exactly that expression
        if changed <= 1 or mse_of(out, env, y) <= budget_mse:
            return out, 0
    if callable(budget_mse):
        budget_mse = budget_mse(mse_of(current, env, y))
    forced = 0  # the exact path: one evaluation per trial
    for f, options in zip(floats, trials):
        for value in options:
            trial = replace_numbers(current, {f: short(value)})
            if mse_of(trial, env, y) <= budget_mse:
                current = trial
                break
        else:
            if _forced(float(f), options, max_digits):  # more digits than max_digits: ill-conditioned
                current = replace_numbers(current, {f: short(options[-1])})
                forced += 1
    return current, forced


def _batched_choice(expr, floats, trials, env, y, budget_mse, max_digits):
    """Per float, the shortest trial value that keeps the estimated MSE within budget (largest
    float first), estimated from single-constant changes evaluated in one broadcast pass and
    added up to first order; and the budget (a callable one evaluated on the unchanged
    expression). None where the batch cannot be evaluated or a float is forced."""
    base = np.array([float(f) for f in floats])
    rows = [base]
    index = []
    for j, options in enumerate(trials):
        index.append(range(len(rows), len(rows) + len(options)))
        for value in options:
            row = base.copy()
            row[j] = value
            rows.append(row)
    grid = np.array(rows)
    params, template = parametrize(expr, floats)
    local = {k: np.asarray(v)[None, ...] for k, v in env.items()}
    local.update({p: grid[:, j:j + 1] for j, p in enumerate(params)})
    try:
        with np.errstate(all="ignore"):
            pred = np.broadcast_to(np.asarray(evaluate(template, local), dtype=np.float64), (len(grid), len(y)))
    except (ValueError, TypeError):
        return None, budget_mse
    if callable(budget_mse):
        base_mse = float(np.mean((pred[0] - y) ** 2))
        budget_mse = budget_mse(base_mse if math.isfinite(base_mse) else math.inf)
    current = pred[0].copy()
    chosen = []
    for j, options in enumerate(trials):
        pick = float(base[j])
        for k, r in enumerate(index[j]):
            trial = current + (pred[r] - pred[0])
            mse = float(np.mean((trial - y) ** 2))
            if np.isfinite(mse) and mse <= budget_mse:
                pick, current = options[k], trial
                break
        else:
            if _forced(float(base[j]), options, max_digits):
                return None, budget_mse  # forced: the exact path decides
        chosen.append(pick)
    return chosen, budget_mse
