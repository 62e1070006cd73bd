"""The front end: trace the model with torch.fx, descending into children that do not trace."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
import torch.fx as fx

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

def _as_args(item: Any) -> tuple[Any, ...]:
    if isinstance(item, torch.Tensor):
        return (item,)
    if isinstance(item, (tuple, list)):
        return tuple(item)
    raise CalibrationError(
        f"calibration batch of type {type(item).__name__} is not a tensor or a tuple of tensors; "
        "pass a tensor, a tuple of tensors (positional inputs), or an iterable of those."
    )


def iter_batches(calibration: Any) -> Iterator[tuple[Any, ...]]:
    """Yield positional-argument tuples, one per batch, without holding the stream."""
    if isinstance(calibration, torch.Tensor):
        yield (calibration,)
        return
    if isinstance(calibration, tuple) and all(isinstance(t, torch.Tensor) for t in calibration):
        yield calibration
        return
    if isinstance(calibration, (str, bytes, dict)) or not isinstance(calibration, Iterable):
        raise CalibrationError(
            f"calibration of type {type(calibration).__name__} is not usable; pass a tensor, "
            "a tuple of tensors (positional inputs), or an iterable of those (e.g. a DataLoader)."
        )
    for item in calibration:
        yield _as_args(item)


def move_args(args: tuple[Any, ...], device: torch.device | None) -> tuple[Any, ...]:
    if device is None:
        return args
    return tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)


def model_device(model: torch.nn.Module) -> torch.device | None:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return None
