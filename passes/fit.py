"""Fit pass: symbolic regression per region, then model selection on held-out rows.

For each output feature the engine returns a Pareto front; this pass scores
every front member on held-out rows (normalized RMSE) and on a domain check,
and chooses the simplest member within tolerance. Wide regions can be fitted
in a principal-component basis (``pca_in`` / ``pca_out``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import sympy

from symfx.lowering import evaluate_columns


@dataclass(frozen=True)
class FrontEntry:
    """A Pareto-front member, scored on held-out rows."""

    expr: sympy.Expr
    complexity: int
    loss: float  # MSE on the fitting rows (engine's view)
    nrmse: float  # normalized RMSE on held-out rows
    safe: bool  # finite on the recorded input range plus margin


@dataclass(frozen=True)
class Projection:
    """Linear maps around the equations: z = (x - in_mean) @ in_basis; y = z_out @ out_basis.T + out_mean."""

    in_mean: np.ndarray | None
    in_basis: np.ndarray | None  # [in_features, pca_in]
    out_mean: np.ndarray | None
    out_basis: np.ndarray | None  # [out_features, pca_out]
    in_explained: float | None = None  # share of input variance kept
    out_explained: float | None = None


@dataclass(frozen=True)
class Fit:
    region: str
    variables: tuple[str, ...]
    fronts: tuple[tuple[FrontEntry, ...], ...]  # one per fitted target
    chosen: tuple[int, ...] | None  # index into each front; None when rejected
    output_nrmse: tuple[float, ...]  # per fitted target, of the chosen members
    nrmse: float  # whole region output vs. the network, held-out rows
    projection: Projection | None
    seconds: float
    reason: str | None = None  # why the region stays neural

    @property
    def accepted(self) -> bool:
        return self.chosen is not None

    @property
    def exprs(self) -> tuple[sympy.Expr, ...]:
        if self.chosen is None:
            return ()
        return tuple(front[i].expr for front, i in zip(self.fronts, self.chosen))


FitFn = Callable[..., Sequence[Any]]  # engine.fit-like: (X, Y, variables, options, progress) -> fronts


def _pca(A: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    mean = A.mean(axis=0)
    centered = A - mean
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    k = min(k, vt.shape[0])
    var = s**2
    explained = float(var[:k].sum() / var.sum()) if var.sum() > 0 else 1.0
    return mean, vt[:k].T.copy(), explained


def _nrmse(pred: np.ndarray, target: np.ndarray, scale: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        rmse = np.sqrt(np.mean((pred - target) ** 2, axis=0))
    return np.where(np.isfinite(rmse), rmse / scale, np.inf)


def _scales(Y: np.ndarray) -> np.ndarray:
    """Per-column normalisers: a column's own std, or the region's overall std when the column is ~constant."""
    std = Y.std(axis=0)
    overall = float(np.sqrt(np.mean(std**2))) if std.size else 1.0
    floor = max(overall * 1e-3, 1e-12)
    return np.where(std > floor, std, max(overall, 1e-12))


def fit_region(
    region: Any,
    samples: Any,
    config: Any,
    fit_fn: FitFn,
    progress: Callable[[int, int], None] | None = None,
) -> Fit:
    """Fit one region's recorded samples; return the chosen equations or why none was chosen."""
    start = time.perf_counter()
    X = samples.X.detach().double().cpu().numpy()
    Y = samples.Y.detach().double().cpu().numpy()
    Xh = samples.X_holdout.detach().double().cpu().numpy()
    Yh = samples.Y_holdout.detach().double().cpu().numpy()
    variables = tuple(region.variables)

    in_mean = in_basis = out_mean = out_basis = None
    in_explained = out_explained = None
    if config.pca_in and region.kind == "row" and X.shape[1] > config.max_inputs:
        in_mean, in_basis, in_explained = _pca(X, config.pca_in)
    if config.pca_out and region.kind == "row" and Y.shape[1] > config.pca_out:
        out_mean, out_basis, out_explained = _pca(Y, config.pca_out)
    projection = None
    if in_basis is not None or out_basis is not None:
        projection = Projection(in_mean, in_basis, out_mean, out_basis, in_explained, out_explained)

    def to_vars(A: np.ndarray) -> np.ndarray:
        return A if in_basis is None else (A - in_mean) @ in_basis

    def to_targets(A: np.ndarray) -> np.ndarray:
        return A if out_basis is None else (A - out_mean) @ out_basis

    Z, Zh = to_vars(X), to_vars(Xh)
    T, Th = to_targets(Y), to_targets(Yh)
    if len(variables) != Z.shape[1]:
        raise ValueError(f"region {region.name}: {len(variables)} variable names for {Z.shape[1]} features")

    fronts_raw = fit_fn(Z, T, variables, config, progress)

    # the domain an equation must be finite on: recorded range plus a margin, in variable space
    lo = samples.x_min.detach().double().cpu().numpy()
    hi = samples.x_max.detach().double().cpu().numpy()
    rng = np.random.default_rng(config.seed)
    width = hi - lo
    box = rng.uniform(lo - config.domain_margin * width, hi + config.domain_margin * width, size=(512, lo.shape[0]))
    domain = np.concatenate([to_vars(box), Zh])

    symbols = [sympy.Symbol(v) for v in variables]
    scale = _scales(Th)
    fronts: list[tuple[FrontEntry, ...]] = []
    chosen: list[int] = []
    out_err: list[float] = []
    failed: list[str] = []
    for j, front in enumerate(fronts_raw):
        entries = []
        for cand in front:
            pred = evaluate_columns([cand.expr], symbols, Zh)[:, 0]
            err = float(_nrmse(pred[:, None], Th[:, j : j + 1], scale[j : j + 1])[0])
            safe = bool(np.all(np.isfinite(evaluate_columns([cand.expr], symbols, domain))))
            entries.append(FrontEntry(cand.expr, int(cand.complexity), float(cand.loss), err, safe))
        fronts.append(tuple(entries))
        if config.selection == "accurate":
            safe = [i for i, e in enumerate(entries) if e.safe and np.isfinite(e.nrmse)]
            ok = [min(safe, key=lambda i: entries[i].nrmse)] if safe else []
        else:
            ok = [i for i, e in enumerate(entries) if e.safe and e.nrmse <= config.tolerance]
        if ok:
            chosen.append(ok[0])  # fronts ascend in complexity: the first is the simplest
            out_err.append(entries[ok[0]].nrmse)
        else:
            best = min((e.nrmse for e in entries if e.safe), default=float("inf"))
            failed.append(f"output {j}: best safe equation has nrmse {best:.3g} > tolerance {config.tolerance:g}")
            chosen.append(-1)
            out_err.append(best)

    seconds = time.perf_counter() - start
    if failed:
        return Fit(region.name, variables, tuple(fronts), None, tuple(out_err), float("nan"), projection,
                   seconds, "; ".join(failed[:3]) + (" …" if len(failed) > 3 else ""))
    exprs = [fronts[j][i].expr for j, i in enumerate(chosen)]
    pred = evaluate_columns(exprs, symbols, Zh)
    if out_basis is not None:
        pred = pred @ out_basis.T + out_mean
    scale = max(float(Yh.std()), 1e-12)
    region_err = float(np.sqrt(np.mean((pred - Yh) ** 2)) / scale)  # what the model sees: equations + truncation
    # the gate judges the equations within the kept components; what the dropped components
    # cost the model as a whole is the validate pass's call (model_tolerance)
    kept = Yh if out_basis is None else Th @ out_basis.T + out_mean
    equation_err = float(np.sqrt(np.mean((pred - kept) ** 2)) / scale)
    reason = None
    if not equation_err <= config.tolerance:
        reason = f"region output nrmse {equation_err:.3g} > tolerance {config.tolerance:g}"
    return Fit(region.name, variables, tuple(fronts), None if reason else tuple(chosen), tuple(out_err),
               region_err, projection, seconds, reason)


def with_choice(fit: Fit, output: int, complexity: int, holdout_nrmse: float | None = None) -> Fit:
    """The same fit with output ``output`` switched to its front member of the given complexity."""
    import dataclasses

    front = fit.fronts[output]
    matches = [i for i, e in enumerate(front) if e.complexity == complexity]
    if not matches:
        raise ValueError(
            f"{fit.region}: output {output} has no front member of complexity {complexity}; "
            f"available: {[e.complexity for e in front]}"
        )
    chosen = list(fit.chosen) if fit.chosen is not None else [
        min(range(len(f)), key=lambda i: f[i].nrmse) for f in fit.fronts
    ]
    chosen[output] = matches[0]
    errs = list(fit.output_nrmse)
    errs[output] = front[matches[0]].nrmse
    return dataclasses.replace(fit, chosen=tuple(chosen), output_nrmse=tuple(errs), reason=None,
                               nrmse=holdout_nrmse if holdout_nrmse is not None else fit.nrmse)
