"""The ``symfx`` torch.compile backend: its runtime and its on-disk compile cache.

``torch.compile(model, backend="symfx")`` hands each graph Dynamo captures to
:func:`symfx_backend`. The backend runs the same passes as :func:`symfx.compile`
on that graph (partition → record → fit → rewrite → validate) and gives the
result to Inductor (``compile_fx``), so the equations become generated kernels:

1. partition the graph; parameters and buffers that Dynamo lifted to graph
   inputs are the regions' constants. No region: plain Inductor, nothing else.
2. look the graph up in the compile cache (key: the structure of its regions,
   every weight of the graph, the Config and the symfx version). A hit rewrites
   at once and compiles the rewritten graph: no calibration, no fitting.
3. otherwise the first ``calibration_steps`` calls run the original graph,
   compiled by Inductor with the regions' boundary values as extra outputs, and
   record them; then the backend fits, validates (whole-graph output against
   the neural path on held-out calls), writes the cache entry, and switches to
   the rewritten graph compiled by Inductor.

Recompiles of the same graph (a batch-size change, ``dynamic=True``) have the
same key (:func:`symfx.graphkey.compile_key`), so they share one calibration and
never refit. Cache entries are JSON in the one store (:mod:`symfx.store`): the
:mod:`symfx.serialize` format embedded in a small envelope, no pickle, no eval; a
corrupt or stale entry is ignored with a warning.

Every pipeline step (partition, the held-out split, fitting, validation) is a
:mod:`symfx.pipeline` function; this module only runs them from Dynamo's calls.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.fx as fx

from . import pipeline, serialize
from .config import Config, make_config
from .distilled import Distilled
from .errors import ConfigError, SymfxError
from .graphkey import CACHE_FORMAT, CACHE_VERSION, compile_key, concrete, constant_placeholders, readable_module_paths
from .inductor import inductor_options
from .passes.fit import Fit
from .passes.partition import Region
from .passes.rewrite import rewrite
from .store import JsonStore

__all__ = ["backend", "symfx_backend", "reports", "clear", "BackendReport"]
#: options of the backend itself; every other option is a :class:`symfx.Config` field
BACKEND_OPTIONS = {
    "calibration_steps": 8,  # calls recorded before fitting
    "inductor": True,  # False: run graphs eagerly (debugging); True: compile them with Inductor
    "inductor_options": None,  # dict of Inductor config patches for compile_fx
    "executor": None,  # a concurrent.futures.Executor the fits run on (e.g. Dask's client.get_executor())
    "n_workers": None,  # or: a local pool of this many processes, for the fit stage only
}


# ---------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Settings:
    config: Config
    calibration_steps: int = 8
    inductor: bool = True
    inductor_options: dict[str, Any] | None = None
    executor: Any = field(default=None, compare=False)
    n_workers: int | None = None

    @classmethod
    def make(cls, options: dict[str, Any] | None, base: "_Settings | None" = None) -> "_Settings":
        options = dict(options or {})
        own = {k: options.pop(k) for k in list(options) if k in BACKEND_OPTIONS}
        if "config" in options:
            cfg = options.pop("config")
            if not isinstance(cfg, Config):
                raise ConfigError(f"symfx backend: config= must be a symfx.Config, got {type(cfg).__name__}.")
        else:
            cfg = base.config if base is not None else Config(progress=False)
        for name in ("operators", "include", "exclude"):  # options dicts carry lists
            if isinstance(options.get(name), list):
                options[name] = tuple(options[name])
        try:
            cfg = make_config(cfg, **options)
        except ConfigError as exc:
            known = ", ".join(BACKEND_OPTIONS)
            raise ConfigError(f"{exc} Backend options are {known} plus the Config fields.") from None
        merged = dataclasses.replace(base, config=cfg) if base is not None else cls(cfg)
        if own:
            merged = dataclasses.replace(merged, **own)
        steps = merged.calibration_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"symfx backend: calibration_steps must be a positive integer, got {steps!r}.")
        if merged.inductor_options is not None and not isinstance(merged.inductor_options, dict):
            raise ConfigError("symfx backend: inductor_options must be a dict of Inductor config patches.")
        if "executor" in own or "n_workers" in own:
            from .executors import check_executor

            try:
                check_executor(merged.executor, merged.n_workers)
            except ConfigError as exc:
                raise ConfigError(f"symfx backend: {exc}") from None
        return merged


def backend(**options: Any) -> Callable[..., Any]:
    """A configured ``symfx`` backend: ``torch.compile(model, backend=symfx.backend(time_budget=5))``.

    Options are ``calibration_steps`` (calls recorded before fitting, default 8),
    ``inductor`` (False runs the graphs eagerly), ``inductor_options`` (Inductor
    config patches) and every :class:`symfx.Config` field (``config=`` also works).
    """
    settings = _Settings.make(options)

    def symfx_configured(gm: fx.GraphModule, example_inputs: Sequence[Any], **kwargs: Any) -> Callable[..., Any]:
        extra = dict(kwargs.pop("options", None) or {})
        return _compile(gm, example_inputs, _Settings.make(extra, settings) if extra else settings,
                        kwargs.get("mode"))

    symfx_configured.__name__ = "symfx"
    return symfx_configured


def symfx_backend(gm: fx.GraphModule, example_inputs: Sequence[Any], *, options: dict[str, Any] | None = None,
                  mode: str | None = None, **kwargs: Any) -> Callable[..., Any]:
    """The ``symfx`` torch.compile backend (registered by the ``torch_dynamo_backends`` entry point).

    ``torch.compile(model, backend="symfx", options={"time_budget": 5, "calibration_steps": 4})``.
    """
    return _compile(gm, example_inputs, _Settings.make({**(options or {}), **kwargs}), mode)


# ---------------------------------------------------------------------------
# what happened, for tests and users
# ---------------------------------------------------------------------------

@dataclass
class BackendReport:
    """One graph the backend compiled."""

    key: str | None  # compile-cache key ('' when the graph has no region)
    regions: list[str]
    cache: str  # "hit" (equations from the cache), "miss", "shared" (same graph compiled in this process), "off", "none"
    status: str = "calibrating"  # "calibrating", "symbolic", "neural" (no equation kept), "plain" (no region)
    fitted: bool = False  # this process ran symbolic regression for it
    equations: dict[str, list[str]] = field(default_factory=dict)  # region -> equations in use
    exprs: dict[str, list[Any]] = field(default_factory=dict)  # region -> sympy expressions in use
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # fit, compile times
    cache_path: str | None = None


_REPORTS: list[BackendReport] = []
_JOBS: dict[str, "_Job"] = {}
_LOCK = threading.Lock()


def reports() -> list[BackendReport]:
    """What the backend did for each graph it compiled in this process, in order."""
    return list(_REPORTS)


def clear() -> None:
    """Forget in-process state (shared calibrations, reports); the on-disk cache is untouched."""
    with _LOCK:
        _REPORTS.clear()
        _JOBS.clear()


# ---------------------------------------------------------------------------
# the backend
# ---------------------------------------------------------------------------

def _compile(gm: fx.GraphModule, example_inputs: Sequence[Any], settings: _Settings, mode: str | None) -> Callable[..., Any]:
    cfg = settings.config
    ctx = torch._guards.TracingContext.try_get()
    compiler = _Compiler(settings, mode, ctx, list(example_inputs))
    constants = constant_placeholders(gm, example_inputs)
    readable_module_paths(gm)
    try:
        found = pipeline.partition_graph(gm, [concrete(x) for x in example_inputs], cfg, constants)
    except SymfxError:
        raise
    except Exception as exc:  # an op ShapeProp/partition cannot handle: this graph stays neural
        warnings.warn(f"symfx: graph left to Inductor unchanged ({type(exc).__name__}: {exc})"[:300], stacklevel=2)
        _REPORTS.append(BackendReport(None, [], "none", "plain", skipped=[("<graph>", str(exc)[:200])]))
        return compiler(gm)
    original = copy.deepcopy(gm)  # compile_fx takes ownership of what it is given; keep the neural path
    regions = found.regions
    skipped = [(s.name, s.reason) for s in found.skipped]
    if not regions:
        _REPORTS.append(BackendReport("", [], "none", "plain", skipped=skipped))
        return compiler(original)

    key = compile_key(gm, regions, constants, example_inputs, cfg)
    report = BackendReport(key, [r.name for r in regions], "miss", skipped=skipped)
    _REPORTS.append(report)
    store = JsonStore(cfg.resolved_cache_dir, "compile", "compile-cache")
    report.cache_path = str(store.path(key)) if store.enabled else None
    with _LOCK:
        job = _JOBS.get(key)
    if job is not None and job.done:
        report.cache = "shared"
        return _finished(original, regions, job.entry, compiler, report)
    if job is None:
        entry = store.read(key, lambda text: _parse_entry(text, key, regions))
        if entry is not None:
            report.cache = "hit"
            with _LOCK:
                _JOBS[key] = _Job.from_entry(key, regions, entry)
            return _finished(original, regions, entry, compiler, report)
        report.cache = "miss" if store.enabled else "off"
        with _LOCK:
            job = _JOBS.setdefault(key, _Job(key, regions, settings, store))
    else:
        report.cache = "shared"
    return _Calibrating(job, original, regions, compiler, report, example_inputs)


@dataclass
class _Entry:
    """Equations that passed fitting and validation, by region name; and why the others did not."""

    fits: dict[str, Fit]  # region name -> its fit, accepted and validated
    skipped: list[tuple[str, str]]


def _finished(original: fx.GraphModule, regions: Sequence[Region], entry: _Entry, compiler: "_Compiler",
              report: BackendReport) -> Callable[..., Any]:
    pairs = [(r, entry.fits[r.name]) for r in regions if r.name in entry.fits]
    report.skipped += [s for s in entry.skipped if s not in report.skipped]
    report.equations = {r.name: [str(e) for e in f.exprs] for r, f in pairs}
    report.exprs = {r.name: list(f.exprs) for r, f in pairs}
    report.status = "symbolic" if pairs else "neural"
    return compiler(rewrite(original, pairs) if pairs else original)


class _Compiler:
    """Hands a graph to Inductor in the tracing context Dynamo compiled it in (so dynamic shapes hold)."""

    def __init__(self, settings: _Settings, mode: str | None, ctx: Any, example_inputs: list[Any]):
        self.settings = settings
        self.mode = mode
        self.ctx = ctx
        self.example_inputs = example_inputs

    def __call__(self, gm: fx.GraphModule) -> Callable[..., Any]:
        if not self.settings.inductor:
            return gm.forward
        from torch._inductor.compile_fx import compile_fx

        patches = dict(self.settings.inductor_options or {})
        on_cpu = all(t.device.type == "cpu" for t in self.example_inputs if isinstance(t, torch.Tensor))
        patches.update({k: v for k, v in inductor_options([gm], on_cpu=on_cpu).items() if k not in patches})
        if self.mode and self.mode != "default":
            from torch._inductor import list_mode_options

            patches = {**list_mode_options(self.mode), **patches}
        if self.ctx is not None and torch._guards.TracingContext.try_get() is None:
            with torch._guards.tracing(self.ctx):
                return compile_fx(gm, self.example_inputs, config_patches=patches or None)
        return compile_fx(gm, self.example_inputs, config_patches=patches or None)

    def release(self) -> None:
        self.example_inputs = []
        self.ctx = None


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(*args)  # what compile_fx returns for a Dynamo graph takes the graph's inputs unboxed


class _Job:
    """One calibration, shared by every graph with the same key (e.g. static and dynamic recompiles)."""

    def __init__(self, key: str, regions: Sequence[Region], settings: _Settings, store: JsonStore):
        self.key = key
        self.regions = list(regions)
        self.settings = settings
        self.store = store
        self.calibration = pipeline.Calibration(regions, settings.config)
        self.done = False
        self.entry: _Entry | None = None
        self.seconds = 0.0

    @classmethod
    def from_entry(cls, key: str, regions: Sequence[Region], entry: _Entry) -> "_Job":
        job = cls.__new__(cls)
        job.key, job.regions, job.done, job.entry, job.seconds = key, list(regions), True, entry, 0.0
        return job

    @property
    def steps(self) -> int:
        return self.calibration.steps

    def step(self, gm: fx.GraphModule, regions: Sequence[Region], args: tuple[Any, ...], values: dict[str, Any]) -> None:
        if not self.calibration.hold_out((gm, regions, _keep(args))):
            self.calibration.record(regions, values)

    def finish(self) -> _Entry:
        cfg = self.settings.config
        start = time.perf_counter()
        fits, skipped = pipeline.fit_regions(self.regions, self.calibration.samples(), cfg,
                                             executor=self.settings.executor, n_workers=self.settings.n_workers)
        fits = {name: fit for name, fit in fits.items() if fit.accepted}
        batches = self.calibration.validation_batches
        if cfg.validate and fits and batches:
            result = pipeline.validate_rewrites(list(fits), self._runner(batches, fits), cfg)
            for name, reason in result.rejected.items():
                skipped.append((name, reason))
                fits.pop(name, None)
        self.entry = _Entry(fits, skipped)
        self.seconds = time.perf_counter() - start
        try:
            self.store.write(self.key, _dump_entry(self.key, self.regions, self.entry))
        except SymfxError as exc:  # an equation the file format cannot hold: not cached, still used
            warnings.warn(f"symfx: compile cache entry not written ({exc}).", stacklevel=3)
        self.done = True
        self.calibration.release()
        return self.entry

    @staticmethod
    def _runner(batches: Sequence[tuple[fx.GraphModule, Sequence[Region], tuple[Any, ...]]],
                fits: dict[str, Fit]) -> Callable[[frozenset[str]], list[Any]]:
        graphs: dict[tuple[int, frozenset[str]], fx.GraphModule] = {}

        def run(enabled: frozenset[str]) -> list[Any]:
            outs = []
            for gm, regions, args in batches:
                pairs = [(r, fits[r.name]) for r in regions if r.name in enabled]
                k = (id(gm), enabled)
                if k not in graphs:
                    graphs[k] = rewrite(gm, pairs) if pairs else gm
                with torch.no_grad():
                    outs.append(graphs[k](*args))
            return outs

        return run


def _keep(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A call's inputs kept for validation: data cloned, parameters by reference (they are the model's)."""
    return tuple(a.detach().clone() if isinstance(a, torch.Tensor) and not isinstance(a, torch.nn.Parameter)
                 else a for a in args)


