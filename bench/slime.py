"""SLIME benchmark: local symbolic explanations (``symfx.explain``) vs LIME's linear surrogate.

For each of six functions (smooth, oscillating, a near step, a rational, three inputs, a trained
MLP) and 20 random points: ``symfx.explain`` at the point (100 Gaussian samples, scale 10 % of the
domain, no reference data), then the local nrmse of its equation and of a proximity-weighted linear
surrogate fitted to the same rows, both measured on 200 fresh points of the same neighbourhood.

    .venv/bin/python bench/slime.py                  # writes bench/results/slime.json
    .venv/bin/python bench/slime.py --points 5       # a quick look
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def _trained_mlp() -> Callable[[np.ndarray], np.ndarray]:
    from symfx.demos.common import train_lbfgs

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64), torch.nn.SiLU(),
                              torch.nn.Linear(64, 1))
    X = torch.rand(2048, 2) * 2 - 1
    train_lbfgs(net, X, torch.sin(2 * X[:, :1]) * X[:, 1:] + 0.3 * X[:, :1] ** 2, iters=300)

    def f(A: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.as_tensor(A, dtype=torch.float32)).double().numpy()[:, 0]

    return f


FUNCTIONS: dict[str, tuple[int, Callable[[np.ndarray], np.ndarray]]] = {
    "smooth: exp(-x0^2)*cos(x1)": (2, lambda X: np.exp(-X[:, 0] ** 2) * np.cos(X[:, 1])),
    "oscillating: sin(3x0)e^x1 + 0.1cos(7x0x1)": (
        2, lambda X: np.sin(3 * X[:, 0]) * np.exp(X[:, 1]) + 0.1 * np.cos(7 * X[:, 0] * X[:, 1])),
    "near step: tanh(10(x0-0.3)) + x1^2": (2, lambda X: np.tanh(10 * (X[:, 0] - 0.3)) + X[:, 1] ** 2),
    "rational: x0/(0.2 + x1^2)": (2, lambda X: X[:, 0] / (0.2 + X[:, 1] ** 2)),
    "three inputs: x0*x1 + x0*sin(2x2)": (3, lambda X: X[:, 0] * X[:, 1] + X[:, 0] * np.sin(2 * X[:, 2])),
}


def main(argv: list[str] | None = None) -> int:
    import symfx
    from bench_machine import machine

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--time-budget", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "slime.json"))
    args = ap.parse_args(argv)
    functions = dict(FUNCTIONS)
    functions["trained MLP: ~sin(2x0)x1 + 0.3x0^2"] = (2, _trained_mlp())
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    print(f"{'function':45s} {'slime nrmse':>11s} {'linear nrmse':>12s} {'slime wins':>10s} {'s/point':>8s}")
    for name, (k, f) in functions.items():
        points = np.random.default_rng(args.seed).uniform(-0.8, 0.8, size=(args.points, k))
        per = []
        for p in points:
            t = time.perf_counter()
            d = symfx.explain(f, p, scale=0.1, time_budget=args.time_budget, seed=args.seed, progress=False,
                              cache_dir="")
            per.append({"point": p.tolist(), "slime_nrmse": d.local.nrmse, "linear_nrmse": d.local.linear_nrmse,
                        "seconds": time.perf_counter() - t, "equation": str(d.exprs[0]) if d.exprs else None,
                        "status": d.status})
        slime = statistics.median(r["slime_nrmse"] for r in per)
        linear = statistics.median(r["linear_nrmse"] for r in per)
        wins = sum(r["slime_nrmse"] < r["linear_nrmse"] for r in per) / len(per)
        seconds = statistics.median(r["seconds"] for r in per)
        rows.append({"function": name, "median_slime_nrmse": slime, "median_linear_nrmse": linear,
                     "slime_wins": wins, "median_seconds": seconds, "points": per})
        print(f"{name:45s} {slime:11.2e} {linear:12.2e} {100 * wins:9.0f}% {seconds:8.1f}", flush=True)
    result = {"time_budget": args.time_budget, "points_per_function": args.points, "scale": 0.1,
              "n_synthetic": 100, "machine": machine(), "functions": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
