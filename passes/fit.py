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

import dataclasses
import math
import operator
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import sympy

from symfx.config import Config
from symfx.engines.base import (KNEE_FLOOR, KNEE_RATE, KNEE_TOLERANCE, KNEE_TOLERANCE_WINDOW, KNEE_WINDOW,  # noqa: F401
                                Candidate, Front, ProgressFn, knee_reach, knee_score, merged_exponentials,
                                readable_size)
from symfx.errors import ChoiceError
from symfx.lowering import complexity, evaluate_columns

if TYPE_CHECKING:  # the contracts of the passes before this one (types only: no pass imports another)
    from .partition import Region
    from .record import Samples

__all__ = ["Projection", "Fit", "FitFn", "fit_region", "select", "readable_size", "with_choice"]

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
    reason: str | None = None  # why the region stays neural (also set when a law was found but not applied)
    applied: bool = True  # the chosen law is within tolerance: rewrite the region with it

    @property
    def accepted(self) -> bool:
        """Apply it: a law was chosen and it is within tolerance of the network."""
        return self.chosen is not None and self.applied

    def front_of(self, output: int) -> tuple[Candidate, ...]:
        """The scored front of one fitted output; a bad index is a :class:`ChoiceError` naming the valid ones."""
        n = len(self.fronts)
        try:
            index = operator.index(output)
        except TypeError:
            index = -1
        if not 0 <= index < n:
            raise ChoiceError(f"{self.region}: no output {output!r}; this region has {n} fitted output(s): "
                              f"output= takes {list(range(n))}")
        return self.fronts[index]

    @property
    def found(self) -> bool:
        """A law was chosen (applied or not); ``exprs`` and ``output_nrmse`` describe it."""
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


#: members larger than this are not simplified (sympy's trigsimp grows fast with the size)
SIMPLIFY_MAX_NODES = 40


def _without_removable_pole(expr: sympy.Expr, symbols: Sequence[sympy.Symbol], domain: np.ndarray,
                            rows: np.ndarray) -> sympy.Expr | None:
    """``expr`` rewritten without a removable pole, where the rewrite is finite on ``domain``, no
    larger, and equal to ``expr`` on ``rows``; else None.

    A search can write a law with a factor that cancels: ``sqrt(x0)*cos(x2)/(4*sin(2*x2))`` is
    ``sqrt(x0)/(8*sin(x2))``, but has a pole at x2 = pi/2 just outside the data, so the domain
    check rejects it and the law is lost to a mimic. Cancelling common factors (``sympy.cancel``)
    and trigonometric identities (``sympy.trigsimp``) remove such poles.
    """
    if complexity(expr) > SIMPLIFY_MAX_NODES:
        return None
    rewrites = [sympy.cancel]
    if expr.has(sympy.sin, sympy.cos, sympy.tan):
        rewrites.append(sympy.trigsimp)
    before = evaluate_columns([expr], symbols, rows)[:, 0]
    for rewrite in rewrites:
        try:
            same = rewrite(expr)
        except (TypeError, ValueError, NotImplementedError, sympy.PolynomialError):
            continue
        if same == expr or complexity(same) > complexity(expr) or not _finite_on(same, symbols, domain):
            continue
        after = evaluate_columns([same], symbols, rows)[:, 0]
        ok = np.isfinite(before)
        if np.allclose(after[ok], before[ok], rtol=1e-9, atol=1e-12 * max(1.0, float(np.max(np.abs(before[ok]), initial=0)))):
            return same
    return None


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
    low, high = lo - config.domain_margin * width, hi + config.domain_margin * width
    # a feature that never changed sign keeps it in the widened box (a distance stays positive, so
    # 1/r**3 has no pole there): it widens toward zero, not across it
    low = np.where((lo >= 0) & (low < 0), lo * (1 - config.domain_margin), low)
    high = np.where((hi <= 0) & (high > 0), hi * (1 - config.domain_margin), high)
    box = rng.uniform(low, high, size=(512, lo.shape[0]))
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
            if (written := merged_exponentials(cand.expr)) != cand.expr:  # exp(2/3 - x1), not exp(2/3)*exp(-x1)
                cand = dataclasses.replace(cand, expr=written, complexity=complexity(written))
            pred = evaluate_columns([cand.expr], symbols, Zh)[:, 0]
            err = float(_nrmse(pred[:, None], Th[:, j : j + 1], scale[j : j + 1])[0])
            safe = _finite_on(cand.expr, symbols, domain)
            if not safe and (same := _without_removable_pole(cand.expr, symbols, domain, Zh)) is not None:
                # the same function written without the pole: cos(x)/(4*sin(2*x)) is 1/(8*sin(x))
                cand, safe = dataclasses.replace(cand, expr=same, complexity=complexity(same)), True
            entries.append(dataclasses.replace(cand, complexity=int(cand.complexity), loss=float(cand.loss),
                                               nrmse=err, safe=safe))
        fronts.append(tuple(entries))
        pick = select(entries, config.selection, config.tolerance, config.network_error)
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


