"""``symfx.explain``: a local symbolic explanation (SLIME) around one input point.

Around a point ``x*`` it takes the ``n_neighbors`` nearest rows of ``reference`` (real data, if
given) and ``n_synthetic`` Gaussian samples ``N(x*, scale²)``, calls the function there, and fits a
short equation through :func:`symfx.pipeline.distill_function` (the same fit, selection and cache
as ``symfx.distill``). Proximity weighting is by sampling density: the engines take no row
weights, and Gaussian samples already put most rows near ``x*``. The result is exact *near*
``x*`` even when the whole function has no short form.

Its fidelity is measured on fresh samples of the same neighbourhood (``Local.nrmse``) next to a
proximity-weighted linear surrogate fitted to the same rows (LIME's form, ``Local.linear_nrmse``),
so a user sees what the equation buys over a slope.

The explained function is a callable ``f(X [n, k]) -> [n] | [n, m]``, an ``nn.Module`` taking
such rows, or, with ``region="name"``, one region of a model: of a :class:`symfx.SymbolicModule`
(its neural graph) or of a plain model traced with ``example_inputs``; ``x`` is then a point of
the region's own input.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from .config import Config
from .errors import ConfigError, FunctionError

__all__ = ["Local", "explain_point", "region_function"]


@dataclass(frozen=True)
class Local:
    """Where a local explanation holds and how well: the point, the sampling width, fidelities."""

    point: tuple[float, ...]
    scale: tuple[float, ...]  # std of the Gaussian samples, per input
    n_neighbors: int  # rows taken from the reference data
    n_synthetic: int
    nrmse: float  # the equation vs the function on fresh samples of the neighbourhood
    linear_nrmse: float  # LIME's weighted linear surrogate on the same samples

    def summary(self) -> str:
        return (f"local fit around x* (scale {', '.join(f'{s:.3g}' for s in self.scale)}): equation nrmse "
                f"{self.nrmse:.3g}, linear surrogate nrmse {self.linear_nrmse:.3g}")


def _vector(x: Any, what: str) -> np.ndarray:
    value = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    value = value.reshape(-1) if value.ndim == 2 and 1 in value.shape else value
    if value.ndim != 1 or value.size == 0:
        raise ConfigError(f"{what} must be one point (a [k] vector), got shape {tuple(value.shape)}.")
    if not np.isfinite(value).all():
        raise ConfigError(f"{what} holds NaN/Inf: {value.tolist()}.")
    return value


def _scale(point: np.ndarray, scale: Any, reference: np.ndarray | None) -> np.ndarray:
    if scale is not None:
        s = np.broadcast_to(np.asarray(scale, dtype=np.float64), point.shape).copy()
    elif reference is not None and len(reference) > 1:
        s = 0.1 * reference.std(axis=0)
    else:
        s = 0.1 * np.abs(point)
    floor = 0.1 * float(np.mean(np.abs(point))) if np.any(point) else 0.1
    s = np.where(s > 0, s, max(floor, 1e-3))
    if not np.isfinite(s).all():
        raise ConfigError(f"scale must be positive and finite per input, got {s.tolist()}.")
    return s


def _neighbourhood(point: np.ndarray, scale: np.ndarray, reference: np.ndarray | None, n_neighbors: int,
                   n_synthetic: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    rows = [point[None, :] + scale * rng.standard_normal((n_synthetic, point.size))]
    taken = 0
    if reference is not None and n_neighbors:
        d = (((reference - point) / scale) ** 2).sum(axis=1)
        taken = min(n_neighbors, len(reference))
        rows.append(reference[np.argsort(d, kind="stable")[:taken]])
    return np.concatenate(rows), taken


def _linear_surrogate(X: np.ndarray, Y: np.ndarray, point: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """LIME's form: least squares of [1, x - x*] on Y, weighted by exp(-|(x - x*)/scale|² / 2)."""
    Z = (X - point) / scale
    w = np.sqrt(np.exp(-0.5 * (Z**2).sum(axis=1)))
    A = np.column_stack([np.ones(len(X)), X - point])
    coef, *_ = np.linalg.lstsq(A * w[:, None], Y * w[:, None], rcond=None)
    return coef


def _nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    scale = float(target.std())
    err = float(np.sqrt(np.mean((pred - target) ** 2)))
    return err / scale if scale > 1e-12 else (0.0 if err <= 1e-12 else float("inf"))


# ---------------------------------------------------------------------------
# a region of a model, as a function of its own input
# ---------------------------------------------------------------------------