class _Calibrating:
    """The callable Dynamo runs: records for the first calls, then switches to the rewritten graph."""

    def __init__(self, job: _Job, original: fx.GraphModule, regions: Sequence[Region], compiler: _Compiler,
                 report: BackendReport, example_inputs: Sequence[Any]):
        self.job = job
        self.original = original
        self.regions = list(regions)
        self.compiler = compiler
        self.report = report
        self.final: Callable[..., Any] | None = None
        self.watch = list(dict.fromkeys(n for r in regions for n in (*r.inputs, r.output)))
        recording = _with_extra_outputs(original, self.watch)
        self.n_outputs = _n_outputs(original)
        start = time.perf_counter()
        self.recording = compiler(recording)
        report.seconds["compile_recording"] = time.perf_counter() - start
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        if self.final is not None:
            return _call(self.final, args)
        with self._lock:
            if self.final is None and self.job.done:
                self._switch()
            if self.final is not None:
                return _call(self.final, args)
            out = _call(self.recording, args)
            values = dict(zip(self.watch, out[self.n_outputs:]))
            self.job.step(self.original, self.regions, args, values)
            result = type(out)(out[: self.n_outputs]) if isinstance(out, (list, tuple)) else out
            if self.job.steps >= self.job.settings.calibration_steps and not self.job.done:
                try:
                    self.job.finish()
                    self.report.fitted = True
                except SymfxError:
                    raise  # one clear error naming the cause and the fix (e.g. the engine is missing)
                except Exception as exc:  # a bug or an engine failure must not take the model down
                    warnings.warn(f"symfx: fitting failed ({type(exc).__name__}: {exc}); "
                                  "this graph stays neural.", stacklevel=2)
                    self.job.entry = _Entry({}, [("<graph>", f"fitting failed: {type(exc).__name__}")])
                    self.job.done = True
                self.report.seconds["fit"] = self.job.seconds
            if self.job.done:
                self._switch()
            return result

    def _switch(self) -> None:
        start = time.perf_counter()
        self.final = _finished(self.original, self.regions, self.job.entry, self.compiler, self.report)
        self.report.seconds["compile_final"] = time.perf_counter() - start
        self.recording = None
        self.compiler.release()


