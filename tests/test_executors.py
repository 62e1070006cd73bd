"""Fits on any executor (issue #16): the same equations serial, on a local pool and on a Dask cluster;
a job that raises, hangs or loses its worker; an executor that is shut down.

The engine runs its sparse pass only (``gp=False``, ``snap=False``: the refit and snapping are
the engine's business, tested elsewhere, and were 3/4 of each job's time here) with a budget far
above what the small fits need, so no time cap binds and every mode must give the very same fronts. The Dask cluster is
started in-process on loopback and shut down at the end of the module.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import pickle
import threading
import time

import pytest
import torch
import torch.nn as nn

import symfx
from symfx import executors
from symfx.errors import ConfigError, FitError, SymfxError

# the tests compare fronts between compiles; the fast pass's stages stop at fractions of
# time_budget, so a busy machine could cut them differently: at 30 s a clean clone's `make test`
# beside two discovery runs (load about 5 on 2 cores) gave the decoder another front (session 37).
# Without the GP nothing runs to the budget, so 120 s costs no time (the lost/hang pair: 63 s both)
OPTIONS = dict(time_budget=120, n_threads=1, tolerance=0.5, max_samples=384, cache_dir="", progress=False,
               validate=False, engine_options={"gp": False, "snap": False})


class TwoMLPs(nn.Module):
    """encoder (2 → 3 outputs) → gather → decoder (3 → 1): two regions, four fit jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x).index_select(0, index))


@pytest.fixture(scope="module")
def model_and_data():
    torch.manual_seed(0)
    model = TwoMLPs().eval()
    x, idx = torch.rand(512, 2), torch.randint(0, 512, (512,))
    return model, (x, idx)


def fronts(sm) -> dict[str, list]:
    """Every front member of every fitted region, as comparable text, plus the chosen members."""
    return {d.name: [[(str(c.expr), c.complexity, c.loss) for c in front] for front in d.fit.fronts] + [d.fit.chosen]
            for d in sm.distilled}


@pytest.fixture(scope="module")
def serial(model_and_data):
    model, data = model_and_data
    sm = symfx.compile(model, data, **OPTIONS)
    assert {d.name for d in sm.distilled} == {"encoder", "decoder"}, sm.report()
    return sm


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as client:
        yield client


def test_job_seeds_are_stable_and_distinct():
    # a literal: Python's salted hash() would change it in every process (and the fit cache with it)
    assert executors.job_seed(0, "encoder", 1) == 1027643359
    seeds = {executors.job_seed(0, r, j) for r in ("encoder", "decoder") for j in range(3)}
    assert len(seeds) == 6 and executors.job_seed(1, "encoder", 1) != executors.job_seed(0, "encoder", 1)


def test_same_equations_serial_pool_and_dask(model_and_data, serial, dask_client):
    model, data = model_and_data
    pooled = symfx.compile(model, data, n_workers=2, **OPTIONS)
    on_dask = symfx.compile(model, data, executor=dask_client.get_executor(), **OPTIONS)
    assert fronts(pooled) == fronts(serial)
    assert fronts(on_dask) == fronts(serial)


def test_a_job_that_raises_names_region_output_and_message(model_and_data, dask_client):
    model, data = model_and_data
    bad = {**OPTIONS, "engine_options": {"gp": False, "max_terms": "four"}}  # int("four") raises in the engine
    with pytest.raises(FitError) as info:
        symfx.compile(model, data, executor=dask_client.get_executor(), **bad)
    text = str(info.value)
    assert "region 'encoder' output" in text or "region 'decoder' output" in text
    assert "ValueError: invalid literal for int()" in text and "on worker" in text


class Faulty(cf.Executor):
    """Runs jobs on ``inner``, except encoder output 1, which hangs or loses its worker."""

    def __init__(self, inner: cf.Executor, fault: str):
        self.inner, self.fault, self.release = inner, fault, threading.Event()

    def submit(self, fn, *args, **kwargs):
        job = args[0] if args else None
        if isinstance(job, executors.FitJob) and (job.region, job.output) == ("encoder", 1):
            if self.fault == "hang":  # released when the test ends; a compile that waited for it would hang
                self.hung = self.inner.submit(self.release.wait, 600)
                return self.hung
            lost: cf.Future = cf.Future()
            lost.set_exception(RuntimeError("worker tcp://10.0.0.7:4242 died"))
            return lost
        return self.inner.submit(fn, *args, **kwargs)