def region_function(gm: fx.GraphModule, region: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(X [n, in_features]) -> Y [n, out_features]``: the region's nodes of ``gm`` as a function.

    The nodes are copied into a graph of their own (placeholders for the region's inputs), which
    shares the unit's parameters.
    """
    graph = fx.Graph()
    env: dict[str, fx.Node] = {name: graph.placeholder(name) for name in region.inputs}
    nodes = {n.name: n for n in gm.graph.nodes}
    for name in region.nodes:
        env[name] = graph.node_copy(nodes[name], lambda n: env[n.name] if n.name in env else _missing(n))
    graph.output(env[region.output])
    sub = fx.GraphModule(gm, graph)
    like = next((t for t in gm.parameters()), None)
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None

    def f(X: torch.Tensor) -> torch.Tensor:
        X = X.to(dtype=dtype, device=device)
        if region.kind == "row":
            cols = np.cumsum((0, *region.input_widths))
            args = [X[:, a:b] for a, b in zip(cols[:-1], cols[1:])]
        else:
            args = [X[:, i] for i in range(X.shape[1])]
        with torch.no_grad():
            return sub(*args).reshape(X.shape[0], -1)

    return f


def _missing(node: fx.Node) -> fx.Node:
    raise FunctionError(f"the region reads node {node.name!r} that is neither its input nor inside it")


def _region_of(model: nn.Module, name: str, example_inputs: Any,
               cfg: Config) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    from .module import SymbolicModule

    if isinstance(model, SymbolicModule):
        regions = model.regions
        if name not in regions:
            raise ConfigError(f"no region named {name!r}; this model's regions: {sorted(regions)}.")
        region = regions[name]
        unit = model._units.get(region.unit)
        if unit is None or unit.neural is None:
            raise ConfigError(f"region {name!r} has no neural graph to explain (was drop_neural() called?).")
        return region_function(unit.neural, region), region.in_features
    if example_inputs is None:
        raise ConfigError("explain(model, x, region=...) needs example_inputs= (a batch the model accepts) to find "
                          "the model's regions; or pass a SymbolicModule from symfx.compile.")
    from .pipeline import find_regions

    regions, units = find_regions(model, example_inputs, cfg)
    by_name = {r.name: r for r in regions}
    if name not in by_name:
        raise ConfigError(f"no region named {name!r}; this model's regions: {sorted(by_name)}.")
    return region_function(units[by_name[name].unit], by_name[name]), by_name[name].in_features


def _module_function(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    like = next((t for t in model.parameters()), None)

    def f(X: torch.Tensor) -> torch.Tensor:
        if like is not None:
            X = X.to(dtype=like.dtype, device=like.device)
        with torch.no_grad():
            return model(X)

    return f


# ---------------------------------------------------------------------------
# the entry point's work
# ---------------------------------------------------------------------------

def explain_point(model_or_fn: Any, x: Any, cfg: Config, *, region: str | None = None, n_neighbors: int = 10,
                  n_synthetic: int = 100, scale: Any = None, reference: Any = None,
                  variable_names: Sequence[str] | None = None, example_inputs: Any = None, executor: Any = None,
                  n_workers: int | None = None) -> Any:
    """See :func:`symfx.explain`."""
    from .pipeline import distill_function

    point = _vector(x, "x")
    for name, value in (("n_neighbors", n_neighbors), ("n_synthetic", n_synthetic)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{name} must be a non-negative integer, got {value!r}.")
    ref = None
    if reference is not None:
        ref = reference.detach().cpu().double().numpy() if isinstance(reference, torch.Tensor) else \
            np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[1] != point.size:
            raise ConfigError(f"reference must be [n, {point.size}] (rows like x), got shape {tuple(ref.shape)}.")
        ref = ref[np.isfinite(ref).all(axis=1)]
    if n_neighbors + n_synthetic < cfg.min_samples:
        raise ConfigError(f"n_neighbors + n_synthetic = {n_neighbors + n_synthetic} rows is below "
                          f"min_samples={cfg.min_samples}; raise n_synthetic.")

    if region is not None:
        if not isinstance(model_or_fn, nn.Module):
            raise ConfigError("region= names a region of a model: pass the nn.Module (or SymbolicModule).")
        fn, width = _region_of(model_or_fn, region, example_inputs, cfg)
        if point.size != width:
            raise ConfigError(f"x has {point.size} values but region {region!r} reads {width} input features.")
        torch_in = True
    elif isinstance(model_or_fn, nn.Module):
        fn, torch_in = _module_function(model_or_fn), True
    elif callable(model_or_fn):
        fn, torch_in = model_or_fn, isinstance(x, torch.Tensor)
    else:
        raise FunctionError(f"symfx.explain needs a callable or an nn.Module, got {type(model_or_fn).__name__}.")

    s = _scale(point, scale, ref)
    rng = np.random.default_rng(cfg.seed)
    rows, taken = _neighbourhood(point, s, ref, n_neighbors, n_synthetic, rng)
    fresh = point[None, :] + s * rng.standard_normal((max(200, n_synthetic), point.size))

    def as_input(A: np.ndarray) -> Any:
        return torch.from_numpy(A) if torch_in else A

    d = distill_function(fn, as_input(rows), cfg, variable_names=variable_names, executor=executor,
                         n_workers=n_workers)
    Y_fresh = _outputs(fn(as_input(fresh)), len(fresh))
    keep = np.isfinite(Y_fresh).all(axis=1)
    pred = np.asarray(d(fresh[keep]), dtype=np.float64).reshape(int(keep.sum()), -1)
    Y_rows = _outputs(fn(as_input(rows)), len(rows))
    ok = np.isfinite(Y_rows).all(axis=1)
    coef = _linear_surrogate(rows[ok], Y_rows[ok], point, s)
    linear = np.column_stack([np.ones(int(keep.sum())), fresh[keep] - point]) @ coef
    local = Local(tuple(point.tolist()), tuple(s.tolist()), taken, n_synthetic,
                  _nrmse(pred, Y_fresh[keep]), _nrmse(linear, Y_fresh[keep]))
    return dataclasses.replace(d, local=local)


def _outputs(out: Any, n: int) -> np.ndarray:
    Y = out.detach().cpu().double().numpy() if isinstance(out, torch.Tensor) else np.asarray(out, dtype=np.float64)
    return Y.reshape(n, -1)
