"""Each demo end to end: data → training → ``symfx.compile`` → judged against the TRUE law → timing.

The verdicts (``DemoResult.checks``) compare the recovered equations with the physical law on
inputs outside the training range, never with the network: an equation that only mimics the
network inside its training data fails them.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy
import torch

from . import heat, nbody
from .common import DemoResult, apply_map, linear_map, nrmse, r2, seed_everything, time_compiled, train

#: Largest extrapolation error (normalized RMSE vs. the true law) that counts as recovered.
EXTRAPOLATION_TOL = 0.05
#: PINN constants (decay rate π²α and spatial frequency π) must lie within this relative error.
CONSTANT_TOL = 0.02


@dataclass(frozen=True)
class Settings:
    """How hard a demo works: ``quick`` (tests) or the default (``symfx demo``)."""

    train_steps: int
    time_budget: float  # SR seconds per output
    tolerance: float  # symfx acceptance: equation vs. network, held-out normalized RMSE
    timing: bool = True

    @staticmethod
    def for_demo(demo: str, quick: bool, slow: bool = False) -> "Settings":
        if demo == "heat":
            steps = 8000 if slow else 3000  # quick and default alike: at 2000 the decay rate snapped to 2
            return Settings(steps, 4.0 if quick else 8.0, 0.05, timing=not quick)
        steps = 3000 if quick else (12000 if slow else 5000)
        return Settings(steps, 8.0 if quick else 10.0, 0.1 if quick else 0.05, timing=not quick)


def _chop(expr: sympy.Expr, rel: float = 2e-3, digits: int = 4) -> sympy.Expr:
    """Drop additive terms whose coefficient is tiny next to the largest one; round the rest."""
    expr = sympy.expand(expr)
    terms = sympy.Add.make_args(expr)
    coeffs = [abs(float(t.as_coeff_Mul()[0])) for t in terms]
    biggest = max(coeffs, default=0.0)
    kept = sympy.Add(*[t for t, c in zip(terms, coeffs) if c >= rel * biggest])
    return kept.xreplace({n: sympy.Float(float(n), digits) for n in kept.atoms(sympy.Float)})


def _evaluate(exprs: list[sympy.Expr], variables: tuple[str, ...], X: np.ndarray) -> np.ndarray:
    from symfx.lowering import evaluate_columns

    return evaluate_columns(exprs, [sympy.Symbol(v) for v in variables], X)


def _find(sm, word: str):
    """The applied region whose name holds ``word`` (a law found but not applied is not a recovery)."""
    for d in sm.distilled:
        if word in d.name and d.status == "symbolic":
            return d
    return None


def _time(result: DemoResult, neural: torch.nn.Module, sm, args: tuple[torch.Tensor, ...], batch: str) -> None:
    sm.use_symbolic()
    t0 = time.perf_counter()
    result.timing = time_compiled(neural, sm, args)
    result.timing.note += f", batch of {batch}"
    result.metrics["timing_seconds"] = time.perf_counter() - t0


# ---------------------------------------------------------------------------------------- n-body


def run_nbody(kind: str, seed: int = 0, quick: bool = False, slow: bool = False, progress: bool = True,
              log: Callable[[str], None] = print, n_particles: int = 5, msg_dim: int = 2,
              prune: bool = False) -> DemoResult:
    """Train the GNN on ``kind`` ("springs" or "gravity"), distil it, judge the edge equations.

    ``msg_dim=2`` is Cranmer's bottleneck. A wider message (e.g. 16) is trained with an L1 penalty
    on the messages instead, and symfx fits only its top two principal components (``pca_out=2``);
    with ``prune=True`` it is trained with :class:`symfx.OutputPruner` masking the edge MLP's
    outputs down to two during the first half of training, and symfx fits the two that remain.
    """
    import symfx

    start = time.perf_counter()
    law = nbody.LAWS[kind]
    st = Settings.for_demo(kind, quick, slow)
    rng = seed_everything(seed)
    result = DemoResult(kind, law.formula)

    pos, mass, acc = nbody.simulate(law, 6000, n_particles, rng)
    P = torch.tensor(pos, dtype=torch.float32)
    M = torch.tensor(mass, dtype=torch.float32)
    A = torch.tensor(acc, dtype=torch.float32)
    n_train = 5000
    model = nbody.NBodyGNN(n_particles, msg_dim=msg_dim)
    scale = A[:n_train].std()
    gen = torch.Generator().manual_seed(seed)
    prune = prune and msg_dim > 2
    l1 = 1e-2 if msg_dim > 2 and not prune else 0.0  # Cranmer's sparsity alternative to the bottleneck
    pruner = symfx.OutputPruner(model.edge_mlp, target_dim=2, total_steps=st.train_steps) if prune else None

    def step(i: int) -> torch.Tensor:
        idx = torch.randint(0, n_train, (256,), generator=gen)
        loss = ((model(P[idx], M[idx]) - A[idx]) ** 2).mean() / scale**2
        if l1:
            loss = loss + l1 * model.messages(P[idx], M[idx]).abs().mean()
        if pruner is not None:
            pruner.step(i)  # scores the messages of this forward pass; masks on the schedule
        return loss

    log(f"[{kind}] {n_particles} particles, {n_train} random configurations; training the GNN "
        f"(edge MLP {len(nbody.EDGE_VARIABLES)}→64→64→{msg_dim} messages"
        f"{' + L1' if l1 else ''}{' pruned to 2 by OutputPruner' if prune else ''}, sum, "
        f"node MLP {msg_dim + 1}→64→64→2) for {st.train_steps} steps")
    t0 = time.perf_counter()
    train(step, list(model.parameters()), st.train_steps, 5e-3, f"{kind}: training", progress)
    result.metrics["train_seconds"] = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        test_err = nrmse(model(P[n_train:], M[n_train:]).numpy(), acc[n_train:])
        net_msg = model.messages(P[n_train:], M[n_train:]).reshape(-1, model.msg_dim).numpy()
    if msg_dim > 2:  # judge the significant part: the top two principal components of the messages
        centered = net_msg - net_msg.mean(axis=0)
        _, sv, vt = np.linalg.svd(centered, full_matrices=False)
        result.metrics["messages_top2_variance"] = float((sv[:2] ** 2).sum() / (sv**2).sum())
        net_msg = centered @ vt[:2].T
    X_test = nbody.edge_inputs(pos[n_train:], mass[n_train:])
    F_test = law.message(X_test[:, 0], X_test[:, 1], X_test[:, 3])
    # Cranmer's check: the learned messages are a linear transform of the true pairwise quantity
    msg_r2 = r2(apply_map(linear_map(F_test, net_msg), F_test), net_msg)
    result.metrics["gnn_test_nrmse"] = test_err
    result.metrics["messages_vs_law_r2"] = msg_r2
    log(f"[{kind}] GNN test error (nrmse of accelerations): {test_err:.3g};  "
        f"messages vs. linear map of the true {('F/m_dst' if law.per_receiver_mass else 'F')}: R² = {msg_r2:.4f}")

    calibration = [(P[i:i + 100], M[i:i + 100]) for i in range(0, n_train, 100)]
    names = {"edge_mlp": nbody.EDGE_VARIABLES, "node_mlp": ("m",) + tuple(f"agg{i}" for i in range(msg_dim))}
    wide = {"pca_out": 2} if msg_dim > 2 and not prune else {}
    dims = pruner.active_dims if pruner is not None else list(range(min(msg_dim, 2)))
    if pruner is not None:
        result.metrics["active_dims"] = dims
        log(f"[{kind}] OutputPruner kept message dims {dims} of {msg_dim}")
    log(f"[{kind}] symfx.compile(model, calibration, time_budget={st.time_budget:g}, tolerance={st.tolerance:g})")
    t0 = time.perf_counter()
    # Force laws are rational in the geometry: arithmetic operators only. r is already an edge input,
    # so the engine's derived columns (norms/differences of every pair, e.g. dx - m_src) only add decoys.
    sm = symfx.compile(model, calibration, variable_names=names, time_budget=st.time_budget,
                       tolerance=st.tolerance, seed=seed, progress=progress, cache_dir="",
                       operators=("add", "sub", "mul", "div"),
                       # m_src·(a·dx + b·dy)/r³ needs ~40 generations (the engine's cap allows 8 per second
                       # of budget) and patience: its front plateaus for a while before the law appears,
                       # so the genetic stage must not stop at the first plateau (engine default: 2 chunks)
                       engine_options={"derived": False, "patience": 8}, **wide)
    result.metrics["compile_seconds"] = time.perf_counter() - t0
    result.report = sm.report()
    edge = _find(sm, "edge")
    result.checks["edge region found and distilled"] = edge is not None
    if edge is not None:
        _judge_messages(result, law, edge, pos[:n_train], mass[:n_train], rng, dims)
    if st.timing:
        big = rng.integers(0, len(P), 4096)
        _time(result, model, sm, (P[big], M[big]), f"{len(big)} systems")
    result.seconds = time.perf_counter() - start
    return result


def _judge_messages(result: DemoResult, law: nbody.Law, edge, pos: np.ndarray, mass: np.ndarray,
                    rng: np.random.Generator, dims: list[int]) -> None:
    """Map the recovered message equations (the ``dims`` that carry the message) back to force
    components; extrapolate against the law."""
    variables = tuple(edge.variables)
    exprs = [edge.exprs[i] for i in dims]
    X_in = nbody.edge_inputs(pos[:1000], mass[:1000])
    F_in = law.message(X_in[:, 0], X_in[:, 1], X_in[:, 3])
    rec_in = _evaluate(exprs, variables, X_in)
    W = linear_map(F_in, rec_in)  # messages ≈ [F, 1] @ W, fitted in the training range only
    for k, e in zip(dims, exprs):
        result.recovered.append(f"message{k} = {_chop(e)}")
    # invert the linear map symbolically: the recovered law, in force units
    lin, bias = W[:2], W[2]
    if abs(np.linalg.det(lin)) > 1e-9 * max(float(np.abs(lin).max()) ** 2, 1e-30):
        inv = np.linalg.inv(lin)
        for c, comp in enumerate(("x", "y")):
            f = sum(sympy.Float(inv[j, c]) * (exprs[j] - sympy.Float(bias[j])) for j in range(2))
            label = "F/m_dst" if law.per_receiver_mass else "F"
            result.recovered.append(f"⇒ recovered {label}_{comp} = {_chop(f)}")

    # extrapolation: pairs farther apart (and heavier senders) than any in training
    r_train = X_in[:, 2]
    lo, hi = float(r_train.max()), 2.0 * float(r_train.max())
    n = 4000
    r = rng.uniform(lo, hi, n)
    theta = rng.uniform(0, 2 * np.pi, n)
    m_src = rng.uniform(2.0, 3.0, n)
    X_out = np.column_stack([r * np.cos(theta), r * np.sin(theta), r, m_src])
    truth = apply_map(W, law.message(X_out[:, 0], X_out[:, 1], X_out[:, 3]))
    pred = _evaluate(exprs, variables, X_out)
    err = nrmse(pred, truth)
    result.metrics["extrapolation_nrmse"] = err
    result.metrics["in_range_nrmse"] = nrmse(rec_in, apply_map(W, F_in))
    result.notes.append(f"extrapolation: r ∈ [{lo:.2f}, {hi:.2f}] (training r ≤ {lo:.2f}), m_src ∈ [2, 3] "
                        f"(training [0.5, 2]); error vs. the true law = {err:.2e} (nrmse)")
    result.checks[f"extrapolation error < {EXTRAPOLATION_TOL:g}"] = err < EXTRAPOLATION_TOL


# ------------------------------------------------------------------------------------------ heat


def heat_constants(expr: sympy.Expr, x: sympy.Symbol, t: sympy.Symbol) -> tuple[float, float] | None:
    """``(decay rate, spatial frequency)`` if ``expr`` has the form ``A·exp(-a·t + c)·sin(b·x + d) + e``."""
    A, a, b, c, d, e = (sympy.Wild(s, exclude=[x, t]) for s in "Aabcde")
    expr = sympy.powsimp(sympy.expand(expr))
    for form in (A * sympy.exp(a * t + c) * sympy.sin(b * x + d) + e, A * sympy.exp(a * t) * sympy.sin(b * x) + e,
                 A * sympy.exp(a * t) * sympy.sin(b * x)):
        m = expr.match(form)
        if m and m.get(a) is not None and m.get(b) is not None:
            try:
                return -float(m[a]), abs(float(m[b]))
            except TypeError:
                continue
    return None


def run_heat(seed: int = 0, quick: bool = False, slow: bool = False, progress: bool = True,
             log: Callable[[str], None] = print) -> DemoResult:
    """Train the PINN (α learnable), distil u(x, t), compare with exp(-π²αt)·sin(πx)."""
    import symfx

    start = time.perf_counter()
    st = Settings.for_demo("heat", quick, slow)
    rng = seed_everything(seed)
    result = DemoResult("heat", heat.TRUE_LAW)
    model = heat.HeatPINN()
    gen = torch.Generator().manual_seed(seed)
    log(f"[heat] PINN 3×32 tanh, α learnable (start 0.5): residual + initial/boundary + 64 observations per step, "
        f"{st.train_steps} steps")
    t0 = time.perf_counter()
    train(lambda i: heat.pinn_loss(model, gen), list(model.parameters()), st.train_steps, 3e-3, "heat: training",
          progress)
    result.metrics["train_seconds"] = time.perf_counter() - t0
    model.eval()
    result.metrics["alpha_learned"] = model.alpha
    xg, tg = heat.grid(60)
    with torch.no_grad():
        net_err = nrmse(model(xg, tg).numpy(), heat.exact(xg.numpy(), tg.numpy()))
    result.metrics["pinn_nrmse"] = net_err
    log(f"[heat] learned α = {model.alpha:.4f} (true {heat.ALPHA:g}); PINN vs. exact solution on [0,1]²: "
        f"nrmse {net_err:.3g}")

    perm = torch.as_tensor(rng.permutation(len(xg)))
    xs, ts = xg[perm], tg[perm]
    calibration = [(xs[i:i + 360], ts[i:i + 360]) for i in range(0, len(xs), 360)]
    log(f"[heat] symfx.compile(model, calibration, time_budget={st.time_budget:g}, tolerance={st.tolerance:g})")
    t0 = time.perf_counter()
    sm = symfx.compile(model, calibration, variable_names={"net": ("x", "t")}, time_budget=st.time_budget,
                       tolerance=st.tolerance, seed=seed, progress=progress, cache_dir="",
                       operators=("add", "sub", "mul", "div", "sin", "exp"))
    result.metrics["compile_seconds"] = time.perf_counter() - t0
    result.report = sm.report()
    d = _find(sm, "net")
    result.checks["u(x, t) distilled"] = d is not None
    if d is not None:
        expr = d.exprs[0]
        result.recovered.append(f"u(x, t) = {_chop(expr)}")
        x, t = sympy.Symbol("x"), sympy.Symbol("t")
        # extrapolation in time: t ∈ [1, 2], twice the training horizon
        xe, te = heat.grid(60, 1.0, 2.0)
        pred = _evaluate([expr], ("x", "t"), np.column_stack([xe.numpy(), te.numpy()]))[:, 0]
        err = nrmse(pred, heat.exact(xe.numpy()[:, 0], te.numpy()[:, 0]))
        result.metrics["extrapolation_nrmse"] = err
        result.notes.append(f"extrapolation: t ∈ [1, 2] (trained on t ∈ [0, 1]); error vs. the exact solution = "
                            f"{err:.2e} (nrmse)")
        result.checks[f"extrapolation error < {EXTRAPOLATION_TOL:g}"] = err < EXTRAPOLATION_TOL
        consts = heat_constants(expr, x, t)
        result.checks["form A·exp(-a·t)·sin(b·x)"] = consts is not None
        if consts is not None:
            rate, freq = consts
            true_rate = math.pi**2 * heat.ALPHA
            result.metrics["decay_rate"] = rate
            result.metrics["frequency"] = freq
            result.metrics["decay_rate_rel_err"] = abs(rate / true_rate - 1)
            result.metrics["frequency_rel_err"] = abs(freq / math.pi - 1)
            result.notes.append(f"constants: decay rate {rate:.4f} vs π²α = {true_rate:.4f} "
                                f"({100 * abs(rate / true_rate - 1):.2f} %), frequency {freq:.4f} vs π "
                                f"({100 * abs(freq / math.pi - 1):.2f} %); α from the equation = "
                                f"{rate / math.pi ** 2:.4f}")
            result.checks[f"constants within {100 * CONSTANT_TOL:g} %"] = (
                abs(rate / true_rate - 1) < CONSTANT_TOL and abs(freq / math.pi - 1) < CONSTANT_TOL
            )
    if st.timing:
        xb, tb = torch.rand(65536, 1, generator=gen), torch.rand(65536, 1, generator=gen)
        _time(result, model, sm, (xb, tb), f"{len(xb)} points")
    result.seconds = time.perf_counter() - start
    return result


DEMOS: dict[str, Callable[..., DemoResult]] = {
    "springs": lambda **kw: run_nbody("springs", **kw),
    "gravity": lambda **kw: run_nbody("gravity", **kw),
    "heat": run_heat,
}


def format_result(res: DemoResult) -> str:
    """The block ``symfx demo`` prints for one demo."""
    lines = [f"== {res.name} " + "=" * max(0, 66 - len(res.name)),
             f"true law:   {res.true_law}"]
    if res.name in nbody.LAWS:
        lines.append(f"messages should be a linear map of: {nbody.LAWS[res.name].message_formula}")
    lines += [f"recovered:  {line}" if i == 0 else f"            {line}" for i, line in enumerate(res.recovered)]
    if not res.recovered:
        lines.append("recovered:  (nothing: see the symfx report below)")
    lines += [f"            {n}" for n in res.notes]
    if res.timing is not None:
        t = res.timing
        lines.append(f"speed ({t.note}, quick estimate): neural {t.neural_ms:.3f} ms, symbolic {t.symbolic_ms:.3f} ms "
                     f"per batch → {t.speedup:.2f}×")
    lines.append("symfx report:")
    lines += ["  " + line for line in res.report.splitlines()]
    phases = [f"{k.split('_')[0]} {res.metrics[k]:.0f} s" for k in ("train_seconds", "compile_seconds", "timing_seconds")
              if k in res.metrics]
    if phases:
        lines.append("time: " + ", ".join(phases))
    verdicts = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in res.checks.items())
    lines.append(f"verdict: {'RECOVERED' if res.ok else 'NOT RECOVERED'} ({verdicts}) [{res.seconds:.0f} s]")
    return "\n".join(lines)
