"""Shared state of the benchmark session: models distilled once, compiled once, results collected.

``make bench`` runs every ``bench/test_*.py`` under pytest-benchmark; each test also
hands its numbers to :data:`RESULTS`, and at the end of the session ``bench/perf.py``
turns them into ``bench/results/perf.json``, a ratio table on the terminal and a PNG plot.

Knobs (environment): ``SYMFX_BENCH_DEVICE`` (``cpu`` default, ``cuda`` when there is one;
or ``--bench-device``), ``SYMFX_BENCH_ROWS`` (e.g. ``1e4,1e5`` for a quick run),
``SYMFX_BENCH_BUDGET`` (SR seconds per output, default 4).
"""
from __future__ import annotations

import copy
import os
import sys
import time
from typing import Any

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_models  # noqa: E402

#: everything the suite measured, keyed by section; written by bench/perf.py at session end
RESULTS: dict[str, Any] = {"speed": [], "distill": [], "record": [], "bandwidth": []}
_STATE: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-device", default=None, help="cpu (default) or cuda")


def pytest_configure(config: pytest.Config) -> None:
    dev = config.getoption("--bench-device") or os.environ.get("SYMFX_BENCH_DEVICE", "cpu")
    _STATE["device"] = torch.device(dev)
    _STATE["started"] = time.time()
    _STATE["load_start"] = os.getloadavg()
    _STATE["threads"], _STATE["threads_reason"] = _pick_threads()
    torch.set_num_threads(_STATE["threads"])


def _pick_threads() -> tuple[int, str]:
    """All usable cores, unless the machine is oversubscribed: then OpenMP barriers wait for
    descheduled threads and a 2-thread run of a 1e4-row MLP is ~10x slower than 1 thread, which
    would measure the neighbours, not the kernels. ``SYMFX_BENCH_THREADS`` overrides."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if os.environ.get("SYMFX_BENCH_THREADS"):
        return int(os.environ["SYMFX_BENCH_THREADS"]), "SYMFX_BENCH_THREADS"
    load = os.getloadavg()[0]
    if load > cores:
        return 1, f"load average {load:.1f} > {cores} cores: 1 thread (oversubscribed machine)"
    return cores, "all usable cores"


def bench_device() -> torch.device:
    return _STATE.get("device", torch.device(os.environ.get("SYMFX_BENCH_DEVICE", "cpu")))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Entry:
    """One benchmark model on the bench device: original, distilled, and their compiled forms."""

    def __init__(self, name: str, device: torch.device):
        t0 = time.perf_counter()
        self.bm = bench_models.build(name)
        t1 = time.perf_counter()
        self.bm.model.to(device)
        self.bm.calibration = self.bm.calibration.to(device)
        self.sm = bench_models.distil(self.bm)
        t2 = time.perf_counter()
        self.device = device
        self.build_seconds, self.distil_seconds = t1 - t0, t2 - t1
        self.accepted = any(d.status == "symbolic" for d in self.sm.distilled)
        # Only the row dimension is dynamic (``data`` marks it), as torch.compile's automatic
        # dynamic shapes make it after a batch-size change: one graph serves every row count.
        # ``dynamic=True`` would also make the feature width symbolic, and a symbolic column
        # stride turns Inductor's CPU vectorisation off for every [rows, k] input.
        self.compiled = torch.compile(self.bm.model)
        self.symfx_compiled = torch.compile(self.sm)
        # SymbolicModule.compile(): the same graph with Inductor's CPU tiling heuristic off (it
        # turns SIMD off when a kernel has many strided loads, i.e. [rows, k] inputs read column
        # by column, which is every row region); on a copy, since compile() works in place
        self.symfx_vec = None
        if device.type == "cpu":
            self.symfx_vec = copy.deepcopy(self.sm)
            self.symfx_vec.compile()

    def data(self, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs of ``rows`` rows and the original model's outputs on them (kept for the group)."""
        if getattr(self, "_data_rows", None) != rows:
            self._data = None  # free the previous size first
            torch.manual_seed(0)
            with torch.no_grad():
                x = self.bm.make_input(rows, self.device)
                torch._dynamo.mark_dynamic(x, 0)
                self._data = (x, self.bm.model(x))
            self._data_rows = rows
        return self._data

    def variants(self) -> dict[str, Any]:
        out = {"eager": self.bm.model, "compiled": self.compiled, "symfx": self.symfx_compiled}
        if self.symfx_vec is not None:
            out["symfx_simd"] = self.symfx_vec
        return out


def get_entry(name: str) -> Entry:
    key = f"model:{name}"
    if key not in _STATE:
        _STATE[key] = Entry(name, bench_device())
        e = _STATE[key]
        RESULTS.setdefault("models", {})[name] = {
            "law": e.bm.law, "options": dict(e.bm.options), "accepted": e.accepted,
            "equations": [eq for d in e.sm.distilled for eq in d.equations()],
            "regions": [{"name": d.name, "kind": d.kind, "nrmse": d.nrmse, "variables": list(d.variables)}
                        for d in e.sm.distilled],
            "skipped": [list(s) for s in e.sm.skipped], "train_or_load_s": e.build_seconds,
            "distil_s": e.distil_seconds,
        }
    return _STATE[key]


def rows_list(default: list[int]) -> list[int]:
    text = os.environ.get("SYMFX_BENCH_ROWS")
    if not text:
        return default
    return [int(float(t)) for t in text.split(",") if t.strip()]


def rounds_for(rows: int, variant: str = "eager") -> tuple[int, int]:
    """(rounds, iterations): about the same wall time per measurement at every size.

    The copies and symfx kernels take milliseconds where the original MLPs take seconds, and
    their medians are the noisy ones (a page fault or a neighbour's burst is a large share of
    a few ms), so they get more rounds."""
    if rows <= 10**4:
        return 20, 5
    if rows <= 10**5:
        return 15, 1
    fast = variant in ("copy", "clone") or variant.startswith("symfx")
    return (21, 1) if fast else (5, 1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not any(RESULTS[k] for k in ("speed", "distill", "record")):
        return
    import perf

    RESULTS["session"] = {
        "seconds": time.time() - _STATE["started"], "load_start": _STATE["load_start"], "load_end": os.getloadavg(),
        "device": str(bench_device()), "command": "make bench",
        "threads": _STATE["threads"], "threads_reason": _STATE["threads_reason"],
        "thp_alloc": bool(os.environ.get("THP_MEM_ALLOC_ENABLE")),
    }
    out = perf.write(RESULTS)
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    text = perf.tables(perf.load(out))
    if tr is not None:
        tr.write_line("")
        for line in text.splitlines():
            tr.write_line(line)
    else:
        print(text)
