"""Fit pass: symbolic regression per region, then model selection on held-out rows.

For each output feature the engine returns a Pareto front; this pass scores
every front member on held-out rows (normalized RMSE) and on a domain check,
and chooses one member per output (``Config.selection``, see :func:`select`).
Interpretation and rewriting are kept apart: the chosen law is always reported
(``Fit.chosen``, ``Fit.exprs``, ``Fit.output_nrmse``) whenever a safe member
exists; ``Fit.applied`` says whether it is within ``tolerance`` of the network
and may replace the region (``Fit.accepted``). Wide regions can be fitted in a
principal-component basis (``pca_in`` / ``pca_out``).
"""
from __future__ import annotations

import math
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
    reason: str | None = None  # why the region stays neural (also set when a law was found but not applied)
    applied: bool = True  # the chosen law is within tolerance: rewrite the region with it

    @property
    def accepted(self) -> bool:
        """Apply it: a law was chosen and it is within tolerance of the network."""
        return self.chosen is not None and self.applied

    @property
    def found(self) -> bool:
        """A law was chosen (applied or not); ``exprs`` and ``output_nrmse`` describe it."""
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
        pick = select(entries, config.selection, config.tolerance)
        if pick is None:
            failed.append(f"output {j}: no front member is finite on the input domain")
            chosen.append(-1)
            out_err.append(float("inf"))
        else:
            chosen.append(pick)
            out_err.append(entries[pick].nrmse)

    seconds = time.perf_counter() - start
    if failed:
        return Fit(region.name, variables, tuple(fronts), None, tuple(out_err), float("nan"), projection,
                   seconds, "; ".join(failed[:3]) + (" …" if len(failed) > 3 else ""), applied=False)
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
    # each output within tolerance too, except for "accurate" surrogates (judged as a whole)
    applied = bool(equation_err <= config.tolerance) and (
        config.selection == "accurate" or all(e <= config.tolerance for e in out_err))
    reason = None
    if not applied:
        worst = max([equation_err] + out_err)
        reason = (f"law found, {100 * worst:.2g} % off the network, not applied "
                  f"(tolerance {100 * config.tolerance:g} %)")
    return Fit(region.name, variables, tuple(fronts), tuple(chosen), tuple(out_err),
               region_err, projection, seconds, reason, applied=applied)


#: knee rule: members whose held-out error is within this factor of the best one compete
KNEE_WINDOW = 3.0
#: knee rule: each added node must cut the held-out error by at least this much (in log-error)
KNEE_RATE = 0.1
#: held-out errors below this count as equal (float32 rounding of the network's outputs)
KNEE_FLOOR = 1e-6


def readable_size(expr: sympy.Expr) -> int:
    """Node count as a reader sees it: a named constant is one node, a fitted decimal two.

    Every symbol-free sub-tree (``4*pi``, ``sqrt(2)``, ``1/2``) counts as one node, and the
    symbol-free factors (or terms) of one product (sum) together as one; a sub-tree holding a
    ``Float`` costs one node more, so ``4*pi*x0`` (2 + 1) beats ``12.57*x0`` (2 + 2).
    """
    if not expr.free_symbols:
        return 1 + (1 if expr.atoms(sympy.Float) else 0)
    if not expr.args:
        return 1
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        consts = [a for a in expr.args if not a.free_symbols]
        n = 1 + sum(readable_size(a) for a in expr.args if a.free_symbols)
        if consts:
            n += 1 + (1 if any(c.atoms(sympy.Float) for c in consts) else 0)
        return n
    return 1 + sum(readable_size(a) for a in expr.args)


def select(entries: Sequence[FrontEntry], rule: str, tolerance: float) -> int | None:
    """The index of the member chosen from one output's front (``None`` when none is safe).

    - ``"knee"`` (default, for laws learned by an imperfect network): a trained network is
      typically 0.3–3 % off the law it learned, and longer members fit that error, not the law.
      Among safe members whose held-out error ``e`` is within ``KNEE_WINDOW`` (3x) of the best,
      sized by :func:`readable_size` ``s``, choose the one minimising ``ln(e) + KNEE_RATE * s``.
      That is the knee of the front: walking the lower convex hull of (size, ln e), a larger
      member is taken only while its PySR score (drop in log-error per added node,
      ``ln(e_prev / e) / (s - s_prev)``) is at least ``KNEE_RATE`` = 0.1, i.e. while every
      added node buys ~10 % less error. The law after the crowd of poor fits has a steep drop
      (37 % -> 0.9 % for one node: score 3.7); "law + corrections" mimics a flat one (1.4 % ->
      0.7 % for 57 nodes: 0.012; 1.26 % -> 1.1 % for 7 nodes: 0.019). Errors are floored at
      ``KNEE_FLOOR``. Exact constants are preferred through the size: a fitted decimal costs
      one node more than a named constant (``4*pi``).
    - ``"simplest"``: the simplest member within ``tolerance``; the most accurate when none is.
    - ``"accurate"``: the most accurate member (for approximate surrogates).
    """
    safe = [i for i, e in enumerate(entries) if e.safe and np.isfinite(e.nrmse)]
    if not safe:
        return None
    most_accurate = min(safe, key=lambda i: (entries[i].nrmse, entries[i].complexity))
    if rule == "accurate":
        return most_accurate
    if rule == "simplest":
        within = [i for i in safe if entries[i].nrmse <= tolerance]
        return within[0] if within else most_accurate  # fronts ascend in complexity
    size = {i: readable_size(entries[i].expr) for i in safe}
    err = {i: max(float(entries[i].nrmse), KNEE_FLOOR) for i in safe}
    front: list[int] = []
    for i in sorted(safe, key=lambda i: (size[i], err[i])):
        if not front or err[i] < err[front[-1]]:
            front.append(i)
    best = min(err[i] for i in front)
    inside = [i for i in front if err[i] <= KNEE_WINDOW * best]
    return min(inside, key=lambda i: (math.log(err[i]) + KNEE_RATE * size[i], size[i]))


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
    return dataclasses.replace(fit, chosen=tuple(chosen), output_nrmse=tuple(errs), reason=None, applied=True,
                               nrmse=holdout_nrmse if holdout_nrmse is not None else fit.nrmse)
