"""Record pass: capture each region's inputs and outputs while calibration data runs.

An ``fx.Interpreter`` subclass watches the region boundary nodes. Rows stay on
the model's device in a bounded reservoir (uniform sampling over the whole
stream via random priorities + top-k); only the kept rows reach the host.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import torch
import torch.fx as fx

if TYPE_CHECKING:  # the partition pass's contract (types only: no pass imports another)
    from .partition import Region

__all__ = ["Samples", "Reservoir", "RecordingInterpreter", "RecordingUnit", "capture", "finish"]


@dataclass(frozen=True)
class Samples:
    """Recorded rows of one region, split into fitting and held-out rows."""

    region: str
    X: torch.Tensor  # [n, in_features], on the model's device
    Y: torch.Tensor  # [n, out_features]
    X_holdout: torch.Tensor
    Y_holdout: torch.Tensor
    x_min: torch.Tensor  # per input feature, over every finite row seen (not only the kept ones)
    x_max: torch.Tensor
    rows_seen: int
    rows_dropped: int  # rows with NaN/Inf, never kept
    skipped: str | None = None  # why this region cannot be fitted, if so


class Reservoir:
    """Uniform sample without replacement of a stream of rows, kept on the rows' device.

    Every row gets a random key; the reservoir keeps the ``capacity`` rows with the largest
    keys (top-k), which is a uniform sample of everything seen. Incoming batches wait in a
    pending list and are merged once they add up to ``capacity`` rows (or when the sample is
    read), so small calibration batches cost a few tensor ops each instead of a
    concatenate-and-top-k per batch. The result is the same rows in the same order as merging
    every batch at once.

    ``defer_checks`` (default: on for any device but the CPU) moves the NaN/Inf check and the
    domain bounds of batches up to ``capacity`` rows from ``add`` to the merge: reading a value
    back to the host stalls an accelerator's queue, so there a batch costs a key draw and a copy,
    and the host is read once per merge. On the CPU a host read is free, so each batch is checked
    on arrival and, once the reservoir is full, rows whose key cannot beat its smallest one are
    dropped before they are copied.
    """

    def __init__(self, capacity: int, seed: int, defer_checks: bool | None = None):
        self.capacity = capacity
        self.seed = seed
        self.defer_checks = defer_checks
        self._keys: torch.Tensor | None = None
        self._X: torch.Tensor | None = None
        self._Y: torch.Tensor | None = None
        self._pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._pending_rows = 0
        self._unchecked = False  # pending rows not yet checked for NaN/Inf nor counted in the bounds
        self._bounds: list[tuple[torch.Tensor, torch.Tensor]] = []  # per checked batch: (min, max) per column
        self._threshold: torch.Tensor | None = None  # smallest kept key once the reservoir is full
        self.generator: torch.Generator | None = None
        self.rows_seen = 0
        self._rows_dropped = 0
        self._x_min: torch.Tensor | None = None
        self._x_max: torch.Tensor | None = None

    def add(self, X: torch.Tensor, Y: torch.Tensor) -> None:
        X = X.detach()
        Y = Y.detach()
        rows = X.shape[0]
        self.rows_seen += rows
        if rows == 0:
            return
        if self.generator is None:
            self.generator = torch.Generator(device=X.device).manual_seed(self.seed)
        # one key per row seen, finite or not, so the sample does not depend on where rows are checked
        keys = torch.rand(rows, generator=self.generator, device=X.device)
        defer = X.device.type != "cpu" if self.defer_checks is None else self.defer_checks
        if defer and rows <= self.capacity:
            # never hold views of the model's live activations (a later in-place op would change them)
            self._pending.append((keys, X.clone(), Y.clone()))
            self._pending_rows += rows
            self._unchecked = True
        else:
            kept = self._check(keys, X, Y)
            if kept is None:
                return
            self._pending.append(kept)
            self._pending_rows += kept[0].shape[0]
        if self._pending_rows >= self.capacity or len(self._pending) >= 64:
            self._merge()

    def _check(self, keys: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, copy: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Drop NaN/Inf rows, record the rows' bounds, admit rows that can enter a full reservoir.

        Returns (keys, X, Y), copies where ``copy``, or None when no row is left."""
        # one whole-batch check on the common path (a NaN or Inf anywhere makes the sum non-finite;
        # a sum that overflows only sends a clean batch down the exact per-row path)
        if not math.isfinite(float(X.sum(dtype=torch.float64) + Y.sum(dtype=torch.float64))):
            finite = torch.isfinite(X).all(dim=1) & torch.isfinite(Y).all(dim=1)
            self._rows_dropped += int((~finite).sum())
            keys, X, Y = keys[finite], X[finite], Y[finite]
            if X.shape[0] == 0:
                return None
        # the domain covers every finite row seen, not only the kept ones
        self._bounds.append(torch.aminmax(X, dim=0))
        if self._threshold is not None:
            # a full reservoir only admits rows whose key beats its smallest one (which only grows)
            admit = torch.nonzero(keys > self._threshold).squeeze(1)  # once, not a mask per tensor
            return keys[admit], X[admit], Y[admit]  # index gathers copy
        return (keys, X.clone(), Y.clone()) if copy else (keys, X, Y)

    @property
    def rows_dropped(self) -> int:
        """Rows with NaN/Inf, never kept."""
        self._merge()
        return self._rows_dropped

    def _merge(self) -> None:
        if self._pending:
            keys, X, Y = (torch.cat(parts) if len(parts) > 1 else parts[0] for parts in zip(*self._pending))
            self._pending, self._pending_rows = [], 0
            if self._unchecked:  # deferred batches: one host read for all of them
                checked = self._check(keys, X, Y, copy=False)  # pending rows are copies already
                self._unchecked = False
                if checked is None:
                    keys = None
                else:
                    keys, X, Y = checked
            if keys is not None and keys.shape[0]:
                if self._keys is not None:
                    keys = torch.cat([self._keys, keys])
                    X = torch.cat([self._X, X])
                    Y = torch.cat([self._Y, Y])
                if keys.shape[0] > self.capacity:
                    keys, idx = torch.topk(keys, self.capacity)
                    X, Y = X[idx], Y[idx]
                if keys.shape[0] >= self.capacity:
                    self._threshold = keys.min()
                self._keys, self._X, self._Y = keys, X, Y
        if self._bounds:
            lo = torch.stack([b[0] for b in self._bounds]).amin(0)
            hi = torch.stack([b[1] for b in self._bounds]).amax(0)
            self._x_min = lo if self._x_min is None else torch.minimum(self._x_min, lo)
            self._x_max = hi if self._x_max is None else torch.maximum(self._x_max, hi)
            self._bounds = []

    # Read-outs merge the pending batches first.
    X = property(lambda self: self._read("_X"), doc="Kept inputs [n, in_features] (n ≤ capacity); None before any row.")
    Y = property(lambda self: self._read("_Y"), doc="Kept outputs [n, out_features], row-aligned with X.")
    keys = property(lambda self: self._read("_keys"), doc="The kept rows' random keys.")
    x_min = property(lambda self: self._read("_x_min"), doc="Per input feature, over every finite row seen.")
    x_max = property(lambda self: self._read("_x_max"), doc="Per input feature, over every finite row seen.")

    def _read(self, name: str) -> torch.Tensor | None:
        self._merge()
        return getattr(self, name)