def _n_outputs(gm: fx.GraphModule) -> int:
    out = next(n for n in gm.graph.nodes if n.op == "output")
    value = out.args[0]
    return len(value) if isinstance(value, (tuple, list)) else 1


def _with_extra_outputs(gm: fx.GraphModule, names: Sequence[str]) -> fx.GraphModule:
    """A copy of ``gm`` that also returns the named nodes' values after its own outputs."""
    graph = copy.deepcopy(gm.graph)
    nodes = {n.name: n for n in graph.nodes}
    out = next(n for n in graph.nodes if n.op == "output")
    value = out.args[0]
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    out.args = (value + tuple(nodes[n] for n in names),)
    graph.lint()
    return fx.GraphModule(gm, graph, class_name=type(gm).__name__)


# ---------------------------------------------------------------------------
# compile-cache entries: the serialize format in a small envelope
# ---------------------------------------------------------------------------

def _dump_entry(key: str, regions: Sequence[Region], entry: _Entry) -> str:
    distilled = tuple(Distilled(r, entry.fits[r.name]) for r in regions if r.name in entry.fits)
    envelope = {
        "format": CACHE_FORMAT, "version": CACHE_VERSION, "key": key,
        "regions": [r.name for r in regions],
        "skipped": [[str(a), str(b)] for a, b in entry.skipped],
        "equations": serialize.dumps(serialize.Payload(regions=distilled, model="dynamo-graph")),
    }
    return json.dumps(envelope, indent=1, allow_nan=False) + "\n"


