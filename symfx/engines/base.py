"""The engine protocol: every symbolic-regression engine fits behind these few types."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import math

import numpy as np
import sympy

if TYPE_CHECKING:
    from ..config import Config


@dataclass(frozen=True)
class Candidate:
    """One member of a Pareto front: the one type for it, from the engine to the saved file.

    Engines fill ``expr``, ``complexity`` and ``loss``; the fit pass scores every member on
    held-out rows and on the widened input box (``nrmse``, ``safe``).
    """

    expr: sympy.Expr  # in the sympy Symbols named by ``variables``
    complexity: int  # lowering.complexity(expr): the same measure for every engine
    loss: float  # mean squared error on the rows the engine was given (nan: unknown)
    nrmse: float = float("nan")  # normalized RMSE on held-out rows (set by the fit pass)
    safe: bool = True  # finite on the recorded input range plus margin (set by the fit pass)


@dataclass(frozen=True)
class Front:
    """The Pareto front of one output feature, ascending in complexity."""

    candidates: tuple[Candidate, ...]

    def __iter__(self):
        return iter(self.candidates)

    def __len__(self) -> int:
        return len(self.candidates)


#: Called after each finished output with (outputs_done, outputs_total).
ProgressFn = Callable[[int, int], None]


class Engine(Protocol):
    """``fit(X, Y, variables, options) -> list[Front]``, one front per column of ``Y``."""

    name: str

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        variables: Sequence[str],
        options: "Config",
        progress: ProgressFn | None = None,
    ) -> list[Front]: ...


def pareto(candidates: Sequence[Candidate], written: bool = False) -> Front:
    """Keep the non-dominated candidates: each kept one is strictly more accurate than every simpler one.

    With ``written``, also every one that is strictly more accurate than every candidate shorter to
    write (:func:`readable_size`, which charges a decimal by its digits): an exact law
    (``x0**6 + ... + x0``, 19 nodes) stays on the front beside a mimic with as many nodes whose
    fitted decimals fit a network's own error better. The front is still ordered by complexity;
    its loss then need not fall at every step.
    """
    best: dict[sympy.Expr, Candidate] = {}
    for cand in candidates:
        if not np.isfinite(cand.loss):
            continue
        old = best.get(cand.expr)
        if old is None or cand.loss < old.loss:
            best[cand.expr] = cand
    kept = _non_dominated(best.values(), lambda c: c.complexity)
    if written:
        # members with a named constant (pi, log(2), ...) enter by node count only: the knee rule
        # counts such a constant as one node, and within the snapping window log(2)/4 would then
        # win over a plain 0.173 that the data support as well (the gravity demo printed it)
        plain = [c for c in best.values() if not _has_named_constant(c.expr)]
        sizes = {c.expr: readable_size(c.expr) for c in plain}
        kept |= _non_dominated(plain, lambda c: sizes[c.expr])
    return Front(tuple(sorted(kept, key=front_order)))


def front_order(c: Candidate) -> tuple[int, float, str]:
    """A front's order: ascending complexity, then loss (the text breaks ties, for determinism)."""
    return (c.complexity, c.loss, str(c.expr))


def _has_named_constant(expr: sympy.Expr) -> bool:
    return any(not node.free_symbols and node.is_number and not (node.is_Rational or node.is_Float)
               for node in sympy.preorder_traversal(expr))


def _non_dominated(candidates, size: Callable[[Candidate], int]) -> set[Candidate]:
    kept: list[Candidate] = []
    for cand in sorted(candidates, key=lambda c: (size(c), c.loss)):
        if not kept or cand.loss < kept[-1].loss:
            kept.append(cand)
    return set(kept)


#: the knee rule (passes.fit.select) weighs every member within this multiple of ``tolerance``: a
#: long member that fits the network's own error far below tolerance must not push the law out of
#: the running. Engines offer forms of a law that far off the data. Users' networks are 0.1-3 %
#: off the law they learned, i.e. up to 3x the default ``tolerance``: at 2x the knee never saw
#: ``1/x0`` 2.5 % off its network or ``x0 + cos(x1)`` 2.8 % off (both chose 13-15 node mimics).
KNEE_TOLERANCE_WINDOW = 5.0
#: selection (passes.fit.select) weighs members as if ``tolerance`` were this (Config's default),
#: whatever the user's tolerance: the window covers how far a trained network is from its law,
#: which the tolerance does not change; the tolerance says where a law may be applied, not which
#: law is reported. Tighter: a network 0.2 % off ``x0*x1``, fitted at tolerance 1e-7, reported the
#: mimic ``0.972*x0*x1 + 0.005*cos(pi*x0*x1) + 0.06 - 0.075*exp(-x0*x1)`` (torch 2.11, one
#: thread). Looser (until session 26): at the n-body demo's 5 % the window reached 25 %, and the
#: pruned 16-dim springs messages (a network 2 % off Hooke's law) reported ``dx*(r - 1)/r``, 22 %
#: off, over ``-0.04 + 1.16*(dx + 0.14*dy)*(r - 1)/r``, 2.1 % off. The engine's own windows keep
#: ``tolerance``: widened, its joint rounding put ``25/2`` for ``4*pi`` on exact data.
KNEE_TOLERANCE = 1e-2
#: knee rule: members whose held-out error is within this factor of the best one compete
KNEE_WINDOW = 3.0
#: knee rule: each added node must cut the held-out error by at least this much (in log-error)
KNEE_RATE = 0.2
#: held-out errors below this count as equal (float32 rounding of the network's outputs)
KNEE_FLOOR = 1e-6


