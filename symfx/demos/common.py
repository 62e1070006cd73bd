"""Pieces every demo shares: seeding, a training loop with a progress bar, timing, error measures."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch, numpy and random; return a numpy generator for the demo's data."""
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return np.random.default_rng(seed)


def train(
    step: Callable[[int], torch.Tensor],
    params: Sequence[torch.nn.Parameter],
    steps: int,
    lr: float,
    desc: str,
    progress: bool = True,
) -> float:
    """Adam with cosine decay; ``step(i)`` returns the loss of minibatch ``i``. Returns the last loss.

    Runs single-threaded: these models are small, so intra-op threads cost more in synchronisation
    than they gain, and on a shared CPU oversubscription makes them many times slower.
    """
    from tqdm.auto import tqdm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(step, params, steps, lr, desc, progress, tqdm)
    finally:
        torch.set_num_threads(threads)


def _train(step, params, steps, lr, desc, progress, tqdm) -> float:
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.02)
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    last = float("nan")
    ema = None
    for i in bar:
        opt.zero_grad(set_to_none=True)
        loss = step(i)
        loss.backward()
        opt.step()
        sched.step()
        last = float(loss.detach())
        ema = last if ema is None else 0.95 * ema + 0.05 * last
        if i % 25 == 0:
            bar.set_postfix(loss=f"{ema:.3g}")
    bar.close()
    return last


def nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root-mean-square error over all entries, divided by the target's standard deviation."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    scale = float(np.std(target)) or 1.0
    with np.errstate(all="ignore"):
        value = float(np.sqrt(np.mean((pred - target) ** 2)) / scale)
    return value if np.isfinite(value) else float("inf")


def r2(pred: np.ndarray, target: np.ndarray) -> float:
    """Coefficient of determination over all columns together."""
    target = np.asarray(target, dtype=np.float64)
    ss_res = float(np.sum((np.asarray(pred, dtype=np.float64) - target) ** 2))
    ss_tot = float(np.sum((target - target.mean(axis=0)) ** 2)) or 1.0
    return 1.0 - ss_res / ss_tot


def linear_map(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Least-squares ``W`` with ``[A, 1] @ W ≈ B`` (affine map from A's columns to B's)."""
    A1 = np.column_stack([A, np.ones(len(A))])
    W, *_ = np.linalg.lstsq(A1, B, rcond=None)
    return W


def apply_map(W: np.ndarray, A: np.ndarray) -> np.ndarray:
    return np.column_stack([A, np.ones(len(A))]) @ W


@dataclass
class Timing:
    """Quick wall-clock estimate of one forward pass, both models under torch.compile."""

    neural_ms: float
    symbolic_ms: float
    note: str = ""

    @property
    def speedup(self) -> float:
        return self.neural_ms / self.symbolic_ms if self.symbolic_ms > 0 else float("nan")


def _median_ms(fn: Callable[[], object], repeats: int, inner: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return 1e3 * float(np.median(times))


def time_compiled(neural: torch.nn.Module, symbolic: torch.nn.Module, args: tuple[torch.Tensor, ...],
                  repeats: int = 7, inner: int = 5) -> Timing:
    """Compile both models (``torch.compile``, default Inductor; a SymbolicModule through its
    ``compile()``, which adds the Inductor options its equations need), warm up, then time each.

    A quick estimate (median of a few short runs on a busy CPU), not a benchmark. When Inductor
    cannot compile on this machine (no C++ compiler), both run eagerly and the note says so.
    """
    note = "torch.compile"
    try:
        import torch._dynamo

        torch._dynamo.reset()
        fn_n = torch.compile(neural)
        from ..module import SymbolicModule

        if isinstance(symbolic, SymbolicModule):  # compile() works in place: on a copy
            import copy

            fn_s = copy.deepcopy(symbolic)
            fn_s.compile()
        else:
            fn_s = torch.compile(symbolic)
        with torch.no_grad():
            for _ in range(2):  # first call compiles, second settles any recompilation
                fn_n(*args)
                fn_s(*args)
    except Exception as exc:  # noqa: BLE001 - inductor failures come in many types; report and go eager
        note = f"eager (torch.compile failed: {type(exc).__name__})"
        fn_n, fn_s = neural, symbolic
    with torch.no_grad():
        # interleave so that load from other processes hits both alike
        n_ms, s_ms = [], []
        for _ in range(repeats):
            n_ms.append(_median_ms(lambda: fn_n(*args), 1, inner))
            s_ms.append(_median_ms(lambda: fn_s(*args), 1, inner))
    return Timing(float(np.median(n_ms)), float(np.median(s_ms)), note)


@dataclass
class DemoResult:
    """What a demo prints and what the tests judge."""

    name: str
    true_law: str
    recovered: list[str] = field(default_factory=list)  # one line per recovered equation
    metrics: dict[str, float] = field(default_factory=dict)  # named numbers, e.g. extrapolation nrmse
    checks: dict[str, bool] = field(default_factory=dict)  # named pass/fail verdicts
    notes: list[str] = field(default_factory=list)
    report: str = ""  # symfx's own report table
    timing: Timing | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


def train_lbfgs(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, iters: int = 500) -> torch.nn.Module:
    """Full-batch L-BFGS on MSE: reaches ~1e-6 on smooth low-dimensional laws in seconds (Adam needs minutes)."""
    opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=iters, history_size=50,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((net(X) - y) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return net.eval()
