"""Local structure search: one part of a front member replaced by a simple function of its inputs.

The searches before this one often find a law's skeleton with one part wrong: a 3 %-network of
``x2*(-x0*x3 + sqrt(x1))`` gave ``x2*(-x0*x3 + x1/2 + 1/2)``, one of ``9*x1/4 - 1/sqrt(x0)`` gave
``9*x1/4 + 2*tanh(log(x0))/3 - 1``. The GP reaches such a part by luck; here every part of a
member is tried in turn. A part is a sub-tree, or a group of two or three terms of a sum (factors
of a product), over at most two inputs; its replacement is ``c*f(k*u) + d`` for ``f`` a unary
function the operators allow, ``u`` one input or the sum, difference, product or ratio of two, and
``k`` a small scale, or a constant ``d`` (0 drops the part). All of them are ranked at once by a Gauss-Newton screen (least squares of the member's
residual plus ``J*part`` on ``J*f`` and ``J``, where ``J`` is the member's derivative with respect to
that part), and the best few are refitted in full and knee-snapped.

A refinement is kept only when it scores better than its member by the knee rule
(:func:`base.knee_score`) and has no more nodes: the search exchanges structure for structure and
never grows a member, so it does not build the "law + small corrections" mimics of a network's own
error. Members are refined greedily, for ``rounds`` rounds (a law can have two wrong parts).
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import sympy

from ..lowering import complexity, evaluate
from . import forms, readable, snap
from .base import Candidate, knee_score, readable_size

#: parts of a member screened per round (sub-trees and groups of terms), at most
MAX_PARTS = 60
#: screened replacements refitted in full per member and round
REFITS = 4
#: inner scales tried for the periodic and exponential functions (refitted afterwards)
SCALES = (sympy.Integer(1), sympy.Integer(2), sympy.Integer(3), sympy.Rational(1, 2), sympy.Rational(1, 3))


@dataclass(frozen=True)
class _Unary:
    name: str
    operator: str  # the search operator it needs ("" for none)
    build: Callable[[sympy.Expr], sympy.Expr]
    values: Callable[[np.ndarray], np.ndarray]
    positive: bool = False  # only where u > 0 on the rows
    nonzero: bool = False  # only where u stays away from 0
    scaled: bool = False  # try f(k*u) for k in SCALES


_UNARIES = (
    _Unary("id", "", lambda u: u, lambda u: u),
    _Unary("square", "", lambda u: u**2, lambda u: u**2),
    _Unary("cube", "", lambda u: u**3, lambda u: u**3),
    _Unary("inv", "div", lambda u: 1 / u, lambda u: 1 / u, nonzero=True),
    _Unary("inv_square", "div", lambda u: u**-2, lambda u: u**-2.0, nonzero=True),
    _Unary("sqrt", "sqrt", sympy.sqrt, np.sqrt, positive=True),
    _Unary("inv_sqrt", "sqrt", lambda u: 1 / sympy.sqrt(u), lambda u: u**-0.5, positive=True),
    _Unary("log", "log", sympy.log, np.log, positive=True),
    _Unary("exp", "exp", sympy.exp, np.exp, scaled=True),
    _Unary("exp_neg", "exp", lambda u: sympy.exp(-u), lambda u: np.exp(-u), scaled=True),
    _Unary("sin", "sin", sympy.sin, np.sin, scaled=True),
    _Unary("cos", "cos", sympy.cos, np.cos, scaled=True),
)


def best_weighed(front: Sequence[Candidate], var: float, tolerance: float, n: int) -> list[sympy.Expr]:
    """The ``n`` members of the knee rule's window (:func:`readable.knee_window`) that score best."""
    window = readable.knee_window(front, var, tolerance)
    return [c.expr for c in sorted(window, key=lambda c: knee_score(math.sqrt(max(c.loss, 0.0) / var),
                                                                        readable_size(c.expr)))][:n]


