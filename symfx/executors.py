"""Where fits run: one fit job per output of a region, serial or on any ``concurrent.futures.Executor``.

A :class:`FitJob` is plain data in (the rows as numpy arrays, one target column, variable names,
the engine-neutral :class:`~symfx.config.Config` with its seed and thread count set for this job)
and :func:`run_fit_job` returns plain data out (a :class:`JobResult` holding one front). Nothing
of the model travels; engines never know where they run. The seed of a job is derived from
``Config.seed``, the region's name and the output index (:func:`job_seed`), so serial,
``n_workers=2`` and a Dask cluster run the very same jobs.

:class:`FitRunner` is the driver side, used by :func:`symfx.pipeline.fit_regions`: it checks the
fit cache per job before submitting, keeps at most as many jobs in flight as the executor has
workers, counts finished fits on one progress bar, writes the cache after collecting (workers
never write it), and turns failures into either a :class:`~symfx.errors.FitError` (the job
raised) or an output left neural with its reason (the worker was lost, or the job ran past
``LIMIT_FACTOR * time_budget + LIMIT_SLACK_S`` seconds).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import os
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from .config import Config
from .errors import ConfigError, FitError, SymfxError

if TYPE_CHECKING:
    import numpy as np

    from .engines.base import Front

__all__ = ["FitJob", "JobResult", "run_fit_job", "job_seed", "check_executor", "open_executor", "Workers", "FitRunner",
           "LIMIT_FACTOR", "LIMIT_SLACK_S"]

#: a job running longer than LIMIT_FACTOR * time_budget + LIMIT_SLACK_S seconds is given up (its output stays neural)
LIMIT_FACTOR = 2.0
LIMIT_SLACK_S = 60.0
#: how often the driver wakes up to check limits while waiting for results (seconds)
POLL_S = 0.5


# ---------------------------------------------------------------------------
# the job: plain data in, plain data out
# ---------------------------------------------------------------------------

def job_seed(seed: int, region: str, output: int) -> int:
    """A stable seed for one output of one region (blake2b, not Python's salted ``hash``)."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{region}\x00{int(output)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (1 << 31)


@dataclass(frozen=True)
class FitJob:
    """One fit: ``engine`` on rows ``X`` against one target column ``y`` (output ``output`` of ``region``)."""

    region: str
    output: int
    X: "np.ndarray"  # [n, k] float64
    y: "np.ndarray"  # [n] float64
    variables: tuple[str, ...]
    config: Config  # seed and n_threads already set for this job

    @property
    def label(self) -> str:
        return f"region {self.region!r} output {self.output}"


@dataclass(frozen=True)
class JobResult:
    """What a job sends back: its front, or the message of the exception it raised."""

    front: "Front | None"
    seconds: float
    worker: str  # host:pid that ran it
    error: str | None = None  # "TypeName: message" and the worker's traceback


_ENGINES: dict[str, Any] = {}  # one adapter per engine name per process


def run_fit_job(job: FitJob) -> JobResult:
    """Run one job (in a worker, or in-process when serial). An exception in the fit comes back as
    ``JobResult.error``: an exception from the future itself then always means the worker was lost."""
    import socket

    start = time.perf_counter()
    where = f"{socket.gethostname()}:{os.getpid()}"
    try:
        from .engines import get_engine

        engine = _ENGINES.get(job.config.engine)
        if engine is None:
            engine = _ENGINES[job.config.engine] = get_engine(job.config.engine)
        (front,) = engine.fit(job.X, job.y.reshape(-1, 1), job.variables, job.config)
    except Exception as exc:  # noqa: BLE001 - sent back to the driver, which names the job
        text = f"{type(exc).__name__}: {exc}"
        return JobResult(None, time.perf_counter() - start, where, f"{text}\n{traceback.format_exc(limit=8)}")
    return JobResult(front, time.perf_counter() - start, where)


# ---------------------------------------------------------------------------
# executors: validation, the n_workers pool
# ---------------------------------------------------------------------------

def check_executor(executor: Any = None, n_workers: Any = None) -> None:
    """Validate ``executor=`` / ``n_workers=`` up front; a shut-down executor is a clear error here."""
    if executor is not None and n_workers is not None:
        raise ConfigError("pass either executor= or n_workers=, not both (n_workers=N is a local process pool).")
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1):
        raise ConfigError(f"n_workers must be a positive integer (processes of a local pool), got {n_workers!r}.")
    if executor is None:
        return
    if not callable(getattr(executor, "submit", None)):
        raise ConfigError(f"executor= must be a concurrent.futures.Executor (something with .submit), got "
                          f"{type(executor).__name__}; for Dask pass client.get_executor().")
    try:  # the only portable test: executors refuse new work once shut down
        executor.submit(int).cancel()
    except Exception as exc:
        raise SymfxError(f"the executor passed as executor= ({type(executor).__name__}) cannot take work: "
                         f"{type(exc).__name__}: {str(exc).rstrip('.')}. Is it shut down, or its client closed? Pass a running "
                         "executor, or n_workers=N for a local process pool.") from exc