def knee_score(nrmse: float, size: int) -> float:
    """The knee rule's score of a member (lower wins): ``ln(e) + KNEE_RATE * s``, ``e`` floored."""
    return math.log(max(nrmse, KNEE_FLOOR)) + KNEE_RATE * size


def knee_reach(best: float, tolerance: float) -> float:
    """The largest error the knee rule weighs: KNEE_WINDOW x the best, or KNEE_TOLERANCE_WINDOW x ``tolerance``."""
    return max(KNEE_WINDOW * best, KNEE_TOLERANCE_WINDOW * tolerance)

#: a decimal is charged at most this many digits (the precision step's limit)
MAX_DIGITS = 4
#: ... and this many nodes more for being fitted: a free constant is a parameter that absorbed
#: some of the network's error, not only digits to read (a model-size charge per fitted
#: parameter, as in BIC). Measured on session 23's dev fronts (207 laws, selection rerun): at 0
#: the knee chose 12-node mimics with three decimals over ``2*x0 + log(x0)`` (0.9 % network),
#: ``log(sin(x0))`` and ``0.706/sqrt(x0)``; at 1 it chose the laws and lost none
FITTED_COST = 1


def mantissa_digits(value: float) -> int:
    """Significant digits ``value`` is written with (at least 1): 0.173 -> 3, 1.5e-06 -> 2."""
    mantissa = f"{abs(value):.15g}".split("e")[0].replace(".", "").strip("0")
    return max(1, len(mantissa))


def _decimal_cost(expr: sympy.Expr) -> int:
    """What the decimals in ``expr`` cost beyond their node (0 when it holds none): the significant
    digits written, each counted up to ``MAX_DIGITS`` (the precision step writes no constant with
    more), plus ``FITTED_COST`` per decimal."""
    return sum(min(MAX_DIGITS, mantissa_digits(float(f))) + FITTED_COST for f in expr.atoms(sympy.Float))


def readable_size(expr: sympy.Expr) -> int:
    """Node count as a reader sees it: a named constant is one node, a decimal one more per digit
    and ``FITTED_COST`` more for being fitted.

    Every symbol-free sub-tree (``4*pi``, ``sqrt(2)``, ``1/2``) counts as one node, and the
    symbol-free factors (or terms) of one product (sum) together as one; a sub-tree holding a
    ``Float`` costs one node more per significant digit written and one for the fit (``0.3``
    three nodes, ``1.566`` six). That is description length: a decimal digit is one choice of
    ten, as many bits as one node among ~10 operators and variables; a fitted constant is also a
    parameter that soaked up some of the network's error. So ``4*pi*x0`` (3) beats ``12.57*x0``
    (8), and an exact polynomial beats a mimic whose four fitted decimals fit the network's own
    error better.
    """
    if not expr.free_symbols:
        return 1 + _decimal_cost(expr)
    if not expr.args:
        return 1
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        consts = [a for a in expr.args if not a.free_symbols]
        n = 1 + sum(readable_size(a) for a in expr.args if a.free_symbols)
        if consts:
            n += 1 + sum(_decimal_cost(c) for c in consts)
        return n
    return 1 + sum(readable_size(a) for a in expr.args)


def merged_exponentials(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with a number's exponential merged into another exponential of the same product:
    ``exp(2/3)*exp(-x1)`` is ``exp(2/3 - x1)``. sympy's ``factor`` splits ``exp(c + u)`` so, one
    node shorter (``forms.shortest_written_form`` takes it), and ``exp(2/3)`` alone is no constant
    a reader knows: a law written exactly by :func:`exp_forms` printed ``(x0 + x1)**2*exp(2/3)*exp(-x1)``."""
    def numeric(a: sympy.Basic) -> bool:
        return isinstance(a, sympy.exp) and not a.free_symbols

    def merge(product: sympy.Mul) -> sympy.Expr:
        exps = [a for a in product.args if isinstance(a, sympy.exp)]
        shift = sympy.Add(*[a.args[0] for a in exps if numeric(a)])
        target = next(a for a in exps if not numeric(a))
        rest = [a for a in product.args if not numeric(a) and a is not target]
        return sympy.Mul(*rest, sympy.exp(target.args[0] + shift))

    def split(e: sympy.Basic) -> bool:
        return e.is_Mul and any(numeric(a) for a in e.args) and any(
            isinstance(a, sympy.exp) and a.free_symbols for a in e.args)

    # untouched unless there is one: a rebuilt -(x0 + log(x0) + 5) distributes its sign
    if not any(split(e) for e in sympy.preorder_traversal(expr)):
        return expr
    return expr.replace(split, merge)