def _parse_entry(text: str, key: str, regions: Sequence[Region]) -> _Entry:
    if len(text) > serialize.MAX_FILE_BYTES * 2:
        raise ValueError("entry too large")
    doc = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"bad constant {c}")))
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT or doc.get("version") != CACHE_VERSION:
        raise ValueError("not a symfx compile-cache entry of this version")
    if doc.get("key") != key:
        raise ValueError("entry's key does not match its file name")
    if doc.get("regions") != [r.name for r in regions]:
        raise ValueError("regions differ from this graph's")
    skipped = doc.get("skipped", [])
    if not isinstance(skipped, list) or not all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(x, str) for x in s) for s in skipped):
        raise ValueError("malformed 'skipped'")
    if not isinstance(doc.get("equations"), str):
        raise ValueError("malformed 'equations'")
    by_name = {r.name: r for r in regions}
    fits: dict[str, Fit] = {}
    for saved in serialize.parses(doc["equations"]).regions:
        region = by_name.get(saved.name)
        if region is None or (saved.kind, tuple(saved.region.input_widths), saved.region.out_features) != (
                region.kind, tuple(region.input_widths), region.out_features):
            raise ValueError(f"region {saved.name!r} does not match this graph")
        fits[saved.name] = saved.fit
    return _Entry(fits, [(a, b) for a, b in skipped])
