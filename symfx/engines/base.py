"""The engine protocol: every symbolic-regression engine fits behind these few types."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

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


def pareto(candidates: Sequence[Candidate]) -> Front:
    """Keep the non-dominated candidates: each kept one is strictly more accurate than every simpler one."""
    best: dict[sympy.Expr, Candidate] = {}
    for cand in candidates:
        if not np.isfinite(cand.loss):
            continue
        old = best.get(cand.expr)
        if old is None or cand.loss < old.loss:
            best[cand.expr] = cand
    ordered = sorted(best.values(), key=lambda c: (c.complexity, c.loss))
    kept: list[Candidate] = []
    for cand in ordered:
        if not kept or cand.loss < kept[-1].loss:
            kept.append(cand)
    return Front(tuple(kept))