class RecordingInterpreter(fx.Interpreter):
    """Runs a GraphModule and hands each watched region's (inputs, output) to its reservoir."""

    def __init__(self, gm: fx.GraphModule, regions: Sequence[Region], reservoirs: dict[str, Reservoir]):
        super().__init__(gm)
        self.regions = list(regions)
        self.reservoirs = reservoirs
        self.watch: dict[str, list[Any]] = {}
        for region in self.regions:
            for name in (*region.inputs, region.output):
                self.watch.setdefault(name, []).append(region)
        self.values: dict[str, torch.Tensor] = {}

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        if n.name in self.watch:
            self.values[n.name] = value
            for region in self.watch[n.name]:
                if n.name == region.output:
                    self._capture(region)
        return value

    def _capture(self, region: Region) -> None:
        capture(region, self.values, self.reservoirs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().run(*args, **kwargs)
        finally:
            self.values.clear()


def capture(region: Region, values: dict[str, torch.Tensor], reservoirs: dict[str, Reservoir]) -> None:
    """Add one batch of ``region``'s rows to its reservoir, from its boundary values by node name."""
    out = values[region.output]
    if region.kind == "row":
        lead = out.shape[:-1]
        cols = [values[name].expand(*lead, w).reshape(-1, w) for name, w in zip(region.inputs, region.input_widths)]
        X = torch.cat(cols, dim=1) if len(cols) > 1 else cols[0]
        Y = out.reshape(-1, region.out_features)
    else:
        X = torch.stack([values[name].expand_as(out).reshape(-1) for name in region.inputs], dim=1)
        Y = out.reshape(-1, 1)
    reservoirs[region.name].add(X, Y)


class RecordingUnit(torch.nn.Module):
    """Stands in for a traced unit while calibration runs, so the rest of the model runs as usual."""

    def __init__(self, gm: fx.GraphModule, interpreter: RecordingInterpreter):
        super().__init__()
        self.gm = gm
        self.interpreter = interpreter

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        # Interpreter takes positional args only; map keyword args onto the placeholders' order
        if kwargs:
            names = [n.target for n in self.gm.graph.nodes if n.op == "placeholder"]
            args = tuple(args) + tuple(kwargs[name] for name in names[len(args):] if name in kwargs)
        return self.interpreter.run(*args)


def finish(regions: Sequence[Region], reservoirs: dict[str, Reservoir], holdout: float, min_samples: int,
           seed: int) -> dict[str, Samples]:
    """Turn filled reservoirs into Samples with a random held-out split."""
    out: dict[str, Samples] = {}
    for region in regions:
        res = reservoirs[region.name]
        n = 0 if res.X is None else res.X.shape[0]
        reason = None
        if n < min_samples:
            reason = (
                f"only {n} usable rows recorded (need min_samples={min_samples}; "
                f"{res.rows_dropped} of {res.rows_seen} rows had NaN/Inf)"
            )
        if n == 0:
            empty = torch.zeros(0, region.in_features)
            out[region.name] = Samples(region.name, empty, torch.zeros(0, region.out_features), empty,
                                       torch.zeros(0, region.out_features), torch.zeros(region.in_features),
                                       torch.zeros(region.in_features),
                                       res.rows_seen, res.rows_dropped, reason)
            continue
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=g).to(res.X.device)
        n_hold = max(1, int(round(n * holdout)))
        hold, train = perm[:n_hold], perm[n_hold:]
        out[region.name] = Samples(
            region.name, res.X[train], res.Y[train], res.X[hold], res.Y[hold],
            res.x_min, res.x_max, res.rows_seen, res.rows_dropped, reason,
        )
    return out
