"""Knee-guided snapping: offer the simpler-constant form of a front member when it pays for itself.

The ordinary snap (:func:`snap.snap`) keeps a simple value only within a small allowance of the
member's own error (10 %, and never past the tolerance), which suits a network that matches its
law. A trained network is 0.3–3 % off its law, and the least-squares constants absorb that error:
``0.499*exp(x0) - 0.109*x0 + 0.001`` where the law has ``exp(x0)/2``. Judged by the knee rule
(``ln e + KNEE_RATE * readable_size``, :func:`symfx.passes.fit.select`), a snap is worth taking when
the digits it removes buy more than the error it adds, and a term is worth dropping (snapped to 0)
on the same terms. This module builds that form as one more candidate; the original stays on the
front, so the rewrite can still use the closer one, and the selection rule decides between them.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import sympy

from ..lowering import complexity
from .base import Candidate, Front, front_order, knee_reach, knee_score, pareto, readable_size
from .exp_factors import exp_forms
from .forms import rescalings, vertex_forms
from .shifted_phases import phase_forms
from .snap import _floats, _Template, _with, named_window, nice_values, reciprocal_neighbours, round_sig

#: members with more float constants than this are mimics, not laws with absorbed constants
MAX_CONSTANTS = 8
#: a free constant is sized with this many significant digits, before and after a snap alike
SIZE_DIGITS = 3
#: least-squares refits of the other constants per member (bounded by count, not by the clock)
MAX_REFITS = 24


def knee_snap(expr: sympy.Expr, env: dict, y: np.ndarray, var: float,
              deadline: float = math.inf, drops: bool = True) -> sympy.Expr | None:
    """``expr`` with constants snapped to simple values (0 drops a term) while each snap lowers
    ``ln(nrmse) + KNEE_RATE * readable_size`` (:func:`base.knee_score`); None when no snap does.

    From the member's least-squares constants, constants are visited largest first; each takes, of
    the exact values of :func:`snap.nice_values` that lower the score (fractions within 5 x the
    member's nrmse, 5-20 %), the best-scoring one of the simplest kind (0, else p/q, else p/q with
    one named constant), the other free constants refitted by least squares. Without ``drops``, 0
    is not tried (a drop that pays at once can block a law's snap). Shorter decimals are left
    to the precision step and its tighter allowance: rounded by the knee's trade, Keijzer-5's
    ``-0.302*x0*x2*(x0 + 10)/x1**2`` (a Taylor mimic, 0.94 % off its network) became ``-0.3*...``
    at 1.11 % and beat the law, 0.95 % off, by two nodes.
    """
    return _knee_snaps(expr, env, y, var, deadline, (drops,))[0]


def _knee_snaps(expr: sympy.Expr, env: dict, y: np.ndarray, var: float, deadline: float,
                passes: Sequence[bool]) -> list[sympy.Expr | None]:
    """:func:`knee_snap` once per entry of ``passes`` (whether drops are allowed), the compiled
    template and the starting least-squares fit shared between them."""
    floats = [f for f in _floats(expr) if math.isfinite(float(f))]
    if not floats or len(floats) > MAX_CONSTANTS or var <= 0:
        return [None for _ in passes]
    t = _Template(expr, env, y, floats)
    # from the least-squares constants: the precision step may have rounded a drifted constant
    # further from its exact value (0.2725 -> 0.3 where the law has 1/4)
    start = t.fit(t.theta.copy(), list(range(len(floats))), 10, deadline)
    return [_snap_pass(t, start, var, deadline, drops) for drops in passes]


def _snap_pass(t: _Template, theta: np.ndarray, var: float, deadline: float, drops: bool) -> sympy.Expr | None:
    """One pass of :func:`knee_snap` over the template ``t`` from the constants ``theta``."""
    values: dict[int, sympy.Expr] = {}

    def score(th: np.ndarray, vals: dict[int, sympy.Expr]) -> float:
        mse = t.mse(th)
        if not math.isfinite(mse):
            return math.inf
        # the free constants are sized as the precision step will print them (SIZE_DIGITS digits),
        # not at the full float64 precision a refit leaves them with
        sized = t.build(vals, np.array([round_sig(v, SIZE_DIGITS) for v in th]))
        return knee_score(math.sqrt(mse / var), readable_size(sized))

    current = score(theta, values)
    nrmse = math.sqrt(max(t.mse(theta), 0.0) / var)
    window = named_window(nrmse)
    rel = min(0.2, max(0.05, 5.0 * nrmse))
    refits = MAX_REFITS
    for k in sorted(range(len(theta)), key=lambda i: (-abs(theta[i]), i)):
        if time.perf_counter() > deadline:
            break
        best = None
        for value in nice_values(float(theta[k]), rel=rel, rel_transcendental=window, reciprocals=k not in t.offsets):
            if value.is_Float or (value == 0 and not drops):
                continue  # a shorter decimal is a rounding, not an exact value: the precision step's call
            # simplest kind first (0, then p/q, then a named constant), the best score within a kind:
            # 1/3 for a drifted 0.363 over 3/10, yet 2 before 5*sqrt(2)/(2*sqrt(pi)) = 1.995
            kind = 0 if value == 0 else 1 if value.is_Rational else 2
            if best is not None and kind > best[0][0]:
                break
            trial = theta.copy()
            trial[k] = float(value)
            free = [i for i in range(len(theta)) if i != k and i not in values]
            if refits > 0 and free:
                refits -= 1
                trial = t.fit(trial, free, 10, deadline)
            trial_values = {**values, k: value}
            s = score(trial, trial_values)
            if s < current and any(score(_with(t, theta, k, float(nb), free, deadline), {**values, k: nb}) < current
                                   for nb in reciprocal_neighbours(value)):
                continue  # the data does not single out this 1/n from its neighbours
            if s < current and (best is None or (kind, s) < best[0]):
                best = ((kind, s), trial, trial_values)
        if best is not None:
            (_, current), theta, values = best
    if not values:
        return None
    return t.build(values, theta)


#: the knee window's members snapped at most (the smallest first)
WINDOW = 8


def knee_window(front: Sequence[Candidate], var: float, tolerance: float,
                limit: int = WINDOW) -> list[Candidate]:
    """The members to snap: those the knee rule weighs (in-sample error within ``KNEE_WINDOW`` of
    the best or ``KNEE_TOLERANCE_WINDOW`` x ``tolerance``) with no more nodes than the readable size
    of the member the rule picks among them, the ``limit`` smallest.

    Snapping buys digits, not structure: it is there so that a law whose constants absorbed the
    network's error can compete with the member chosen over it. A member with more nodes than the
    choice takes to read already lost to it on structure; snapped, it could only win back as a
    mimic (a GP's ``1.016 - 2.352*cos(cos(cos(sin(1.44*x0))))`` as ``1 - 7*cos(...)/3`` over
    Nguyen-5's law).
    """
    weighed, bound = _weighed(front, var, tolerance)
    return [c for c in weighed if c.complexity <= bound][:limit]


def _weighed(front: Sequence[Candidate], var: float, tolerance: float) -> tuple[list[Candidate], int]:
    """The members the knee rule weighs, and the node bound of :func:`knee_window`."""
    if not front or var <= 0:
        return [], 0
    errors = [math.sqrt(max(c.loss, 0.0) / var) for c in front]
    reach = knee_reach(min(errors), tolerance)
    weighed = [(c, e) for c, e in zip(front, errors) if e <= reach]
    choice = min(weighed, key=lambda p: knee_score(p[1], readable_size(p[0].expr)))[0]
    # a member's node count is its readable size once every constant is one node: one that large or
    # smaller can, snapped, undercut the choice's readable size (digits included). Bounded by the
    # choice's node count instead, 0.115*x0*x1/(x2 + 0.27) (9 nodes, 14 readable) was never snapped
    # to x0*x1/(9*x2 + 9/4) (10) under a chosen 0.089*x0*x1/x2**0.78 (7 nodes, 11 readable)
    return [c for c, _ in weighed], max(choice.complexity, readable_size(choice.expr))


def knee_snapped_window(front: Sequence[Candidate], env: dict, y: np.ndarray, var: float, tolerance: float,
                        deadline: float = math.inf, skip: Sequence[sympy.Expr] = (),
                        larger: int = 4) -> tuple[list[sympy.Expr], list[sympy.Expr]]:
    """The knee-snapped forms (:func:`knee_snapped`) of :func:`knee_window`'s members, and of the
    ``larger`` smallest weighed members past its node bound whose snapped form falls within it;
    and the members snapped (``skip``: members snapped before). A larger member's snap can drop
    whole terms: the GP's ``x0**6*(x1*(1.01*x0 + x2) - 0.008*sqrt(x0**2 + x1**2))`` (23 nodes,
    0.96 % off its network) is ``x0**6*x1*(x0 + x2)`` (8 nodes, 0.96 %) snapped, but lay past the
    bound of a chosen 12-node mimic at 3.5 %; a snap that keeps its nodes stays out, as before."""
    weighed, bound = _weighed(front, var, tolerance)
    window = [c.expr for c in weighed if c.complexity <= bound][:WINDOW]
    beyond = [c.expr for c in weighed if c.complexity > bound and c.expr not in skip][:larger]
    out = knee_snapped([e for e in window if e not in skip], env, y, var, deadline)
    out += [e for e in knee_snapped(beyond, env, y, var, deadline) if complexity(e) <= bound and e not in out]
    return out, window + beyond


def knee_snapped(members: Sequence[sympy.Expr], env: dict, y: np.ndarray, var: float,
                 deadline: float = math.inf) -> list[sympy.Expr]:
    """The knee-snapped form of each member that has one (see :func:`knee_snap`)."""
    out = []
    for expr in members:
        # drops (a constant to 0) first; then exact values only, also at every scale of a sum
        # factor: a drop that pays at once can block a law's snap (x1/x0 for x0*x1/(3*x0**2 + x1))
        # and each with its quadratics completed to squares (a shifted gaussian's centre is exact),
        # with a sine's or cosine's phase moved by multiples of pi/2 (shifted_phases.py), and with
        # an exponential's factor folded into its argument (exp_factors.py)
        trials = [(expr, (True, False))] + [(e, (False,)) for e in rescalings(expr)]
        trials += [(e, (False,)) for v in vertex_forms(expr) for e in [v] + rescalings(v)]
        # (both, for an exponential inside a phase: cos(x1 + exp(x0 + 3/2)) was fitted as
        # sin(x1 + 4.48*exp(x0) - 4.71))
        folded = exp_forms(expr)
        trials += [(e, (False,)) for e in folded + [p for f in [expr] + folded for p in phase_forms(f)]]
        for form, passes in trials:
            for simpler in _knee_snaps(form, env, y, var, deadline, passes):
                if simpler is not None and simpler != expr and simpler not in out:
                    out.append(simpler)
    return out


def beside(front: Front, candidates: Sequence[Candidate]) -> Front:
    """The Pareto front of ``candidates`` (the snapped forms among them) plus every member of
    ``front``, the front before snapping: a snapped form is offered beside the members, never in
    place of one. Dominated by ``tanh(2*x0**3)/2 - 1``, Livermore-3's law would otherwise leave the
    front the user reads."""
    members = {c.expr: c for c in list(front) + list(pareto(candidates, written=True))}
    return Front(tuple(sorted(members.values(), key=front_order)))