@pytest.mark.parametrize("fault, reason", [("hang", "exceeded its limit of 40 s"), ("lost", "worker lost")])
def test_a_hung_or_lost_job_leaves_its_region_neural_and_keeps_the_rest(model_and_data, serial, monkeypatch,
                                                                        fault, reason):
    model, data = model_and_data
    # the limit is 2 x time_budget + 60 s; here 40 s, well above what each of the other (real,
    # sparse-only) fits takes alone (4 fits in 9.4 s serially, session 12): at 5 s, and at 10 s
    # after session 12's output transforms, `make test` (two xdist workers on 2 cores) ran the
    # decoder's fit past it; at 20 s, so did a clean clone's `make test` beside a discovery run
    # (session 38: the decoder's fit alone took 11-14 s at load 3)
    # A lost worker needs no short limit: there it is 120 s, since in a 12-process suite on a
    # 16-core machine (session 19) the decoder's fit ran past 20 s
    monkeypatch.setattr(executors, "LIMIT_FACTOR", 0.0)
    monkeypatch.setattr(executors, "LIMIT_SLACK_S", 40.0 if fault == "hang" else 120.0)
    monkeypatch.setattr(executors, "POLL_S", 0.05)
    with cf.ThreadPoolExecutor(2) as inner:
        faulty = Faulty(inner, fault)
        try:
            sm = symfx.compile(model, data, executor=faulty, **OPTIONS)
            # compile returned while the hung job still ran: given up at its limit, not waited for
            # (a load-independent check: the elapsed time under 55 s failed at load 4, 56.5 s)
            hung_job_pending = fault != "hang" or not faulty.hung.done()
        finally:
            faulty.release.set()
    assert [d.name for d in sm.distilled] == ["decoder"], sm.skipped
    assert fronts(sm)["decoder"] == fronts(serial)["decoder"]  # the other region's fits are kept
    why = dict(sm.skipped)["encoder"]
    assert "output 1: fit" in why and reason in why, why
    assert hung_job_pending


def test_a_given_up_pool_is_ended_not_waited_for():
    pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    future = pool.submit(time.sleep, 120)
    deadline = time.monotonic() + 60
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    processes = list(pool._processes.values())
    start = time.perf_counter()
    executors._close_pool(pool, stuck=True)
    # The pool's own management thread may reap the worker before us; then our join() returns at once
    # and is_alive() stays True until that thread records the exit code, so poll rather than join once.
    while any(p.is_alive() for p in processes) and time.perf_counter() - start < 10:
        time.sleep(0.05)
    assert not any(p.is_alive() for p in processes), "the hung worker was not ended within 10 s"


def test_shut_down_executor_is_a_clear_error_up_front(model_and_data, monkeypatch):
    model, data = model_and_data
    monkeypatch.setattr("symfx.pipeline._record", lambda *a, **k: pytest.fail("recorded before the check"))
    pool = cf.ThreadPoolExecutor(1)
    pool.shutdown()
    with pytest.raises(SymfxError, match="cannot take work.*shut down"):
        symfx.compile(model, data, executor=pool, **OPTIONS)
    with pytest.raises(SymfxError, match="cannot take work"):
        symfx.backend(executor=pool)


def test_closed_dask_client_is_a_clear_error(model_and_data, dask_client):
    distributed = pytest.importorskip("distributed")
    model, data = model_and_data
    client = distributed.Client(dask_client.cluster, set_as_default=False)
    executor = client.get_executor()
    client.close()
    with pytest.raises(SymfxError, match="cannot take work.*closed"):
        symfx.compile(model, data, executor=executor, **OPTIONS)


@pytest.mark.parametrize("kwargs", [dict(n_workers=0), dict(n_workers=True), dict(n_workers=2.0),
                                    dict(n_workers=2, executor=cf.ThreadPoolExecutor(1)), dict(executor="dask")])
def test_executor_options_are_validated(model_and_data, kwargs):
    model, data = model_and_data
    with pytest.raises(ConfigError):
        symfx.compile(model, data, **kwargs, **OPTIONS)
    with pytest.raises(ConfigError):
        symfx.backend(**kwargs)


def test_driver_reads_and_writes_the_fit_cache_per_job(model_and_data, serial, tmp_path, monkeypatch):
    model, data = model_and_data
    cached = {**OPTIONS, "cache_dir": str(tmp_path)}
    first = symfx.compile(model, data, **cached)
    assert len(list(tmp_path.rglob("*.json"))) == 4  # one entry per job: 3 encoder outputs + 1 decoder
    monkeypatch.setattr(executors, "run_fit_job", lambda job: pytest.fail(f"refitted {job.label}"))
    again = symfx.compile(model, data, executor=cf.ThreadPoolExecutor(2), **cached)
    assert fronts(again) == fronts(first) == fronts(serial)


def test_jobs_and_results_pickle_small(serial):
    import numpy as np

    from symfx.engines.base import Front

    default_threads = symfx.Config(**{**OPTIONS, "n_threads": 0})
    serial_jobs = executors.FitRunner(default_threads).jobs("encoder", np.zeros((4, 2)), np.zeros((4, 1)), ("a", "b"))
    assert serial_jobs[0].config.n_threads == 0  # serial: the engine's default (all cores)
    runner = executors.FitRunner(default_threads, executors.Workers(cf.ThreadPoolExecutor(1)))
    X, Y = np.random.default_rng(0).normal(size=(300, 2)), np.random.default_rng(1).normal(size=(300, 3))
    jobs = runner.jobs("encoder", X, Y, ("x0", "x1"))
    assert [j.config.n_threads for j in jobs] == [1, 1, 1]  # one thread a job when an executor is given
    assert len({j.config.seed for j in jobs}) == 3
    assert len(pickle.dumps(jobs[0])) < X.nbytes + 300 * 8 + 4096  # the rows, one column, the options
    front = Front(serial.distilled[0].fit.fronts[0])
    assert len(pickle.dumps(executors.JobResult(front, 1.0, "host:1"))) < 20_000