@dataclass
class Workers:
    """Where the jobs go: ``executor`` (None: serial, in-process) and whether symfx owns it."""

    executor: Any = None
    owned: bool = False  # a pool symfx started for n_workers=N: closed afterwards
    stuck: bool = False  # a job was given up while running: an owned pool's processes are ended


@contextlib.contextmanager
def open_executor(executor: Any = None, n_workers: int | None = None) -> Iterator[Workers]:
    """The user's executor (left open), a spawn process pool of ``n_workers`` (closed afterwards;
    its processes are ended if a job was given up), or neither: serial."""
    check_executor(executor, n_workers)
    if n_workers is None:
        yield Workers(executor)
        return
    import multiprocessing

    workers = Workers(cf.ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn")), True)
    try:
        yield workers
    finally:
        _close_pool(workers.executor, workers.stuck)


def _close_pool(pool: cf.ProcessPoolExecutor, stuck: bool) -> None:
    if not stuck:
        pool.shutdown(wait=True, cancel_futures=True)
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # a hung job never returns: end it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()


def _capacity(executor: Any) -> int:
    """How many jobs the executor runs at once: a pool's max_workers, a Dask client's threads, else the cores."""
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, int) and workers > 0:
        return workers
    client = getattr(executor, "_client", None)  # distributed.cfexecutor.ClientExecutor (no dask import)
    if client is not None and callable(getattr(client, "nthreads", None)):
        with contextlib.suppress(Exception):
            return max(1, sum(client.nthreads().values()))
    return os.cpu_count() or 1


# ---------------------------------------------------------------------------
# the driver side
# ---------------------------------------------------------------------------

class _Pending:
    """One region's jobs waiting for results (filled by the dispatcher, read by the region's thread)."""

    def __init__(self, jobs: list[FitJob]):
        self.jobs = jobs
        self.fronts: list[Any] = [None] * len(jobs)
        self.lost: dict[int, str] = {}
        self.left = len(jobs)
        self.done = threading.Event()

    def settle(self, index: int, front: Any = None, lost: str | None = None) -> None:
        self.fronts[index] = front
        if lost is not None:
            self.lost[self.jobs[index].output] = lost
        self.left -= 1
        if self.left == 0:
            self.done.set()


