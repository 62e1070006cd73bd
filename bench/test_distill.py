"""Distillation cost (where users wait) and the recording pass's overhead.

- ``test_distill_cost``: wall time and peak RSS of ``symfx.compile`` per region and per
  output, against rows kept (``max_samples``) and the number of inputs (PINN: 2, GNN edge: 8).
  The SR budget per output (1 s) is a target, not an upper bound: the operon adapter's families
  and polishing are bounded by count (same seed, same equations on a busy machine), with no time
  net by default (``deterministic=True``); the table shows what a user at this budget waits.
- ``test_record_overhead``: one calibration pass through the ``RecordingInterpreter``
  (an ``fx.Interpreter`` that hands region inputs/outputs to reservoirs) against the plain
  forward of the same model on the same batches; target <= 1.5x. Also times a bare
  ``fx.Interpreter`` so the overhead splits into interpretation vs. reservoir work. Each case
  runs twice, with the reservoir checking batches for NaN/Inf on arrival (the CPU default) and
  once per merge (the default on accelerators: no host read per batch).
"""
from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from conftest import RESULTS, bench_device, sync

import bench_models

SR_BUDGET = 1.0  # seconds per output for the cost sweep (the SR share is then known)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples resident memory every 5 ms in a thread; ``peak`` is the max above the start."""

    def __enter__(self) -> "PeakRSS":
        self.start = _rss_bytes()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes() - self.start)
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes() - self.start)


_models: dict[str, bench_models.BenchModel] = {}


def _model(name: str) -> bench_models.BenchModel:
    if name not in _models:
        bm = bench_models.build(name)
        bm.model.to(bench_device())
        _models[name] = bm
    return _models[name]


COST_CASES = [(m, s) for m in ("pinn_mlp", "gnn_edge_mlp") for s in (1024, 4096, 16384)]


@pytest.mark.parametrize("model,max_samples", COST_CASES, ids=[f"{m}-{s}" for m, s in COST_CASES])
def test_distill_cost(benchmark, model, max_samples):
    import symfx

    bm = _model(model)
    dev = bench_device()
    torch.manual_seed(0)
    batch = 4096
    n_batches = max(4, (2 * max_samples) // batch)  # every 5th batch is held out for validation
    calibration = [bm.make_input(batch, dev) for _ in range(n_batches)]
    opts = dict(bm.options, time_budget=SR_BUDGET, max_samples=max_samples, progress=False, cache_dir="", seed=0)
    box: dict[str, object] = {}

    def run() -> None:
        with PeakRSS() as mem:
            box["sm"] = symfx.compile(bm.model, calibration, **opts)
        box["peak"] = mem.peak

    benchmark.group = "distill-cost"
    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    sm = box["sm"]
    seconds = benchmark.stats.stats.median
    outputs = sum(len(d.exprs) for d in sm.distilled) or sum(r.out_features for r in sm._regions.values())
    regions = max(1, len(sm._regions))
    entry = {
        "model": model, "inputs": bm.make_input(1, torch.device("cpu")).shape[-1], "outputs": outputs,
        "regions": regions, "max_samples": max_samples, "calibration_rows": batch * n_batches,
        "seconds": seconds, "seconds_per_region": seconds / regions, "seconds_per_output": seconds / max(outputs, 1),
        "sr_budget_s": SR_BUDGET * outputs,
        "peak_rss_mib": box["peak"] / 2**20, "accepted": bool(sm.distilled), "device": str(dev),
    }
    benchmark.extra_info.update(entry)
    RESULTS["distill"].append(entry)


# checks: where the reservoir checks batches for NaN/Inf, on arrival (the CPU default) or once per
# merge (the default on accelerators, where a host read per batch stalls the launch queue)
RECORD_CASES = [(m, b, c) for m in ("pinn_mlp", "gnn_edge_mlp") for b in (1024, 16384, 131072)
                for c in ("arrival", "merge")]


@pytest.mark.parametrize("model,batch,checks", RECORD_CASES, ids=[f"{m}-{b}-{c}" for m, b, c in RECORD_CASES])
def test_record_overhead(benchmark, model, batch, checks):
    import torch.fx as fx

    from symfx.passes import partition as partition_pass
    from symfx.passes import record as record_pass

    bm = _model(model)
    dev = bench_device()
    gm = fx.symbolic_trace(bm.model)
    x = bm.make_input(batch, dev)
    partition_pass.shape_propagate(gm, (x[:8],))
    found = partition_pass.partition(gm, unit="", max_inputs=8, pca_in=None, min_region_nodes=2, include=(),
                                     exclude=(), variable_names={}, default_name=model)
    reservoirs = {r.name: record_pass.Reservoir(4096, 0, defer_checks=checks == "merge") for r in found.regions}
    recorder = record_pass.RecordingInterpreter(gm, found.regions, reservoirs)
    bare = fx.Interpreter(gm)
    xs = [bm.make_input(batch, dev) for _ in range(4)]
    reps = max(1, 131072 // batch)

    def timed(fn) -> float:
        best = float("inf")
        for _ in range(3):  # best of 3: the machine may be shared
            sync(dev)
            t = time.perf_counter()
            with torch.no_grad():
                for _ in range(reps):
                    for xi in xs:
                        fn(xi)
            sync(dev)
            best = min(best, time.perf_counter() - t)
        return best / (reps * len(xs))

    timed(bm.model)
    plain = timed(bm.model)
    interp = timed(bare.run)
    benchmark.group = f"record-{model}-{checks}"
    benchmark.pedantic(lambda: timed(recorder.run), rounds=1, iterations=1)
    record = timed(recorder.run)
    entry = {"model": model, "batch_rows": batch, "plain_s": plain, "interpreter_s": interp, "record_s": record,
             "overhead": record / plain, "interpreter_overhead": interp / plain, "regions": len(found.regions),
             "checks": checks,
             "device": str(dev)}
    benchmark.extra_info.update(entry)
    RESULTS["record"].append(entry)
