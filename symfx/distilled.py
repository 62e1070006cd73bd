"""Distilled: one region with its fit — the record users read, the module runs and files hold.

A ``Distilled`` is the pair the passes produced for a region: where it sits in the traced
graph (:class:`~symfx.passes.partition.Region`) and its equations with their Pareto fronts
and errors (:class:`~symfx.passes.fit.Fit`), plus whether the module runs it. Every other view
(``exprs``, ``nrmse``, ``front``...) is read from those two, never copied.

The same record is what ``symfx.distill`` returns for a black-box function (a one-region
"row" record, ``x [n, k] -> y [n, m]``, with :class:`Calls` saying which rows were dropped),
and every record reads alike: ``latex()``, ``table()``, ``to_pandas()``, ``choose()``,
``d(x)``, ``to_module()`` (lowered by the rewrite pass, like a region in a model) and ``save()``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sympy

from .lowering import round_expr

if TYPE_CHECKING:
    from .engines.base import Candidate
    from .passes.fit import Fit, Projection
    from .passes.partition import Region
    from .slime import Local

__all__ = ["Distilled", "Calls"]


@dataclass(frozen=True)
class Calls:
    """How ``symfx.distill`` called the function: rows given, kept, and dropped by cause (never silently)."""

    rows: int
    kept: int
    nonfinite_inputs: int = 0  # rows with NaN/Inf inputs
    nonfinite_outputs: int = 0  # rows where fn returned NaN/Inf (e.g. an answer that did not parse)
    raised: int = 0  # rows on which fn raised
    first_error: str | None = None  # the first exception, for the report
    batched: bool = True
    fallback: str | None = None  # why a batched call was retried row by row

    @property
    def dropped(self) -> int:
        return self.rows - self.kept

    def summary(self) -> str:
        causes = [f"{n} {what}" for n, what in ((self.nonfinite_inputs, "with NaN/Inf inputs"),
                                                 (self.nonfinite_outputs, "with NaN/Inf outputs"),
                                                 (self.raised, "raised")) if n]
        text = f"{self.kept} of {self.rows} rows kept"
        if causes:
            text += f", {self.dropped} dropped: " + ", ".join(causes)
        if self.first_error:
            text += f" (first error: {self.first_error})"
        return text


@dataclass(eq=False)
class Distilled:
    """One replaced subgraph: its equations, how well they match the network, and the whole front."""

    region: Region
    fit: Fit
    active: bool = True  # equations in use (False after use_neural(name), or when never applied)
    note: str | None = None  # why symfx did not apply the law (off the network, or refused by validation)
    calls: Calls | None = None  # symfx.distill only: how the function's rows went (not saved in files)
    local: Local | None = None  # symfx.explain only: where the local law holds and how well (not saved)

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

    @property
    def accepted(self) -> bool:
        """The equations are within ``tolerance`` of what they replace (or were picked with ``choose``).

        The best law found is kept even when it is not: then this is False, :attr:`status` is
        ``"not applied"`` and :attr:`note` says why; ``exprs`` still holds that law.
        """
        return self.fit.accepted

    @property
    def dropped_rows(self) -> int:
        """Rows of a distilled function that were not used (NaN/Inf or raised); 0 for model regions."""
        return self.calls.dropped if self.calls is not None else 0

    def equations(self, digits: int = 4) -> list[str]:
        """Readable equations with constants rounded to ``digits`` significant digits."""
        return [str(round_expr(e, digits)) for e in self.exprs]

    def __repr__(self) -> str:
        eqs = "; ".join(self.equations())
        return f"Distilled({self.name!r}, {self.kind}, {self.status}, nrmse={self.nrmse:.3g}, {eqs})"

    # ----------------------------------------------------------------- reading the front
    def _front(self, output: int) -> tuple[Candidate, ...]:
        return self.fit.front_of(output)

    def latex(self, output: int = 0, digits: int = 4) -> str:
        """LaTeX of the chosen equation of ``output``, constants rounded to ``digits`` significant digits."""
        self._front(output)
        return sympy.latex(round_expr(self.exprs[output], digits))

    def _rows(self, output: int, digits: int) -> list[dict[str, Any]]:
        self._front(output)
        chosen = self.fit.chosen[output] if self.fit.chosen is not None else -1
        return [{"complexity": m.complexity, "loss": m.loss, "nrmse": m.nrmse, "safe": m.safe,
                 "chosen": i == chosen, "equation": str(round_expr(m.expr, digits)), "expr": m.expr}
                for i, m in enumerate(self._front(output))]

    def table(self, output: int = 0, digits: int = 4) -> str:
        """The Pareto front of ``output`` as text: complexity, training loss, held-out nrmse, equation.

        ``*`` marks the chosen member; ``!`` one that is not finite on the input range plus margin.
        """
        head = ("", "complexity", "loss", "nrmse", "equation")
        rows = [head] + [("*" if r["chosen"] else ("!" if not r["safe"] else ""), str(r["complexity"]),
                          f"{r['loss']:.3g}", f"{r['nrmse']:.3g}", r["equation"]) for r in self._rows(output, digits)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i == 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                 for r in rows]
        return "\n".join(lines[:1] + ["  ".join("-" * w for w in widths)] + lines[1:])

    def to_pandas(self, output: int = 0, digits: int = 4) -> Any:
        """The Pareto front of ``output`` as a ``pandas.DataFrame`` (pandas is imported only here)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Distilled.to_pandas needs pandas: pip install pandas") from None
        return pd.DataFrame(self._rows(output, digits))

    def choose(self, complexity: int | None = None, output: int = 0, *, member: int | None = None) -> "Distilled":
        """A new record with ``output`` switched to its front member of ``complexity`` (the most
        accurate one of that complexity), or to ``self.front[output][member]``; this one is unchanged.

        A choice is the user's: the new record counts as accepted (as ``SymbolicModule.choose``).
        """
        from .passes.fit import with_choice

        self._front(output)
        return dataclasses.replace(self, fit=with_choice(self.fit, output, complexity, member))

    # ----------------------------------------------------------------- running the equations
    def to_module(self, dtype: Any = None, device: Any = None) -> Any:
        """An ``nn.Module`` computing the chosen equations: ``x [..., in_features] -> [..., m]`` (``[...]`` for
        one output), the columns of ``x`` in the order of the region's input features.

        It is a one-region fx graph rewritten by the rewrite pass (the same lowering through the
        operator table as a region in a model), so ``torch.compile`` fuses it into one kernel and
        ``torch.export`` exports it. ``dtype`` (default float32) is the dtype of its projection
        buffers, if any; ``device`` where they live.
        """
        import torch
        import torch.fx as fx

        from .passes.partition import Region
        from .passes.rewrite import rewrite

        if not self.exprs:
            raise ValueError(f"{self.name}: no equation to run ({self.status})")
        graph = fx.Graph()
        x = graph.placeholder("x")
        y = graph.create_node("call_function", torch.ops.aten.alias.default, (x,), name="y")
        y.meta["tensor_meta"] = SimpleNamespace(dtype=dtype or torch.float32)
        out = y
        if self.region.out_features == 1:
            out = graph.call_function(torch.ops.aten.squeeze.dim, (y, -1))
        graph.output(out)
        gm = fx.GraphModule(torch.nn.Module(), graph, class_name="Equations")
        region = Region(name=self.name, unit="", kind="row", nodes=("y",), inputs=("x",),
                        input_widths=(self.region.in_features,), output="y",
                        out_features=self.region.out_features, variables=self.variables)
        module = rewrite(gm, [(region, self.fit)])
        return module.to(device) if device is not None else module

    def __call__(self, x: Any) -> Any:
        """Evaluate the chosen equations on ``x [..., in_features]``: torch in, torch out (same dtype and
        device); anything else (numpy, lists) in, numpy float64 out."""
        import numpy as np
        import torch

        if isinstance(x, torch.Tensor):
            dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
            return self._module(dtype, x.device)(x.to(dtype))
        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        return self._module(torch.float64, t.device)(t).numpy()

    def _module(self, dtype: Any, device: Any) -> Any:
        cache = self.__dict__.setdefault("_modules", {})  # per record (choose() returns a new one)
        key = (dtype, str(device))
        if key not in cache:
            cache[key] = self.to_module(dtype, device)
        return cache[key]

    # ----------------------------------------------------------------- reports and files
    def report(self, digits: int = 4) -> str:
        """Status, equations, error, the front of each output, and (for a function) the rows dropped."""
        lines = [f"{self.name}: {self.status}; held-out nrmse {self.nrmse:.3g}; variables {', '.join(self.variables)}"]
        if self.local is not None:
            lines.append(self.local.summary())
        if self.calls is not None:
            lines.append(f"rows: {self.calls.summary()}")
            if self.calls.fallback:
                lines.append(f"note: {self.calls.fallback}")
        for k, eq in enumerate(self.equations(digits)):
            lines += [f"y{k} = {eq}", self.table(k, digits)]
        return "\n".join(lines)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this record to the safe JSON file format (read it with ``symfx.load_distilled``).

        The equations, fronts, error and status are saved; ``calls`` (the drop counts) is not.
        """
        from .fileformat import Payload, write

        write(Payload((self,), model=self.name), path)

