"""The front end: trace the model with torch.fx, descending into children that do not trace."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from .errors import CalibrationError, TraceError


@dataclass
class Unit:
    """One traced piece of the model: the root ("") or a child at a module path."""

    path: str
    graph_module: fx.GraphModule


@dataclass
class TraceResult:
    units: list[Unit]
    skipped: list[tuple[str, str]]  # (module path, why it did not trace)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def trace_units(model: torch.nn.Module, max_depth: int = 8) -> TraceResult:
    """Trace ``model``; where it does not trace, trace every largest child that does."""
    units: list[Unit] = []
    skipped: list[tuple[str, str]] = []

    def visit(module: torch.nn.Module, path: str, depth: int) -> None:
        try:
            gm = fx.symbolic_trace(module)
        except Exception as exc:  # torch.fx raises many kinds; each becomes a reason
            children = list(module.named_children())
            if not children or depth >= max_depth:
                skipped.append((path or "<root>", _first_line(exc)))
                return
            skipped.append((path or "<root>", f"descended into children: {_first_line(exc)}"))
            for name, child in children:
                visit(child, f"{path}.{name}" if path else name, depth + 1)
            return
        if _has_compute(gm):
            units.append(Unit(path, gm))

    visit(model, "", 0)
    if not units:
        reasons = "; ".join(f"{p}: {r}" for p, r in skipped[:5]) or "no module has any computation"
        raise TraceError(
            "symfx found nothing traceable in this model with torch.fx.symbolic_trace "
            f"({reasons}). Fix: make the forward free of data-dependent Python control flow, "
            "or pass the traceable submodule (e.g. model.mlp) to symfx.compile."
        )
    return TraceResult(units, skipped)


def _has_compute(gm: fx.GraphModule) -> bool:
    return any(node.op in ("call_module", "call_function", "call_method") for node in gm.graph.nodes)


# ---------------------------------------------------------------------------
# calibration stream
# ---------------------------------------------------------------------------

def _is_array(value: Any) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray))


def single_batch(calibration: Any) -> bool:
    """``calibration`` is one batch: a tensor or numpy array, or a tuple of them (positional inputs)."""
    return _is_array(calibration) or (
        isinstance(calibration, tuple) and bool(calibration) and all(_is_array(t) for t in calibration))


def _tensor(value: Any, dtype: torch.dtype | None) -> Any:
    """A numpy array as a tensor: floating arrays in ``dtype`` (the model's), others (ids, masks) as they are."""
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype == object or value.dtype.kind in "USV":
        raise CalibrationError(f"calibration array of dtype {value.dtype} is not numeric; pass numbers")
    tensor = torch.from_numpy(np.ascontiguousarray(value))
    return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor


def _as_args(item: Any, dtype: torch.dtype | None) -> tuple[Any, ...]:
    if _is_array(item):
        return (_tensor(item, dtype),)
    if isinstance(item, (tuple, list)):
        return tuple(_tensor(v, dtype) for v in item)
    raise CalibrationError(
        f"calibration batch of type {type(item).__name__} is not a tensor or a tuple of tensors; "
        "pass a tensor or numpy array, a tuple of them (positional inputs), or an iterable of those."
    )


def iter_batches(calibration: Any, dtype: torch.dtype | None = None) -> Iterator[tuple[Any, ...]]:
    """Yield positional-argument tuples, one per batch, without holding the stream.

    Numpy arrays become tensors; floating ones take ``dtype`` (the model's floating dtype).
    """
    if single_batch(calibration):
        yield _as_args(calibration, dtype)
        return
    if isinstance(calibration, (str, bytes, dict)) or not isinstance(calibration, Iterable):
        raise CalibrationError(
            f"calibration of type {type(calibration).__name__} is not usable; pass a tensor or numpy array, "
            "a tuple of them (positional inputs), or an iterable of those (e.g. a DataLoader)."
        )
    for item in calibration:
        yield _as_args(item, dtype)


def move_args(args: tuple[Any, ...], device: torch.device | None) -> tuple[Any, ...]:
    if device is None:
        return args
    return tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)


def model_dtype(model: torch.nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating parameter or buffer (what numpy calibration is converted to)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def model_device(model: torch.nn.Module) -> torch.device | None:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return None


# ---------------------------------------------------------------------------
# the model's side: a working copy, one probing run, faithful traces
# ---------------------------------------------------------------------------

def working_copy(model: nn.Module) -> tuple[nn.Module, bool]:
    """A deep copy of ``model`` in eval mode (the user's model is never modified) and its training flag."""
    work = copy.deepcopy(model)
    was_training = work.training
    work.eval()
    return work, was_training


def probe(work: nn.Module, units: Iterable[Unit], args: tuple[Any, ...]) -> dict[str, tuple[Any, ...]]:
    """Run ``work`` once on ``args`` and return each traced unit's positional inputs by path.

    Exceptions from the model propagate unchanged: the caller names them (calibration or load).
    """
    units = list(units)
    unit_args: dict[str, tuple[Any, ...]] = {}
    hooks = []
    for unit in units:
        if unit.path:
            def grab(mod: nn.Module, a: tuple, kw: dict, path: str = unit.path, gm: fx.GraphModule = unit.graph_module) -> None:
                unit_args.setdefault(path, _positional(gm, a, kw))

            hooks.append(work.get_submodule(unit.path).register_forward_pre_hook(grab, with_kwargs=True))
    try:
        with torch.no_grad():
            work(*args)
    finally:
        for h in hooks:
            h.remove()
    if any(u.path == "" for u in units):
        unit_args[""] = tuple(args)
    return unit_args


def _positional(gm: fx.GraphModule, args: tuple, kwargs: dict) -> tuple[Any, ...]:
    """Keyword arguments of a unit's call, appended in its placeholders' order."""
    if not kwargs:
        return tuple(args)
    names = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
    return tuple(args) + tuple(kwargs[n] for n in names[len(args):] if n in kwargs)


def trace_is_faithful(unit: Unit, work: nn.Module, args: tuple[Any, ...]) -> bool:
    """The traced graph gives exactly the module's output on the example inputs."""
    from torch.utils._pytree import tree_leaves

    module = work.get_submodule(unit.path) if unit.path else work
    try:
        with torch.no_grad():
            expected = tree_leaves(module(*args))
            got = tree_leaves(unit.graph_module(*args))
    except Exception:
        return False
    if len(expected) != len(got):
        return False
    for a, b in zip(expected, got):
        if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
            return False
        if isinstance(a, torch.Tensor) and not (a.shape == b.shape and a.dtype == b.dtype and (torch.equal(a, b) or (
                a.is_floating_point() and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)))):  # NaN rows too
            return False
    return True
