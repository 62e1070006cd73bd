"""The front end of ``symfx.distill``: call a black-box function on rows, keep the usable ones, count the rest.

It plays the part trace/probe/partition play for a model: it turns ``fn`` and ``inputs`` into
one row :class:`~symfx.passes.partition.Region` (``x [n, k] -> y [n, m]``) and the rows to
record. Rows whose inputs or outputs are NaN/Inf, and rows on which ``fn`` raises, are dropped
and counted (:class:`~symfx.distilled.Calls`); a function that cannot be used at all (not
callable, wrong output shape, no usable row) is a :class:`~symfx.errors.FunctionError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .config import Config
from .distilled import Calls, Distilled
from .errors import ConfigError, FunctionError
from .passes.fit import Fit
from .passes.partition import Region

__all__ = ["FunctionRows", "call_rows"]


@dataclass(frozen=True)
class FunctionRows:
    """The usable rows of one function: its region, inputs ``X [n, k]``, outputs ``Y [n, m]`` (float64)."""

    region: Region
    X: torch.Tensor
    Y: torch.Tensor
    calls: Calls

    def distilled(self, fits: Mapping[str, Fit]) -> Distilled:
        """The fit pass's result as a record; a law that misses ``tolerance`` is kept, marked not accepted."""
        fit = fits[self.region.name]
        return Distilled(self.region, fit, active=fit.accepted, calls=self.calls,
                         note=None if fit.accepted else (fit.reason or "no law within tolerance"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else type(value).__name__


def _as_matrix(inputs: Any) -> tuple[Any, np.ndarray, str]:
    """(what ``fn`` is called with, float64 copy for fitting, "torch" or "numpy")."""
    if isinstance(inputs, torch.Tensor):
        kind, given = "torch", inputs.detach()
        try:
            values = given.cpu().double().numpy()
        except (TypeError, RuntimeError) as exc:
            raise FunctionError(f"inputs of dtype {given.dtype} cannot be read as numbers ({_first_line(exc)})") from None
    else:
        kind = "numpy"
        try:
            given = np.asarray(inputs)
            values = given.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise FunctionError(f"inputs ({_describe(inputs)}) are not a numeric [n, k] array or tensor "
                                f"({_first_line(exc)})") from None
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise FunctionError(f"inputs must be a [n, k] array or tensor (n rows of k variables), got shape "
                            f"{tuple(values.shape)}; for one variable pass x[:, None]")
    return given, values, kind


def _to_numpy(out: Any) -> np.ndarray:
    if isinstance(out, torch.Tensor):
        return out.detach().cpu().double().numpy()
    return np.asarray(out, dtype=np.float64)


def _call_batched(fn: Callable[[Any], Any], given: Any, n: int) -> np.ndarray:
    out = fn(given)
    try:
        Y = _to_numpy(out)
    except (TypeError, ValueError) as exc:
        raise FunctionError(f"fn returned {_describe(out)}, not numbers ({_first_line(exc)}); "
                            "it must return a [n] or [n, m] array or tensor") from None
    if Y.ndim == 1 and Y.shape[0] == n:
        return Y[:, None]
    if Y.ndim == 2 and Y.shape[0] == n and Y.shape[1] >= 1:
        return Y
    raise FunctionError(f"fn returned shape {tuple(Y.shape)} for inputs of {n} rows; it must return [n] or "
                        f"[n, m] with n = {n} (one output row per input row). Pass batched=False if fn "
                        "takes one row at a time.")


def _call_rows(fn: Callable[[Any], Any], given: Any, n: int, kind: str) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Call ``fn`` on each row ``given[i]`` (a [k] array or tensor); rows that raise become NaN and are counted."""
    rows: list[np.ndarray | None] = []
    raised = np.zeros(n, dtype=bool)
    first_error, width = None, None
    for i in range(n):
        row = given[i]
        try:
            value = _to_numpy(fn(row)).reshape(-1)
        except Exception as exc:  # the user's function: any error drops this row, and is counted
            raised[i] = True
            first_error = first_error or f"row {i}: {_first_line(exc)}"
            rows.append(None)
            continue
        if width is None:
            width = value.shape[0]
            if width == 0:
                raise FunctionError(f"fn returned an empty result for row {i}; it must return a number or a [m] vector")
        elif value.shape[0] != width:
            raise FunctionError(f"fn returned {value.shape[0]} values for row {i} but {width} for an earlier row; "
                                "every row must give the same number of outputs")
        rows.append(value)
    if width is None:
        raise FunctionError(f"fn raised on every one of the {n} rows (first: {first_error}); nothing to distil. "
                            f"Check that fn accepts one row (a [k] {kind} vector) with batched=False.")
    Y = np.full((n, width), np.nan)
    for i, value in enumerate(rows):
        if value is not None:
            Y[i] = value
    return Y, raised, first_error


def _variables(variable_names: Sequence[str] | None, k: int, cfg: Config) -> tuple[str, ...]:
    pca = bool(cfg.pca_in) and k > cfg.max_inputs
    want = cfg.pca_in if pca else k
    if variable_names is None:
        return tuple(f"p{i}" for i in range(want)) if pca else tuple(f"x{i}" for i in range(k))
    if isinstance(variable_names, str):
        variable_names = variable_names.replace(",", " ").split()
    names = tuple(str(v) for v in variable_names)
    if len(names) != want:
        raise ConfigError(f"variable_names has {len(names)} names for {want} "
                          f"{'principal components (pca_in)' if pca else 'input columns'}.")
    bad = [v for v in names if not v.isidentifier()]
    if bad or len(set(names)) != len(names):
        raise ConfigError(f"variable_names must be distinct identifiers, got {list(names)}.")
    return names


def _name(fn: Callable[..., Any]) -> str:
    name = re.sub(r"\W", "_", getattr(fn, "__name__", "") or "").strip("_")
    return name if name and name != "lambda" else "function"


def call_rows(fn: Callable[[Any], Any], inputs: Any, cfg: Config, variable_names: Sequence[str] | None = None,
              batched: bool = True) -> FunctionRows:
    """Call ``fn`` on ``inputs`` and keep the rows that can be fitted (see the module docstring).

    ``batched=True`` calls ``fn(inputs)`` once; if that raises, ``fn`` is called row by row so that
    only the rows that raise are dropped (``Calls.fallback`` says why). ``batched=False`` calls
    ``fn(inputs[i])`` for each row (e.g. one prompt per row).
    """
    if not callable(fn):
        raise FunctionError(f"symfx.distill needs a callable fn(x) -> y, got {_describe(fn)}; pass the function "
                            "itself (e.g. model.predict, not model.predict(x)).")
    given, X, kind = _as_matrix(inputs)
    n, k = X.shape
    variables = _variables(variable_names, k, cfg)
    fallback = None
    raised, first_error = np.zeros(n, dtype=bool), None
    if batched:
        try:
            Y = _call_batched(fn, given, n)
        except FunctionError:
            raise
        except Exception as exc:  # fn cannot take the whole batch: find the rows it fails on
            fallback = f"fn(inputs) raised {_first_line(exc)}; called it row by row instead"
            Y, raised, first_error = _call_rows(fn, given, n, kind)
    else:
        Y, raised, first_error = _call_rows(fn, given, n, kind)

    bad_in = ~np.isfinite(X).all(axis=1)  # each dropped row is counted once, under its first cause
    raised &= ~bad_in
    bad_out = ~np.isfinite(Y).all(axis=1) & ~bad_in & ~raised
    keep = ~(bad_in | raised | bad_out)
    calls = Calls(rows=n, kept=int(keep.sum()), nonfinite_inputs=int(bad_in.sum()),
                  nonfinite_outputs=int(bad_out.sum()), raised=int(raised.sum()), first_error=first_error,
                  batched=batched, fallback=fallback)
    if calls.kept < cfg.min_samples:
        raise FunctionError(f"only {calls.kept} of {n} rows are usable ({calls.summary()}); symfx.distill "
                            f"needs at least min_samples={cfg.min_samples}. Pass more rows, or inputs where "
                            "fn is defined.")
    region = Region(name=_name(fn), unit="", kind="row", nodes=("y",), inputs=("x",), input_widths=(k,),
                    output="y", out_features=int(Y.shape[1]), variables=variables)
    return FunctionRows(region, torch.from_numpy(X[keep]), torch.from_numpy(Y[keep]), calls)
