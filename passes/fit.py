"""Fit pass: symbolic regression per region, then model selection on held-out rows.

For each output feature the engine returns a Pareto front; this pass scores
every front member on held-out rows (normalized RMSE) and on a domain check,
and chooses the simplest member within tolerance. Wide regions can be fitted
in a principal-component basis (``pca_in`` / ``pca_out``).
"""
from __future__ import annotations

import dataclasses
import operator
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import sympy

from symfx.config import Config
from symfx.engines.base import Candidate, Front, ProgressFn
from symfx.errors import ChoiceError
from symfx.lowering import evaluate_columns

if TYPE_CHECKING:  # the contracts of the passes before this one (types only: no pass imports another)
    from .partition import Region
    from .record import Samples

__all__ = ["Projection", "Fit", "FitFn", "fit_region", "with_choice"]

PROJECTION_KEYS = ("in_mean", "in_basis", "out_mean", "out_basis")


@dataclass(frozen=True)
class Projection:
    """Linear maps around the equations: z = (x - in_mean) @ in_basis; y = z_out @ out_basis.T + out_mean.

    float64 arrays; a side that is not projected has both its arrays None.
    """

    in_mean: np.ndarray | None = None  # [in_features]
    in_basis: np.ndarray | None = None  # [in_features, pca_in]
    out_mean: np.ndarray | None = None  # [out_features]
    out_basis: np.ndarray | None = None  # [out_features, pca_out]


@dataclass(frozen=True)
class Fit:
    """Per fitted target (an output feature, or a principal component with ``pca_out``): the
    scored Pareto front and the chosen member; for the region: its error and projection."""

    region: str  # the region's name
    variables: tuple[str, ...]
    fronts: tuple[tuple[Candidate, ...], ...]  # one per fitted target, ascending complexity
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


#: engine.fit-like: (X, Y, variables, options, progress) -> one front per column of Y
FitFn = Callable[[np.ndarray, np.ndarray, Sequence[str], Config, "ProgressFn | None"], Sequence[Front]]


def _pca(A: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    mean = A.mean(axis=0)
    _, _, vt = np.linalg.svd(A - mean, full_matrices=False)
    return mean, vt[: min(k, vt.shape[0])].T.copy()


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


def _finite_on(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], domain: np.ndarray) -> bool:
    """``expr`` is finite on the domain points, and has no pole between them.

    Random points almost never land on a pole such as ``1/(x - c)``, so finiteness alone
    misses it; a denominator that takes both signs on the points of a connected box is zero
    somewhere inside it (continuity), so such a member is unsafe too.
    """
    if not np.all(np.isfinite(evaluate_columns([expr], symbols, domain))):
        return False
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Pow) and node.exp.is_negative and node.base.free_symbols:
            base = evaluate_columns([node.base], symbols, domain)[:, 0]
            if np.any(base > 0) and np.any(base < 0):
                return False
    return True


def fit_region(
    region: Region,
    samples: Samples,
    config: Config,
    fit_fn: FitFn,
    progress: ProgressFn | None = None,
) -> Fit:
    """Fit one region's recorded samples; return the chosen equations or why none was chosen."""
    start = time.perf_counter()
    X = samples.X.detach().double().cpu().numpy()
    Y = samples.Y.detach().double().cpu().numpy()
    Xh = samples.X_holdout.detach().double().cpu().numpy()
    Yh = samples.Y_holdout.detach().double().cpu().numpy()
    variables = tuple(region.variables)

    in_mean = in_basis = out_mean = out_basis = None
    if config.pca_in and region.kind == "row" and X.shape[1] > config.max_inputs:
        in_mean, in_basis = _pca(X, config.pca_in)
    if config.pca_out and region.kind == "row" and Y.shape[1] > config.pca_out:
        out_mean, out_basis = _pca(Y, config.pca_out)
    projection = None
    if in_basis is not None or out_basis is not None:
        projection = Projection(in_mean, in_basis, out_mean, out_basis)

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
    fronts: list[tuple[Candidate, ...]] = []
    chosen: list[int] = []
    out_err: list[float] = []
    failed: list[str] = []
    for j, front in enumerate(fronts_raw):
        entries = []
        for cand in front:
            pred = evaluate_columns([cand.expr], symbols, Zh)[:, 0]
            err = float(_nrmse(pred[:, None], Th[:, j : j + 1], scale[j : j + 1])[0])
            safe = _finite_on(cand.expr, symbols, domain)
            entries.append(dataclasses.replace(cand, complexity=int(cand.complexity), loss=float(cand.loss),
                                               nrmse=err, safe=safe))
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


def with_choice(fit: Fit, output: int, complexity: int) -> Fit:
    """The same fit with output ``output`` switched to its front member of the given complexity.

    Without an output projection the region's error becomes the worst output's held-out error
    (each output is its own column); with one it is kept (the mix cannot be recomputed here).
    """
    n, given = len(fit.fronts), output
    try:
        output = operator.index(output)
    except TypeError:
        output = -1
    if not 0 <= output < n:
        raise ChoiceError(f"{fit.region}: no output {given!r}; this region has {n} fitted output(s): "
                          f"output= takes {list(range(n))}")
    front = fit.fronts[output]
    matches = [i for i, e in enumerate(front) if e.complexity == complexity]
    if not matches:
        raise ChoiceError(
            f"{fit.region}: output {output} has no front member of complexity {complexity}; "
            f"available: {[e.complexity for e in front]}"
        )
    chosen = list(fit.chosen) if fit.chosen is not None else [
        min(range(len(f)), key=lambda i: f[i].nrmse) for f in fit.fronts
    ]
    chosen[output] = matches[0]
    errs = list(fit.output_nrmse)
    errs[output] = front[matches[0]].nrmse
    projected_out = fit.projection is not None and fit.projection.out_basis is not None
    return dataclasses.replace(fit, chosen=tuple(chosen), output_nrmse=tuple(errs), reason=None,
                               nrmse=fit.nrmse if projected_out else max(errs))