class FitRunner:
    """Runs the fit jobs of all regions: in the calling thread (``executor=None``), or on ``executor``.

    :meth:`fit_fn` returns the ``FitFn`` that ``passes.fit.fit_region`` calls for one region; with an
    executor, several regions' ``fit_region`` calls run in threads while :meth:`dispatch` (in the
    calling thread) submits their jobs, watches their limits and updates ``bar``.
    """

    def __init__(self, cfg: Config, workers: Workers | None = None, bar: Any = None):
        self.cfg = cfg
        self.workers = workers if workers is not None else Workers()
        self.executor = self.workers.executor
        self.bar = bar
        threads = cfg.n_threads or (1 if self.executor is not None else 0)  # workers x threads <= cores
        self.job_config = cfg.replace(n_threads=threads)
        self.lost: dict[str, dict[int, str]] = {}  # region -> output -> why it stays neural
        self.stats: list[tuple[str, int, float, str]] = []  # (region, output, seconds, worker) per fit run
        self.limit_s = LIMIT_FACTOR * float(cfg.time_budget) + LIMIT_SLACK_S
        self._queue: "queue.Queue[_Pending]" = queue.Queue()
        self.error: SymfxError | None = None  # the first job that raised stops the fit stage
        self._lock = threading.Lock()

    def jobs(self, region: str, Z: "np.ndarray", T: "np.ndarray", variables: Sequence[str]) -> list[FitJob]:
        import numpy as np

        Z = np.ascontiguousarray(Z, dtype=np.float64)
        T = np.asarray(T, dtype=np.float64).reshape(len(Z), -1)
        return [FitJob(region, j, Z, np.ascontiguousarray(T[:, j]), tuple(variables),
                       self.job_config.replace(seed=job_seed(self.cfg.seed, region, j)))
                for j in range(T.shape[1])]

    def fit_fn(self, region: str) -> Callable[..., list["Front"]]:
        def fit(Z: Any, T: Any, variables: Sequence[str], options: Config, progress: Any = None) -> list["Front"]:
            return self.run(self.jobs(region, Z, T, variables))

        return fit

    # --- one region's jobs -------------------------------------------------
    def run(self, jobs: list[FitJob]) -> list["Front"]:
        from .engines.cache import fit_key, read_fronts

        pending = _Pending(jobs)
        keys = [fit_key(j.config.engine, j.X, j.y.reshape(-1, 1), j.variables, j.config) for j in jobs]
        todo = []
        for i, (job, key) in enumerate(zip(jobs, keys)):
            hit = read_fronts(key, job.variables, 1, job.config)
            if hit is not None:
                pending.fronts[i] = hit[0]
                pending.left -= 1
                self._advance(1)
            else:
                todo.append(i)
        if todo:
            if self.executor is None:
                for i in todo:
                    self._settle(pending, i, run_fit_job(jobs[i]))
            else:
                pending.todo = todo  # type: ignore[attr-defined]
                with self._lock:  # the dispatcher drains the queue under this lock when it stops
                    if self.error is not None:
                        raise self.error
                    self._queue.put(pending)
                pending.done.wait()
        if self.error is not None:
            raise self.error
        if pending.lost:
            self.lost[jobs[0].region] = dict(pending.lost)
        return [front if front is not None else _placeholder(job) for front, job in zip(pending.fronts, jobs)]

    def _settle(self, pending: _Pending, i: int, result: JobResult) -> None:
        from .engines.cache import fit_key, write_fronts

        job = pending.jobs[i]
        if result.error is not None:
            message, _, trace = result.error.partition("\n")
            where = "in-process" if self.executor is None else f"on worker {result.worker}"
            self.error = FitError(f"the fit of {job.label} failed {where}: {message}\nworker traceback:\n{trace}")
            if self.executor is None:
                raise self.error
            pending.settle(i)
            return
        self.stats.append((job.region, job.output, result.seconds, result.worker))
        write_fronts(fit_key(job.config.engine, job.X, job.y.reshape(-1, 1), job.variables, job.config),
                     [result.front], job.config)  # the driver writes; workers never do
        pending.settle(i, result.front)
        self._advance(1)

    def _advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    # --- the dispatcher (calling thread, executor only) ---------------------
    def dispatch(self, busy: Callable[[], bool]) -> None:
        """Submit queued jobs (at most as many in flight as the executor has workers), collect results,
        and give up jobs past their limit, until ``busy()`` turns False and nothing is left. A job that
        raised stops everything: the other jobs are cancelled and every region thread is released."""
        capacity = _capacity(self.executor)
        waiting: list[tuple[_Pending, int]] = []
        flight: dict[cf.Future, tuple[_Pending, int, float]] = {}
        seen: list[_Pending] = []
        try:
            while self.error is None:
                while not self._queue.empty():
                    pending = self._queue.get_nowait()
                    seen.append(pending)
                    waiting += [(pending, i) for i in pending.todo]  # type: ignore[attr-defined]
                while waiting and len(flight) < capacity:
                    pending, i = waiting.pop(0)
                    try:
                        future = self.executor.submit(run_fit_job, pending.jobs[i])
                    except Exception as exc:  # e.g. a broken pool: this job cannot run anywhere
                        self._lose(pending, i, f"could not be submitted ({type(exc).__name__}: {exc})")
                        continue
                    flight[future] = (pending, i, time.monotonic())
                if not flight and not waiting and self._queue.empty() and not busy():
                    return
                done, _ = cf.wait(list(flight), timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    pending, i, _ = flight.pop(future)
                    try:
                        result = future.result()
                    except BaseException as exc:  # noqa: BLE001 - the worker died, or Dask gave the task up
                        self._lose(pending, i, f"worker lost ({type(exc).__name__}: {exc})")
                        continue
                    self._settle(pending, i, result)
                now = time.monotonic()
                for future, (pending, i, started) in list(flight.items()):
                    if now - started > self.limit_s:
                        future.cancel()  # a running task cannot be stopped: its worker stays busy
                        del flight[future]
                        capacity -= 1
                        self.workers.stuck = True
                        self._lose(pending, i, f"exceeded its limit of {self.limit_s:.0f} s "
                                               f"({LIMIT_FACTOR:g} x time_budget + {LIMIT_SLACK_S:g} s)")
                if capacity < 1:  # every worker is stuck in a job that was given up
                    for pending, i in waiting:
                        self._lose(pending, i, "not run: every worker is stuck in a job past its limit")
                    waiting = []
        except BaseException as exc:
            if self.error is None:
                self.error = SymfxError(f"fitting was interrupted ({type(exc).__name__}: {exc})")
            raise
        finally:
            if self.error is not None:  # release everyone; their run() raises self.error
                for future in flight:
                    future.cancel()
                self.workers.stuck = self.workers.stuck or bool(flight)  # do not wait for running jobs
                for pending in seen:
                    pending.done.set()
                with self._lock:
                    while not self._queue.empty():
                        self._queue.get_nowait().done.set()

    def _lose(self, pending: _Pending, i: int, why: str) -> None:
        pending.settle(i, lost=why[:300])
        self._advance(1)


def _placeholder(job: FitJob) -> "Front":
    """The front of an output whose fit was lost: the mean only (its region stays neural regardless)."""
    import numpy as np
    import sympy

    from .engines.base import Candidate, Front

    return Front((Candidate(sympy.Float(float(np.mean(job.y))), 1, float(np.var(job.y))),))


def lost_reason(lost: dict[int, str]) -> str:
    """The report line of a region some of whose fits were lost."""
    parts = [f"output {j}: fit {why}" for j, why in sorted(lost.items())]
    return "stays neural: " + "; ".join(parts[:3]) + (f" (and {len(parts) - 3} more)" if len(parts) > 3 else "")


def mark_lost(fit: Any, lost: dict[int, str] | None) -> Any:
    """``fit`` (a passes.fit.Fit) rejected with the reason its lost outputs give, or unchanged."""
    if not lost:
        return fit
    return dataclasses.replace(fit, chosen=None, reason=lost_reason(lost))
