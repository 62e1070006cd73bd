"""Micro-benchmarks behind symfx's lowering and Inductor choices (README "Performance").

Each case times two or more ways of computing the same thing under ``torch.compile`` on the
same inputs, one after the other, and reports their ratio:

* ``tanh``: ``tanh(z)`` vs ``2*sigmoid(2z) - 1`` inside the activation-chain equation
* ``simd_*``: Inductor's CPU tiling heuristic on (scalar code) vs off (SIMD with gathered loads),
  for a transcendental and for a pure-arithmetic row equation on a ``[rows, 8]`` input
* ``loops_*``: a 2-output region as Inductor writes it by default (one loop per output) vs
  with horizontal fusion (one loop), polynomial and transcendental
* ``pca_in``: ``(x - mean) @ B`` vs ``x @ B_t.T + offset`` (the lowering symfx emits)
* ``pca_out_*``: expanding k stacked equations to d outputs with ``addmm`` vs broadcast
  multiply-adds (what symfx emits for k ≤ 8)
* ``alloc``: a torch copy into an owned buffer vs ``clone()`` (allocates), same bytes

Run: ``.venv/bin/python bench/kernels.py [--rows 1e7]``; writes ``bench/results/kernels.json``
(``kernels_nothp.json`` when ``THP_MEM_ALLOC_ENABLE`` is unset, to compare the allocator).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

SIMD_OFF = {"cpp.enable_tiling_heuristics": False}
FUSE = {"aggressive_fusion": True, "score_fusion_memory_threshold": 0}


def median_ms(fn: Callable[..., Any], *args: Any, rounds: int = 15) -> float:
    with torch.no_grad():
        for _ in range(3):
            fn(*args)
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def compiled(fn: Callable[..., Any], options: dict[str, Any] | None = None) -> Callable[..., Any]:
    return torch.compile(fn, dynamic=False, options=options or None)


def cases(rows: int) -> dict[str, dict[str, float]]:
    torch.manual_seed(0)
    out: dict[str, dict[str, float]] = {}
    x16 = torch.randn(rows // 8, 16) * 1.5  # the activation chain's width, same bytes as [rows, 2]

    def act_tanh(x: torch.Tensor) -> torch.Tensor:
        return x * (-0.003069 * x + torch.tanh(0.7001 * x - 0.5) + 0.4845)

    def act_sigmoid(x: torch.Tensor) -> torch.Tensor:
        return x * (-0.003069 * x + 2 * torch.sigmoid(2 * (0.7001 * x - 0.5)) - 1 + 0.4845)

    out["tanh"] = {"tanh_ms": median_ms(compiled(act_tanh), x16), "sigmoid_form_ms": median_ms(compiled(act_sigmoid), x16)}

    x8 = torch.rand(rows, 8) * 2 - 1

    def trig(x: torch.Tensor) -> torch.Tensor:
        return (torch.exp(-x[:, 1]) * torch.sin(3.14159 * x[:, 0]))[:, None]

    def poly(x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0] * x[:, 3] + x[:, 1] + 0.5 * x[:, 2] - x[:, 4] * x[:, 4])[:, None]

    for name, fn in (("simd_transcendental", trig), ("simd_arithmetic", poly)):
        out[name] = {"heuristic_on_ms": median_ms(compiled(fn), x8), "simd_ms": median_ms(compiled(fn, SIMD_OFF), x8)}

    def two_poly(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0] * x[:, 3] + x[:, 1], 0.5 * x[:, 2] - x[:, 4] * x[:, 4]], -1)

    def two_trig(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.sin(x[:, 0]) * x[:, 3] + x[:, 1], 0.5 * x[:, 2] - torch.exp(-x[:, 4])], -1)

    out["loops_arithmetic"] = {"per_output_loops_ms": median_ms(compiled(two_poly), x8),
                               "one_loop_ms": median_ms(compiled(two_poly, FUSE), x8)}
    out["loops_transcendental"] = {"per_output_loops_ms": median_ms(compiled(two_trig, SIMD_OFF), x8),
                                   "one_loop_ms": median_ms(compiled(two_trig, {**SIMD_OFF, **FUSE}), x8)}

    x64 = torch.randn(rows // 10, 64) + 3.0
    basis = torch.linalg.qr(torch.randn(64, 3))[0]
    mean = x64.mean(0)
    basis_t = basis.T.contiguous()
    offset = -(mean @ basis)
    out["pca_in"] = {
        "centre_then_matmul_ms": median_ms(compiled(lambda x: (x - mean) @ basis), x64),
        "matmul_plus_offset_ms": median_ms(compiled(lambda x: x @ basis_t.T + offset), x64),
    }

    # the output expansion of a PCA region: stacked equations [n, k] -> [n, d]
    for name, n, k, d in (("pca_out_k2_d64", rows // 10, 2, 64), ("pca_out_k8_d576", rows // 80, 8, 576)):
        z = torch.randn(n, 3)
        out_t = torch.randn(k, d)
        out_mean = torch.randn(d)

        def equations(z: torch.Tensor, k: int = k) -> torch.Tensor:
            return torch.stack([torch.sin(z[:, j % 3]) * z[:, (j + 1) % 3] for j in range(k)], -1)

        def by_matmul(z: torch.Tensor, out_t: torch.Tensor = out_t, out_mean: torch.Tensor = out_mean) -> torch.Tensor:
            return torch.addmm(out_mean, equations(z), out_t)

        def by_broadcast(z: torch.Tensor, out_t: torch.Tensor = out_t, out_mean: torch.Tensor = out_mean,
                         k: int = k) -> torch.Tensor:
            e = equations(z)
            out = out_mean
            for j in range(k):
                out = out + e[:, j:j + 1] * out_t[j]
            return out

        out[name] = {"matmul_ms": median_ms(compiled(by_matmul), z), "broadcast_ms": median_ms(compiled(by_broadcast), z)}

    src = torch.empty(rows * 3 // 2)  # 12 bytes per row moved, as the PINN kernel does
    dst = torch.empty_like(src)
    dst.copy_(src)
    out["alloc"] = {"copy_owned_ms": median_ms(lambda: dst.copy_(src)), "clone_ms": median_ms(lambda: src.clone())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e7)
    args = parser.parse_args()
    from bench_machine import machine

    rows = int(args.rows)
    thp = bool(os.environ.get("THP_MEM_ALLOC_ENABLE"))
    results = cases(rows)
    for name, r in results.items():
        a, b = list(r.values())
        r["ratio_first_over_second"] = a / b
    data = {"rows": rows, "threads": torch.get_num_threads(), "thp_alloc": thp, "machine": machine(),
            "command": "bench/kernels.py", "cases": results}
    path = os.path.join(HERE, "results", "kernels.json" if thp else "kernels_nothp.json")
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1)
    print(f"rows {rows:.0e}, {torch.get_num_threads()} threads, THP allocator {'on' if thp else 'off'} -> {path}")
    for name, r in results.items():
        (ka, a), (kb, b) = list(r.items())[:2]
        print(f"  {name:22s} {ka:22s} {a:8.2f}  {kb:22s} {b:8.2f}  ratio {a / b:5.2f}")


if __name__ == "__main__":
    main()
