"""Distilled: one region with its fit — the record users read, the module runs and files hold.

A ``Distilled`` is the pair the passes produced for a region: where it sits in the traced
graph (:class:`~symfx.passes.partition.Region`) and its equations with their Pareto fronts
and errors (:class:`~symfx.passes.fit.Fit`), plus whether the module runs it. Every other view
(``exprs``, ``nrmse``, ``front``...) is read from those two, never copied.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy

from .lowering import round_expr

if TYPE_CHECKING:
    from .engines.base import Candidate
    from .passes.fit import Fit, Projection
    from .passes.partition import Region

__all__ = ["Distilled"]


@dataclass(eq=False)
class Distilled:
    """One replaced subgraph: its equations, how well they match the network, and the whole front."""

    region: Region
    fit: Fit
    active: bool = True  # equations in use (False after use_neural(name), or when never applied)
    note: str | None = None  # why symfx did not apply the law (off the network, or refused by validation)

    @property
    def status(self) -> str:
        """``"symbolic"`` (the equations run), ``"neural"`` (switched off with ``use_neural``), or
        ``"not applied"``: the law was found and is reported, but symfx kept the network (``note``
        says why; ``sm.use_symbolic(name)`` applies it anyway)."""
        if self.active:
            return "symbolic"
        return "not applied" if self.note is not None else "neural"

    @property
    def name(self) -> str:
        return self.region.name

    @property
    def kind(self) -> str:
        """``"row"`` or ``"elementwise"``."""
        return self.region.kind

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(self.fit.variables)

    @property
    def exprs(self) -> list[sympy.Expr]:
        """The chosen equation per fitted output (per principal component with ``pca_out``)."""
        return list(self.fit.exprs)

    @property
    def nrmse(self) -> float:
        """Region output vs. the network on held-out rows (normalized RMSE)."""
        return self.fit.nrmse

    @property
    def output_nrmse(self) -> tuple[float, ...]:
        return tuple(self.fit.output_nrmse)

    @property
    def front(self) -> list[tuple[Candidate, ...]]:
        """Per output, the scored Pareto front in ascending complexity."""
        return list(self.fit.fronts)

    @property
    def nodes(self) -> tuple[str, ...]:
        """FX nodes the equations replace."""
        return self.region.nodes

    @property
    def inputs(self) -> tuple[str, ...]:
        """FX nodes the equations read."""
        return self.region.inputs

    @property
    def module_paths(self) -> tuple[str, ...]:
        return self.region.module_paths

    @property
    def projection(self) -> Projection | None:
        return self.fit.projection

    @property
    def seconds(self) -> float:
        """Fit time."""
        return self.fit.seconds

    def equations(self, digits: int = 4) -> list[str]:
        """Readable equations with constants rounded to ``digits`` significant digits."""
        return [str(round_expr(e, digits)) for e in self.exprs]

    def __repr__(self) -> str:
        eqs = "; ".join(self.equations())
        return f"Distilled({self.name!r}, {self.kind}, {self.status}, nrmse={self.nrmse:.3g}, {eqs})"