#: knee rule: members whose held-out error is within KNEE_WINDOW (3x) of the best one compete,
#: and so do all members within KNEE_TOLERANCE_WINDOW x KNEE_TOLERANCE (5 %; both in engines.base)
#: KNEE_RATE (each added node must cut the held-out error by this much, in log-error) and
#: KNEE_FLOOR (errors below it count as equal) live in engines.base: the engine snaps by them too


#: with ``network_error`` told, held-out errors below this share of it count as equal: a law's
#: held-out error vs its own network is 0.84-1.23x the network's error vs the law (1st-99th
#: percentile of 306 laws found exactly on bench/discovery.py's development sets; least 0.75), so
#: the floor stays under the law and lifts only members closer to the network than the law is
NETWORK_ERROR_SHARE = 0.8


def select(entries: Sequence[Candidate], rule: str, tolerance: float,
           network_error: float | None = None) -> int | None:
    """The index of the member chosen from one output's front (``None`` when none is safe).

    - ``"knee"`` (default, for laws learned by an imperfect network): a trained network is
      typically 0.3–3 % off the law it learned, and longer members fit that error, not the law.
      Among safe members whose held-out error ``e`` is within ``KNEE_WINDOW`` (3x) of the best
      or within 5 % (``KNEE_TOLERANCE_WINDOW`` x ``KNEE_TOLERANCE``, 5 x the default tolerance;
      ``tolerance`` does not enter: it decides where a law is applied, not which law is
      reported, and a network's distance from its law does not grow with it), sized by :func:`readable_size`
      ``s``, choose the one minimising ``ln(e) + KNEE_RATE * s``. That is the knee of the front:
      walking the lower convex hull of (size, ln e), a larger member is taken only while its PySR
      score (drop in log-error per added node, ``ln(e_prev / e) / (s - s_prev)``) is at least
      ``KNEE_RATE`` = 0.2, i.e. while every added node buys ~20 % less error. The law after the
      crowd of poor fits has a steep drop (37 % -> 0.9 % for one node: score 3.7); "law +
      corrections" mimics a flat one (1.4 % -> 0.7 % for 57 nodes: 0.012; 1.26 % -> 1.1 % for 7
      nodes: 0.019; x0**3 + x0**2 + x0 at 0.27 % -> a 35-node mimic of the network's own error at
      0.017 %: 0.10, and -> an 18-node one at 0.064 %: 0.145). Errors are floored at
      ``KNEE_FLOOR``, or, where the network's own error is told (``network_error``), at
      ``NETWORK_ERROR_SHARE`` (0.8) x it (the window stays the untold one's: floored, the best
      error widened it to 2.4x the network's, and a 3.6 %-network's law lost to a member 5.05 % off).
      Exact constants are preferred through the size: a fitted decimal costs
      one node more per digit, and one more for being fitted, than a named constant (``4*pi``).
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
    reach = knee_reach(min(err.values()), KNEE_TOLERANCE)
    if network_error:  # a told error changes the scores, not the window (a wider one lost a law)
        floor = min(NETWORK_ERROR_SHARE * network_error, reach)
        err = {i: max(e, floor) for i, e in err.items()}
    front: list[int] = []
    for i in sorted(safe, key=lambda i: (size[i], err[i])):
        if not front or err[i] < err[front[-1]]:
            front.append(i)
    inside = [i for i in front if err[i] <= reach]
    return min(inside, key=lambda i: (knee_score(err[i], size[i]), size[i]))


def with_choice(fit: Fit, output: int, complexity: int | None = None, member: int | None = None) -> Fit:
    """The same fit with output ``output`` switched to its front member of the given complexity
    (the most accurate one of that complexity), or to the member at position ``member``.

    Without an output projection the region's error becomes the worst output's held-out error
    (each output is its own column); with one it is kept (the mix cannot be recomputed here).
    """
    front = fit.front_of(output)
    output = operator.index(output)
    if (complexity is None) == (member is None):
        raise ChoiceError(f"{fit.region}: give a complexity or a member (a position in the front), not "
                          f"{'both' if member is not None else 'neither'}")
    if member is not None:
        if not 0 <= operator.index(member) < len(front):
            raise ChoiceError(f"{fit.region}: output {output} has no front member {member}; "
                              f"valid: 0..{len(front) - 1}")
        matches = [operator.index(member)]
    else:
        # the front is ordered by complexity, then loss: the first match is the most accurate
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
    return dataclasses.replace(fit, chosen=tuple(chosen), output_nrmse=tuple(errs), reason=None, applied=True,
                               nrmse=fit.nrmse if projected_out else max(errs))
