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
    """One point of a Pareto front."""

    expr: sympy.Expr  # in the sympy Symbols named by ``variables``
    complexity: int  # lowering.complexity(expr): the same measure for every engine
    loss: float  # mean squared error on the rows the engine was given


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


def get_engine(name: str) -> Engine:
    """The engine adapter called ``name``; heavy imports happen only here, on demand."""
    if name == "operon":
        from .operon import OperonEngine

        return OperonEngine()
    if name == "pysr":
        from .pysr import PySREngine

        return PySREngine()
    from ..errors import ConfigError

    raise ConfigError(f"unknown engine {name!r}; use 'operon' (embedded) or 'pysr'.")