def refinements(members: Sequence[sympy.Expr], env: dict, y: np.ndarray, var: float,
                operators: frozenset[str], rounds: int = 2, deadline: float = math.inf) -> list[sympy.Expr]:
    """Refined forms of ``members`` (see the module docstring), each better than its member by the
    knee rule on ``env``/``y``; empty when none is."""
    if var <= 0:
        return []
    allowed = operators | {"cos"} if "sin" in operators else operators  # one family, as in the GP
    unaries = [f for f in _UNARIES if not f.operator or f.operator in allowed]
    out: list[sympy.Expr] = []
    for member in members:
        current = member
        score = _score(current, env, y, var)
        for _ in range(rounds):
            if time.perf_counter() > deadline or not math.isfinite(score):
                break
            best, bound = None, complexity(forms.shortest_written_form(current))
            for trial in _trials(current, env, y, unaries, deadline):
                written = forms.shortest_written_form(trial)  # sized once, for the score and the bound
                s = _score(trial, env, y, var, written)
                if s < score and complexity(written) <= bound and (best is None or s < best[0]):
                    best = (s, trial)
            if best is None:
                break
            score, current = best
            out.append(current)
    return out


def _score(expr: sympy.Expr, env: dict, y: np.ndarray, var: float, written: sympy.Expr | None = None) -> float:
    """The knee score of ``expr`` sized at its shortest writing (``written``, when the caller has it),
    as the front sizes it: a trial that swaps a part can come out with its sign outside a sum,
    ``-x2*(x0*x3 - sqrt(x1))``, 12 nodes as built and 10 written."""
    mse = snap.mse_of(expr, env, y)
    if not math.isfinite(mse):
        return math.inf
    return knee_score(math.sqrt(mse / var), readable_size(forms.shortest_written_form(expr) if written is None else written))


