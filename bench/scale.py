"""Fit-stage scaling (issue #16): one 16-output region fitted serially, on ``n_workers=2`` and on a Dask
``LocalCluster(n_workers=2, processes=True)``. Reports the fit stage's wall time, whether the equations
are identical, the driver's peak RSS during the fit stage, and the per-job times the workers measured.

    python bench/scale.py            # writes bench/results/scale.json

The region is a 64→256→64 MLP fitted on 4 input and 16 output principal components (``pca_in=4``,
``pca_out=16``): 16 jobs. Two engine settings: the default engine (sparse pass + GP; its stages end on counts,
with wall-time safety nets) at a budget whose nets do not bind, and the sparse pass alone.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import symfx  # noqa: E402
from symfx import executors, pipeline  # noqa: E402

SETTINGS = {
    # 10 s: the GP's generation cap (4 x its share of the budget) ends it before its time safety net
    # (2 x its share) on this region; at 4 s the net bound on a busy machine and fronts differed
    "default": dict(time_budget=10.0),
    "sparse-only": dict(time_budget=30.0, engine_options={"gp": False}),
}
COMMON = dict(pca_in=4, pca_out=16, max_samples=2048, n_threads=1, selection="accurate", tolerance=1.0,
              validate=False, progress=False, cache_dir="")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Probe:
    """Times pipeline.fit_regions, samples the driver's RSS while it runs, and keeps the runner's job stats."""

    def __init__(self) -> None:
        self.seconds = self.rss_before = self.rss_peak = 0.0
        self.stats: list = []
        self.fits: dict = {}
        self._fit, self._init = pipeline.fit_regions, executors.FitRunner.__init__

    def __enter__(self) -> "_Probe":
        probe = self

        def fit_regions(*args, **kwargs):
            stop = threading.Event()
            probe.rss_before = probe.rss_peak = _rss_mb()

            def sample() -> None:
                while not stop.wait(0.05):
                    probe.rss_peak = max(probe.rss_peak, _rss_mb())

            watcher = threading.Thread(target=sample, daemon=True)
            watcher.start()
            start = time.perf_counter()
            try:
                result = probe._fit(*args, **kwargs)
                probe.fits = result[0]
                return result
            finally:
                probe.seconds = time.perf_counter() - start
                stop.set()
                watcher.join()

        def init(runner, *args, **kwargs):
            probe._init(runner, *args, **kwargs)
            probe.stats = runner.stats

        pipeline.fit_regions, executors.FitRunner.__init__ = fit_regions, init
        return self

    def __exit__(self, *exc) -> None:
        pipeline.fit_regions, executors.FitRunner.__init__ = self._fit, self._init


def _fronts(fits: dict) -> dict:
    """Every front member of every region (accepted or not), as comparable text."""
    return {name: [[(str(c.expr), c.complexity, c.loss) for c in f] for f in fit.fronts] for name, fit in fits.items()}


def run(name: str, model: nn.Module, X: torch.Tensor, **executor) -> dict:
    options = {**COMMON, **SETTINGS[name]}
    with _Probe() as probe:
        sm = symfx.compile(model, X, **options, **executor)
    assert probe.fits, "no region was fitted"
    jobs = sorted(s for _, _, s, _ in probe.stats)
    return {"fit_stage_s": round(probe.seconds, 2), "driver_rss_before_mb": round(probe.rss_before, 1),
            "driver_rss_peak_mb": round(probe.rss_peak, 1), "jobs": len(jobs),
            "job_s_sum": round(sum(jobs), 2), "job_s_median": round(jobs[len(jobs) // 2], 2),
            "job_s_max": round(jobs[-1], 2), "workers": sorted({w for *_, w in probe.stats}),
            "accepted": [d.name for d in sm.distilled], "_fronts": _fronts(probe.fits)}


def main() -> None:
    from bench_machine import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "scale.json"))
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64)).eval()
    X = torch.randn(4096, 64)
    out: dict = {"machine_before": machine(), "region": "64→256→64 MLP, pca_in=4, pca_out=16: 16 jobs",
                 "options": {k: v for k, v in COMMON.items()}, "results": {}}
    for name in args.settings:
        res: dict = {"engine": SETTINGS[name]}
        res["serial"] = run(name, model, X)
        print(name, "serial", {k: v for k, v in res["serial"].items() if k != "_fronts"}, flush=True)
        res["n_workers=2"] = run(name, model, X, n_workers=2)
        print(name, "n_workers=2", {k: v for k, v in res["n_workers=2"].items() if k != "_fronts"}, flush=True)
        start = time.perf_counter()
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                          host="127.0.0.1") as cluster, Client(cluster) as client:
            res["dask_cluster_start_s"] = round(time.perf_counter() - start, 2)
            client.run(lambda: __import__("symfx.engines.operon"))  # warm workers, as a long-lived cluster is
            res["dask_warm_s"] = round(time.perf_counter() - start, 2)
            res["dask LocalCluster(2)"] = run(name, model, X, executor=client.get_executor())
        print(name, "dask", {k: v for k, v in res["dask LocalCluster(2)"].items() if k != "_fronts"}, flush=True)
        serial = res["serial"]["_fronts"]
        for mode in ("serial", "n_workers=2", "dask LocalCluster(2)"):
            res[mode]["identical_to_serial"] = res[mode].pop("_fronts") == serial
            res[mode]["speedup"] = round(res["serial"]["fit_stage_s"] / res[mode]["fit_stage_s"], 2)
        out["results"][name] = res
    out["machine_after"] = machine()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["results"], indent=1))


if __name__ == "__main__":
    main()
