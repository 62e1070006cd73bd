"""Speed: original eager vs original torch.compile vs symfx torch.compile, side by side per (model, rows).

Each pytest-benchmark group is one model at one row count; the ratios (not seconds) are
what to read: bench/perf.py prints ``eager/symfx`` and ``compiled/symfx`` speed-ups and the
achieved bandwidth of the symfx kernel against a plain ``torch`` copy that moves the same
number of bytes (inputs read + outputs written): ``copy`` into a buffer it already owns, and
``clone``, which allocates its output on each call as every forward pass does.
"""
from __future__ import annotations

import pytest
import torch

from conftest import RESULTS, get_entry, rounds_for, rows_list, sync

ROWS = rows_list([10**4, 10**5, 10**6, 10**7])
MODELS = ["pinn_mlp", "gnn_edge_mlp", "act_chain", "transformer_mlp_pca"]
VARIANTS = ["eager", "compiled", "symfx", "symfx_simd", "copy", "clone"]

CASES = [(m, r, v) for m in MODELS for r in ROWS for v in VARIANTS]


@pytest.mark.parametrize("model,rows,variant", CASES, ids=[f"{m}-{r:.0e}-{v}" for m, r, v in CASES])
def test_speed(benchmark, model, rows, variant):
    entry = get_entry(model)
    if rows > entry.bm.max_rows:
        pytest.skip(f"{model} at {rows:.0e} rows: over its max_rows={entry.bm.max_rows:.0e} (runtime/memory)")
    if variant not in entry.variants() and variant not in ("copy", "clone"):
        pytest.skip(f"{variant} is for CPU only")
    if not entry.accepted and variant.startswith("symfx"):
        pytest.fail(f"{model}: no region distilled, so there is no symfx model to time ({entry.sm.skipped})")
    device = entry.device
    x, y = entry.data(rows)
    nbytes = x.numel() * x.element_size() + y.numel() * y.element_size()
    benchmark.group = f"{model}-{rows:.0e}"
    benchmark.extra_info.update(model=model, rows=rows, variant=variant, bytes=nbytes, device=str(device))
    if variant in ("copy", "clone"):
        # moves the same bytes as the symfx kernel: reads nbytes/2 and writes nbytes/2.
        # "copy" writes into a buffer it owns (the memory system's limit); "clone" allocates
        # its output on every call, as the model's forward does: on CPU the first touch of
        # freshly mapped pages (page faults, zeroing) is part of what a forward costs.
        src = torch.empty(nbytes // 8, dtype=torch.float32, device=device).uniform_()
        dst = torch.empty_like(src)
        dst.copy_(src)  # touch the pages once

        def run() -> None:
            if variant == "copy":
                dst.copy_(src)
            else:
                src.clone()
            sync(device)
    else:
        fn = entry.variants()[variant]

        def run() -> None:
            with torch.no_grad():
                fn(x)
            sync(device)

        with torch.no_grad():
            out = fn(x)  # compile outside the timed rounds
            if variant.startswith("symfx"):
                out64, y64 = out.double(), y.double()
                err = float(((out64 - y64).pow(2).mean() / y64.var().clamp_min(1e-30)).sqrt())
                benchmark.extra_info["nrmse_vs_model"] = err
                # a benchmark of a wrong model is not a result. Validation held the whole model
                # within model_tolerance on the calibration batches; these are fresh rows of the
                # same distribution, so allow twice that, no more
                limit = 2 * entry.sm.config.effective_model_tolerance
                assert err <= limit, (f"{model} at {rows:.0e} rows: the symfx model is {err:.3g} (nrmse) from the "
                                      f"network, over {limit:g}; equations: {[d.equations() for d in entry.sm.distilled]}")
    rounds, iterations = rounds_for(rows, variant)
    # the call above already warmed up the largest sizes (where one call takes seconds)
    benchmark.pedantic(run, rounds=rounds, iterations=iterations, warmup_rounds=1 if rows < 10**7 else 0)
    stats = benchmark.stats.stats
    RESULTS["speed"].append({
        "model": model, "rows": rows, "variant": variant, "bytes": nbytes, "median_s": stats.median,
        "min_s": stats.min, "mean_s": stats.mean, "rounds": rounds * iterations,
        **({"nrmse_vs_model": benchmark.extra_info["nrmse_vs_model"]} if "nrmse_vs_model" in benchmark.extra_info else {}),
    })