def _freed(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with the numeric coefficients of its sums and products as floats (refittable);
    exponents stay exact (``x0**2`` is structure, not a constant)."""
    if not expr.args or not expr.free_symbols:
        return expr
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        args = [sympy.Float(float(a)) if a.is_Rational and a not in (1, -1) else _freed(a) for a in expr.args]
        return expr.func(*args)
    if isinstance(expr, sympy.Pow):
        return sympy.Pow(_freed(expr.base), expr.exp)
    return expr.func(*[_freed(a) for a in expr.args])


def _parts(expr: sympy.Expr) -> list[tuple[sympy.Expr, sympy.Expr, tuple[sympy.Expr, ...]]]:
    """(part, the node that holds it, the node's arguments the part takes) for every sub-tree over
    one or two inputs (the node is the part, the arguments are empty) and every group of 2-3 terms
    (factors) of a sum (product) over one or two inputs, which :func:`_replace` swaps out of it."""
    out: list[tuple[sympy.Expr, sympy.Expr, tuple[sympy.Expr, ...]]] = []
    seen: set[sympy.Expr] = set()
    for node in sympy.preorder_traversal(expr):
        if 1 <= len(node.free_symbols) <= 2 and node not in seen:
            seen.add(node)
            out.append((node, node, ()))
        if isinstance(node, (sympy.Add, sympy.Mul)) and len(node.args) >= 3:
            for k in (2, 3):
                if k >= len(node.args):
                    break
                for group in itertools.combinations(node.args, k):
                    symbols = set().union(*(g.free_symbols for g in group))
                    if 1 <= len(symbols) <= 2 and any(g.free_symbols for g in group):
                        out.append((node.func(*group), node, group))
    return out[:MAX_PARTS]


def _replace(expr: sympy.Expr, holder: sympy.Expr, group: tuple[sympy.Expr, ...], new: sympy.Expr) -> sympy.Expr:
    """``expr`` with ``holder`` replaced by ``new`` (``group`` empty), or with the arguments
    ``group`` of the sum or product ``holder`` replaced by the one argument ``new``."""
    if not group:
        return expr.xreplace({holder: new})
    rest = list(holder.args)
    for g in group:
        rest.remove(g)
    return expr.xreplace({holder: holder.func(*rest, new)})


def _inner_args(symbols: Sequence[sympy.Symbol]) -> list[sympy.Expr]:
    if len(symbols) == 1:
        return [symbols[0]]
    a, b = symbols
    return [a, b, a * b, a / b, b / a, a + b, a - b]


def _simple_rational(c: float) -> tuple[int, int] | None:
    """``c`` as the simplest p/q of :func:`snap.simple_fractions` within 5 %, in integers: the
    screen tries thousands of constants, so no sympy number is built for them."""
    if not math.isfinite(c) or abs(c) > 1e3:
        return None
    return next(((p, q) for p, q in snap.simple_fractions(c) if abs(p / q - c) <= 0.05 * abs(c)), None)


def _kept_values(c: float) -> list[tuple[float, int]]:
    """Values a screened constant may keep, with the nodes each adds: the fitted value at three
    digits (four) and the simplest near fraction (one node); dropping it (0) is the caller's call."""
    out = [(c, 4)]
    near = _simple_rational(c)
    if near is not None:
        out.append((near[0] / near[1], 1))
    return out


def _screen(a: np.ndarray, j: np.ndarray, target: np.ndarray, jj: float, jt: float, tt: float, var: float,
            size: int) -> tuple[float, float, float]:
    """The knee score a replacement ``c*g + d`` is expected to reach and its ``c``, ``d``: least
    squares of ``target`` on ``a = J*g`` and ``j = J``, then each kept simple or dropped where that
    scores better (the knee-snap afterwards makes the same trade). ``jj``, ``jt``, ``tt`` are the
    part's own Gram products, shared by all its replacements."""
    with np.errstate(all="ignore"):  # a wild g overflows: its score is inf
        aa, aj, at = a @ a, a @ j, a @ target
        det = aa * jj - aj * aj
    if not math.isfinite(det) or det <= 1e-12 * aa * jj:
        return math.inf, 0.0, 0.0
    c_fit = (jj * at - aj * jt) / det
    best = (math.inf, 0.0, 0.0)
    for c, c_nodes in _kept_values(c_fit):
        d_fit = (jt - c * aj) / jj  # least squares for this c
        for d, d_nodes in _kept_values(d_fit) + [(0.0, 0)]:
            # ||c*a + d*j - t||^2 expanded: no pass over the rows per trial
            mse = max(c * c * aa + d * d * jj + tt + 2 * (c * d * aj - c * at - d * jt), 0.0) / len(target)
            nodes = size + (0 if abs(c) == 1.0 else c_nodes + 1) + (d_nodes + 1 if d else 0)
            score = knee_score(math.sqrt(mse / var), nodes)
            if score < best[0]:
                best = (score, c, d)
    return best


def _number(v: float) -> sympy.Expr:
    """A screened constant as sympy: 0, the exact fraction it was snapped to, or a Float."""
    if v == 0.0:
        return sympy.Integer(0)
    near = _simple_rational(v)
    if near is not None and near[0] / near[1] == v:
        return sympy.Rational(*near)
    return sympy.Float(v)


def _columns(symbols: Sequence[sympy.Symbol], unaries, env: dict, shape: tuple[int, ...],
             cache: dict[sympy.Expr, list]) -> list[tuple[_Unary, sympy.Expr, int, np.ndarray]]:
    """(f, f's argument ``k*u``, readable size of ``f(k*u)``, its values) for every argument ``u`` of
    ``symbols`` (:func:`_inner_args`), every unary ``f`` defined on the rows and every scale ``k``;
    computed once per ``u`` (``cache``), since many parts share their inputs."""
    out = []
    for u in _inner_args(symbols):
        if u not in cache:
            cache[u] = []
            with np.errstate(all="ignore"):
                uv = np.broadcast_to(np.asarray(evaluate(u, env), dtype=np.float64), shape)
            if np.all(np.isfinite(uv)):
                for f in unaries:
                    if f.positive and not np.all(uv > 0):
                        continue
                    if f.nonzero and not np.all(np.abs(uv) > 1e-3 * (np.max(np.abs(uv)) + 1e-12)):
                        continue
                    for k in SCALES if f.scaled else SCALES[:1]:
                        inner = k * u
                        with np.errstate(all="ignore"):
                            cache[u].append((f, inner, readable_size(f.build(inner)), f.values(float(k) * uv)))
        out += cache[u]
    return out


def _trials(expr: sympy.Expr, env: dict, y: np.ndarray, unaries, deadline: float) -> list[sympy.Expr]:
    """The best ``REFITS`` replacements by the screen, refitted in full and knee-snapped."""
    with np.errstate(all="ignore"):
        base = np.broadcast_to(np.asarray(evaluate(expr, env), dtype=np.float64), y.shape)
    if not np.all(np.isfinite(base)):
        return []
    var = float(np.var(y))
    z = sympy.Dummy("z")
    total = readable_size(expr)
    columns: dict[sympy.Expr, list] = {}  # per argument u: its candidate functions (shared by the parts)
    # (expected knee score, order, part, its holder, the holder's arguments it takes, f (None: a
    # constant), f's argument, c, d)
    screened: list[tuple[float, int, sympy.Expr, sympy.Expr, tuple[sympy.Expr, ...], _Unary | None,
                         sympy.Expr | None, float, float]] = []
    for part, holder, group in _parts(expr):
        if time.perf_counter() > deadline:
            break
        with np.errstate(all="ignore"):
            value = np.broadcast_to(np.asarray(evaluate(part, env), dtype=np.float64), y.shape)
            h = 1e-4 * (float(np.std(value)) + 1e-3)
            with_z = _replace(expr, holder, group, z)
            shifted = np.asarray(evaluate(with_z, {**env, z: value + h}), dtype=np.float64)
        J = (shifted - base) / h
        if not np.all(np.isfinite(J)) or not np.any(J):
            continue
        target = y - base + J * value
        rest = total - readable_size(part)  # the member's size without the part (a group: roughly)
        # the part as a constant (0: dropped), e.g. x1/2 + x2 -> x2 + 2/3
        jj, jt, tt = J @ J, J @ target, target @ target
        for d, nodes in _kept_values(float(jt / jj)) + [(0.0, 0)]:
            mse = max(d * d * jj - 2 * d * jt + tt, 0.0) / len(y)
            screened.append((knee_score(math.sqrt(mse / var), rest + nodes), len(screened), part, holder, group,
                             None, None, 0.0, d))
        for f, inner, size, column in _columns(sorted(part.free_symbols, key=str), unaries, env, y.shape, columns):
            with np.errstate(all="ignore"):
                g = column * J
            if not np.all(np.isfinite(g)):
                continue
            score, c, d = _screen(g, J, target, jj, jt, tt, var, rest + size)
            if math.isfinite(score):
                screened.append((score, len(screened), part, holder, group, f, inner, c, d))
    screened.sort(key=lambda s: s[:2])
    out: list[sympy.Expr] = []
    seen: set[sympy.Expr] = set()
    for _, _, part, holder, group, f, inner, c, d in screened:
        if len(out) >= REFITS or time.perf_counter() > deadline:
            break
        new = _number(d) if f is None else _number(c) * f.build(inner) + _number(d)
        if new == part:
            continue
        trial = _freed(_replace(expr, holder, group, new))
        shape = trial.xreplace({x: sympy.Integer(1) for x in trial.atoms(sympy.Float)})
        if shape in seen:
            continue
        seen.add(shape)
        # a replaced factor leaves redundant constants (1.75*x0*(0.572*x1 + 0.571*exp(x2)/sqrt(x3))):
        # merged, they show their simple values to the knee snap
        fitted = snap.tidy(forms.merge_constants(snap.refit(trial, env, y, max_nfev=30, deadline=deadline)))
        simpler = readable.knee_snap(fitted, env, y, var, deadline)
        out.append(simpler if simpler is not None else fitted)
    return out
