"""SymbolicModule: the result users hold — the model with distilled regions switchable in and out."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import sympy
import torch.fx as fx
import torch.nn as nn

from .config import Config
from .distilled import Distilled
from .errors import RegionError, StateError
from .inductor import inductor_options
from .passes.rewrite import rewrite

if TYPE_CHECKING:
    from .passes.fit import Fit
    from .passes.partition import Region
    from .passes.validate import Validation


class SwitchableUnit(nn.Module):
    """A traced unit: the original graph (``neural``) and the graph with equations in (``symbolic``)."""

    def __init__(self, neural: fx.GraphModule):
        super().__init__()
        self.neural = neural
        self.symbolic: fx.GraphModule | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        graph = self.symbolic if self.symbolic is not None else self.neural
        return graph(*args, **kwargs)


def set_submodule(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, name, module)


class SymbolicModule(nn.Module):
    """The model with its distilled regions rewritten into equations; call it like the model."""

    def __init__(self, model: nn.Module, units: dict[str, SwitchableUnit], regions: Sequence[Region],
                 fits: dict[str, Fit], config: Config, skipped: Sequence[tuple[str, str]] = (),
                 model_name: str = ""):
        super().__init__()
        self.model = model  # the root SwitchableUnit, or a copy of the user's model holding them
        self.model_name = model_name or type(model).__name__  # the user's model class (saved files name it)
        self._units = units
        self._regions = {r.name: r for r in regions}
        self.config = config
        self.skipped: list[tuple[str, str]] = list(skipped)  # (what, why) for everything left neural
        self.validation: Validation | None = None
        self.validated_choice: tuple[Any, ...] | None = None  # current_choice() when validation ran
        self.pruned: dict[str, tuple[list[int], list[int]]] = {}  # module path -> (active, pruned) output dims
        # every region with a law, applied or not (interpretation and rewriting are kept apart)
        self.distilled: list[Distilled] = [
            Distilled(r, fits[r.name], active=fits[r.name].accepted,
                      note=None if fits[r.name].accepted else (fits[r.name].reason or "not within tolerance"))
            for r in regions if r.name in fits and fits[r.name].found]
        self._rebuild()

    @property
    def regions(self) -> dict[str, Region]:
        """Every region found (passes.partition.Region), distilled or not, by name."""
        return dict(self._regions)

    # ----------------------------------------------------------------- building
    def _rebuild(self, units: Iterable[str] | None = None) -> None:
        for path in (units if units is not None else self._units):
            unit = self._units[path]
            pairs = [(d.region, d.fit) for d in self.distilled if d.active and d.region.unit == path]
            unit.symbolic = rewrite(unit.neural, pairs) if pairs else None

    def _check_switchable(self, what: str) -> None:
        if getattr(self, "_neural_dropped", False):
            raise StateError(f"{what}: drop_neural() was called, so this module keeps only its equations and "
                             "cannot switch or rebuild its graphs. Fix: switch before drop_neural(), or apply the "
                             "saved equations to the model again with symfx.load(path, model).")

    def _set_active(self, names: Iterable[str] | None, active: bool) -> None:
        self._check_switchable("use_symbolic()" if active else "use_neural()")
        wanted = None if names is None else set([names] if isinstance(names, str) else names)
        known = {d.name for d in self.distilled}
        if wanted is not None and wanted - known:
            raise RegionError(f"no distilled region named {', '.join(map(repr, sorted(wanted - known)))}; "
                              f"distilled regions: {sorted(known)}")
        touched = set()
        for d in self.distilled:
            # without names, use_symbolic() turns on what symfx applied; a law it did not apply runs
            # only when named (use_symbolic("name"))
            if (wanted is None and (not active or d.note is None)) or (wanted is not None and d.name in wanted):
                d.active = active
                touched.add(self._regions[d.name].unit)
        self._rebuild(touched)

    # ----------------------------------------------------------------- public API
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def use_neural(self, name: str | Iterable[str] | None = None) -> "SymbolicModule":
        """Run the original network for all regions (or the named ones). Outputs match the model exactly."""
        self._set_active(name, False)
        return self

    def use_symbolic(self, name: str | Iterable[str] | None = None) -> "SymbolicModule":
        """Run the equations of every region symfx applied (or of the named ones: naming a region
        whose law was found but not applied, status ``"not applied"``, applies it anyway)."""
        self._set_active(name, True)
        return self

    def drop_neural(self) -> "SymbolicModule":
        """Forget the original graphs of units that run equations, freeing weights only they used.

        Saves memory when shipping the distilled model; afterwards ``use_neural``,
        ``use_symbolic`` and ``choose`` raise :class:`symfx.StateError`; ``save`` still works.
        The user's own model is not affected.
        """
        for unit in self._units.values():
            if unit.symbolic is not None:
                unit.neural = None
        self._neural_dropped = True
        return self

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """``nn.Module.compile`` (in place) with the Inductor options the active equations need.

        On CPU a rewritten row region reads the columns of a ``[rows, k]`` input, and a region
        with several outputs is written column by column; Inductor's defaults then emit scalar
        code and one loop per output. :func:`symfx.inductor.inductor_options` picks the patches
        (SIMD for exp/sin/..., horizontal fusion for several outputs; the PINN benchmark runs 7.8x
        faster at 1e7 rows than under plain ``torch.compile(sm)``, ``make bench``). They are merged into
        ``options`` (your keys win); nothing is added when you pass a ``mode`` (torch.compile
        takes one or the other) or another backend. ``torch.compile(sm)`` is unchanged.
        """
        backend = kwargs.get("backend", "inductor")
        if backend == "inductor" and kwargs.get("mode") is None:
            tensors = list(self.parameters()) + list(self.buffers())
            on_cpu = not tensors or tensors[0].device.type == "cpu"
            graphs = [u.symbolic for u in self._units.values() if u.symbolic is not None]
            options = {**inductor_options(graphs, on_cpu=on_cpu), **(kwargs.get("options") or {})}
            if options:
                kwargs["options"] = options
        super().compile(*args, **kwargs)

    def current_choice(self) -> tuple[Any, ...]:
        """Which equation each region runs now, and whether it is on: (name, active, equations) per region."""
        return tuple((d.name, d.active, tuple(sympy.srepr(e) for e in d.exprs)) for d in self.distilled)

    def __getitem__(self, name: str) -> Distilled:
        for d in self.distilled:
            if d.name == name:
                return d
        raise RegionError(f"no distilled region named {name!r}; distilled regions: {[d.name for d in self.distilled]}")

    def choose(self, name: str, complexity: int | None = None, output: int = 0, *,
               member: int | None = None) -> Distilled:
        """Use another Pareto-front member for one output of a region: the most accurate one of
        ``complexity``, or the one at position ``member`` of the front."""
        d = self[name]
        self._check_switchable("choose()")
        new = d.choose(complexity, output, member=member)  # Distilled.choose: the same code for every record
        self.distilled[self.distilled.index(d)] = new  # a new record: ones handed out earlier stay as they were
        self._rebuild([d.region.unit])
        return new

    def graph_modules(self) -> dict[str, fx.GraphModule]:
        """The FX graph each traced unit runs now, by unit path ("" is the root)."""
        return {p: (u.symbolic if u.symbolic is not None else u.neural) for p, u in self._units.items()}

    def report(self, digits: int = 4, width: int = 72) -> str:
        """A plain-text table: region, nodes replaced, inputs, equation, error, status."""
        rows = [("region", "kind", "nodes", "inputs", "nrmse", "status", "equation")]
        for d in self.distilled:
            proj = ""
            if d.projection is not None:
                parts = []
                if d.projection.in_basis is not None:
                    parts.append(f"pca_in={d.projection.in_basis.shape[1]}")
                if d.projection.out_basis is not None:
                    parts.append(f"pca_out={d.projection.out_basis.shape[1]}")
                proj = " [" + ", ".join(parts) + "]"
            eqs = d.equations(digits)
            for k, eq in enumerate(eqs):
                label = f"y{k} = " if len(eqs) > 1 else "y = "
                text = label + eq
                if len(text) > width:
                    text = text[: width - 1] + "…"
                if k == 0:
                    rows.append((d.name, d.kind + proj, str(len(d.nodes)), ", ".join(d.variables)[:40],
                                 f"{d.nrmse:.2e}", d.status, text))
                else:
                    rows.append(("", "", "", "", f"{d.output_nrmse[k]:.2e}", "", text))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if len(rows) == 1:
            lines.append("(no region distilled)")
        if self.validation is not None:
            line = f"whole-model output nrmse with equations on: {self.validation.model_nrmse:.2e}"
            if self.validated_choice is not None and self.validated_choice != self.current_choice():
                line += (" (measured by symfx.compile for the equations it chose; choose()/use_neural() changed "
                         "them since: compare sm(x) with sm.use_neural()(x) on your data)")
            lines.append(line)
        elif self.distilled:
            lines.append("whole-model output check: none for these equations (symfx.load does not rerun the "
                         "compile-time check, and validate=False skips it): compare sm(x) with "
                         "sm.use_neural()(x) on your data")
        for path, (active, pruned) in self.pruned.items():
            lines.append(f"pruned by OutputPruner: {path or '<root>'} outputs {pruned} are masked to zero "
                         f"(their equations are 0); active: {active}")
        if self.skipped:
            lines.append("left neural:")
            lines += [f"  {what}: {why}" for what, why in self.skipped]
        return "\n".join(lines)

    def save(self, path: str) -> None:
        """Write the equations to a human-readable JSON file (see symfx.load)."""
        from . import serialize

        # laws symfx did not apply are reported, not saved, unless they were switched on by name
        kept = tuple(d for d in self.distilled if d.note is None or d.active)
        serialize.write(serialize.Payload(kept, model=self.model_name), path)

    def extra_repr(self) -> str:
        return f"distilled={[d.name for d in self.distilled]}"
