"""The ``symfx`` torch.compile backend and its on-disk compile cache.

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
same key, so they share one calibration and never refit. Cache entries are
JSON (the :mod:`symfx.serialize` format embedded in a small envelope): no
pickle, no eval; a corrupt or stale entry is ignored with a warning.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.fx as fx

from passes import fit as fit_pass
from passes import partition as partition_pass
from passes import record as record_pass
from passes import rewrite as rewrite_pass
from passes import validate as validate_pass

from .config import Config, make_config
from .errors import ConfigError, LoadError, SymfxError

__all__ = ["backend", "symfx_backend", "reports", "clear", "BackendReport", "CACHE_FORMAT"]

CACHE_FORMAT = "symfx-compile-cache"
CACHE_VERSION = 2  # 2: the key covers the ops outside the regions
#: options of the backend itself; every other option is a :class:`symfx.Config` field
BACKEND_OPTIONS = {
    "calibration_steps": 8,  # calls recorded before fitting
    "inductor": True,  # False: run graphs eagerly (debugging); True: compile them with Inductor
    "inductor_options": None,  # dict of Inductor config patches for compile_fx
}
#: every n-th calibration call is held out for whole-graph validation (as symfx.compile does)
_VALIDATION_EVERY = 5
_VALIDATION_MAX = 4
#: Config fields that do not change which equations come out (not part of the cache key)
_KEY_IGNORES = ("progress", "cache_dir")


# ---------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Settings:
    config: Config
    calibration_steps: int = 8
    inductor: bool = True
    inductor_options: dict[str, Any] | None = None

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
    constants = _constant_placeholders(gm, example_inputs)
    _readable_module_paths(gm)
    try:
        partition_pass.shape_propagate(gm, [_concrete(x) for x in example_inputs])
        found = partition_pass.partition(
            gm, unit="", max_inputs=cfg.max_inputs, pca_in=cfg.pca_in, min_region_nodes=cfg.min_region_nodes,
            include=cfg.include, exclude=cfg.exclude, variable_names=cfg.variable_names, default_name="graph",
            constants=constants,
        )
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

    key = _key(gm, regions, constants, example_inputs, cfg)
    report = BackendReport(key, [r.name for r in regions], "miss", skipped=skipped)
    _REPORTS.append(report)
    store = _Store(cfg.resolved_cache_dir)
    report.cache_path = str(store.path(key)) if store.directory else None
    with _LOCK:
        job = _JOBS.get(key)
    if job is not None and job.done:
        report.cache = "shared"
        return _finished(original, regions, job.entry, compiler, report)
    if job is None:
        entry = store.load(key, regions)
        if entry is not None:
            report.cache = "hit"
            with _LOCK:
                _JOBS[key] = _Job.from_entry(key, regions, entry)
            return _finished(original, regions, entry, compiler, report)
        report.cache = "miss" if store.directory else "off"
        with _LOCK:
            job = _JOBS.setdefault(key, _Job(key, regions, settings, store))
    else:
        report.cache = "shared"
    return _Calibrating(job, original, regions, compiler, report, example_inputs)


@dataclass
class _Entry:
    """Equations that passed fitting and validation, by region name; and why the others did not."""

    fits: dict[str, Any]  # region name -> passes.fit.Fit
    skipped: list[tuple[str, str]]


def _finished(original: fx.GraphModule, regions: Sequence[Any], entry: _Entry, compiler: "_Compiler",
              report: BackendReport) -> Callable[..., Any]:
    pairs = [(r, entry.fits[r.name]) for r in regions if r.name in entry.fits]
    report.skipped += [s for s in entry.skipped if s not in report.skipped]
    report.equations = {r.name: [str(e) for e in f.exprs] for r, f in pairs}
    report.exprs = {r.name: list(f.exprs) for r, f in pairs}
    report.status = "symbolic" if pairs else "neural"
    return compiler(rewrite_pass.rewrite(original, pairs) if pairs else original)


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
        patches.update({k: v for k, v in _vectorize_patch(gm, self.example_inputs).items() if k not in patches})
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

    def __init__(self, key: str, regions: Sequence[Any], settings: _Settings, store: "_Store"):
        cfg = settings.config
        self.key = key
        self.regions = list(regions)
        self.settings = settings
        self.store = store
        self.reservoirs = {r.name: record_pass.Reservoir(cfg.max_samples, cfg.seed) for r in regions}
        self.steps = 0
        self.validation: list[tuple[fx.GraphModule, Sequence[Any], tuple[Any, ...]]] = []
        self.seen: list[tuple[fx.GraphModule, Sequence[Any], tuple[Any, ...]]] = []
        self.done = False
        self.entry: _Entry | None = None
        self.seconds = 0.0

    @classmethod
    def from_entry(cls, key: str, regions: Sequence[Any], entry: _Entry) -> "_Job":
        job = cls.__new__(cls)
        job.key, job.regions, job.done, job.entry, job.seconds = key, list(regions), True, entry, 0.0
        return job

    def step(self, gm: fx.GraphModule, regions: Sequence[Any], args: tuple[Any, ...], values: dict[str, Any]) -> None:
        i = self.steps
        self.steps += 1
        kept = _keep(args)
        if i % _VALIDATION_EVERY == _VALIDATION_EVERY - 1 and len(self.validation) < _VALIDATION_MAX:
            self.validation.append((gm, regions, kept))
            return
        if len(self.seen) < 2:
            self.seen.append((gm, regions, kept))
        with torch.no_grad():
            for region in regions:
                record_pass.capture(region, values, self.reservoirs)

    def finish(self) -> _Entry:
        from .engines import get_engine
        from .engines.cache import cached_fit

        cfg = self.settings.config
        start = time.perf_counter()
        samples = record_pass.finish(self.regions, self.reservoirs, cfg.holdout, cfg.min_samples, cfg.seed)
        engine = get_engine(cfg.engine)

        def fit_fn(X: Any, Y: Any, variables: Any, options: Config, progress: Any = None) -> Any:
            return cached_fit(engine, X, Y, variables, options, progress)  # the fit cache, as symfx.compile

        fits: dict[str, Any] = {}
        skipped: list[tuple[str, str]] = []
        for region in self.regions:
            s = samples[region.name]
            if s.skipped:
                skipped.append((region.name, s.skipped))
                continue
            fit = fit_pass.fit_region(region, s, cfg, fit_fn, None)
            if fit.accepted:
                fits[region.name] = fit
            else:
                skipped.append((region.name, fit.reason or "no equation within tolerance"))
        batches = self.validation or self.seen
        if cfg.validate and fits and batches:
            result = validate_pass.validate(list(fits), self._runner(batches, fits), cfg.effective_model_tolerance)
            for name, reason in result.rejected.items():
                skipped.append((name, reason))
                fits.pop(name, None)
        self.entry = _Entry(fits, skipped)
        self.seconds = time.perf_counter() - start
        self.store.save(self.key, self.regions, self.entry)
        self.done = True
        self.reservoirs.clear()
        self.validation, self.seen = [], []
        return self.entry

    @staticmethod
    def _runner(batches: Sequence[tuple[fx.GraphModule, Sequence[Any], tuple[Any, ...]]],
                fits: dict[str, Any]) -> Callable[[frozenset[str]], list[Any]]:
        graphs: dict[tuple[int, frozenset[str]], fx.GraphModule] = {}

        def run(enabled: frozenset[str]) -> list[Any]:
            outs = []
            for gm, regions, args in batches:
                pairs = [(r, fits[r.name]) for r in regions if r.name in enabled]
                k = (id(gm), enabled)
                if k not in graphs:
                    graphs[k] = rewrite_pass.rewrite(gm, pairs) if pairs else gm
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

    def __init__(self, job: _Job, original: fx.GraphModule, regions: Sequence[Any], compiler: _Compiler,
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
# graph facts: constants, concrete example inputs, the cache key
# ---------------------------------------------------------------------------

def _constant_placeholders(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> set[str]:
    """Placeholders that hold parameters or buffers (Dynamo lifts them to graph inputs)."""
    names = set()
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for node, value in zip(placeholders, example_inputs):
        if isinstance(value, torch.nn.Parameter):
            names.add(node.name)
            continue
        source = getattr(node.meta.get("grapharg"), "source", None)
        text = _source_name(source)
        if text and ("_buffers" in text or "_parameters" in text):
            names.add(node.name)
    return names


_SOURCE_PREFIX = re.compile(r"^[A-Z]\['[^']*'\]\.?")
_MODULES_ITEM = re.compile(r"\.?_modules\['([^']*)'\]")


def _readable_module_paths(gm: fx.GraphModule) -> None:
    """Key Dynamo's ``nn_module_stack`` by module path (``mlp.0``), not by object id.

    Region names come from these paths, and they must not change from one process to the next.
    """
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if not stack:
            continue
        clean = {}
        for value in stack.values():
            path = value[0] if isinstance(value, tuple) and value and isinstance(value[0], str) else ""
            path = _MODULES_ITEM.sub(lambda m: "." + m.group(1), _SOURCE_PREFIX.sub("", path)).lstrip(".")
            if path:
                clean[path] = value
        if clean:
            node.meta["nn_module_stack"] = clean
        else:
            del node.meta["nn_module_stack"]


def _source_name(source: Any) -> str:
    if source is None:
        return ""
    name = getattr(source, "name", "")
    try:
        return str(name() if callable(name) else name)
    except Exception:
        return repr(source)


def _concrete(value: Any) -> Any:
    if isinstance(value, torch.SymInt):
        node = value.node
        hint = getattr(node, "hint", None)
        return int(hint) if hint is not None else int(node.shape_env.size_hint(node.expr))
    if isinstance(value, torch.SymFloat):
        return float(value.node.hint)
    return value


def _describe(arg: Any, local: dict[str, str], unknown: str = "?", ints: bool = True) -> Any:
    """``arg`` with nodes renamed by ``local`` (others become ``unknown``); ``ints=False`` hides
    integer values, which a dynamic recompile turns into shape symbols."""
    if isinstance(arg, fx.Node):
        return local.get(arg.name, unknown)
    if isinstance(arg, (list, tuple)):
        return [_describe(a, local, unknown, ints) for a in arg]
    if isinstance(arg, dict):
        return {str(k): _describe(v, local, unknown, ints) for k, v in sorted(arg.items())}
    if isinstance(arg, int) and not isinstance(arg, bool) and not ints:
        return "int"
    if isinstance(arg, (int, float, bool, str)) or arg is None:
        return arg
    return repr(arg)


def _target(node: fx.Node) -> str:
    t = node.target
    if isinstance(t, str):
        return f"{node.op}:{t}"
    return f"{node.op}:{getattr(t, '__module__', '')}.{getattr(t, '__qualname__', getattr(t, '__name__', repr(t)))}"


def _key(gm: fx.GraphModule, regions: Sequence[Any], constants: set[str], example_inputs: Sequence[Any],
         cfg: Config) -> str:
    """Hash of the regions' structure, the graph's other ops, every weight, the Config and the symfx version.

    Batch size, node names and dynamic-shape placeholders are not in it, so a
    recompile of the same model (another batch size, ``dynamic=True``) finds it.
    """
    from . import __version__

    h = hashlib.sha256()
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    local: dict[str, str] = {}
    k = 0
    for node, value in zip(placeholders, example_inputs):
        if node.name in constants and isinstance(value, torch.Tensor):
            local[node.name] = f"w{k}"
            k += 1
            _hash_tensor(h, value)
    for name, value in sorted(list(gm.named_parameters()) + list(gm.named_buffers())):
        _hash_tensor(h, value)
    structure = []
    for region in regions:
        names = dict(local)
        names.update({n: f"in{i}" for i, n in enumerate(region.inputs)})
        names.update({n: f"n{i}" for i, n in enumerate(region.nodes)})
        node_of = {n.name: n for n in gm.graph.nodes}
        ops = [[_target(node_of[n]), _describe(node_of[n].args, names), _describe(node_of[n].kwargs, names)]
               for n in region.nodes]
        structure.append({"name": region.name, "kind": region.kind, "widths": list(region.input_widths),
                          "out": region.out_features, "output": names[region.output],
                          "variables": list(region.variables), "ops": ops})
    settings = {f.name: repr(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.name not in _KEY_IGNORES}
    meta = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "symfx": __version__, "torch": torch.__version__,
            "config": settings, "regions": structure, "graph": _graph_signature(gm)}
    h.update(json.dumps(meta, sort_keys=True, default=repr).encode())
    return h.hexdigest()


def _graph_signature(gm: fx.GraphModule) -> list[Any]:
    """The whole graph's tensor ops and how they connect, without names, sizes or shape symbols.

    A cached entry was validated against the whole graph's output, so an edit outside the
    regions (another activation after the MLP, a changed float constant) must miss the cache.
    A recompile of the same model must still hit: node names, integer arguments (sizes, which a
    dynamic recompile turns into symbols) and the shape-symbol nodes themselves are left out.
    """
    index: dict[str, str] = {}
    ops: list[Any] = []

    def describe(arg: Any) -> Any:
        return _describe(arg, index, unknown="sym", ints=False)

    for node in gm.graph.nodes:
        value = node.meta.get("example_value", node.meta.get("val"))
        if value is not None and not isinstance(value, (torch.Tensor, list, tuple)):
            continue  # a shape symbol (SymInt) or a Python scalar
        if node.op == "placeholder":
            index[node.name] = f"p{len(index)}"
            continue
        if node.op == "output":
            ops.append(["output", describe(node.args)])
            continue
        index[node.name] = f"t{len(index)}"
        ops.append([_target(node), describe(node.args), describe(node.kwargs)])
    return ops


def _hash_tensor(h: Any, value: torch.Tensor) -> None:
    t = value.detach()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    t = t.cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.float()
    h.update(t.numpy().tobytes() if t.numel() else b"")


# ---------------------------------------------------------------------------
# the on-disk cache
# ---------------------------------------------------------------------------

class _Store:
    """``<cache_dir>/compile/<key[:2]>/<key>.json``: a small envelope around the serialize format."""

    def __init__(self, directory: str | None):
        self.directory = directory

    def path(self, key: str) -> Path:
        return Path(self.directory or ".") / "compile" / key[:2] / f"{key}.json"

    def load(self, key: str, regions: Sequence[Any]) -> _Entry | None:
        if not self.directory:
            return None
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return _parse_entry(path.read_text(encoding="utf-8"), key, regions)
        except (OSError, ValueError, KeyError, TypeError, LoadError, SymfxError) as exc:
            warnings.warn(f"symfx: ignoring stale or corrupt compile-cache entry {path} ({exc}); "
                          "calibrating and fitting again.", stacklevel=3)
            return None

    def save(self, key: str, regions: Sequence[Any], entry: _Entry) -> None:
        if not self.directory:
            return
        path = self.path(key)
        try:
            text = _dump_entry(key, regions, entry)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)  # readers never see half an entry
        except (OSError, ValueError, SymfxError) as exc:
            warnings.warn(f"symfx: could not write compile cache {path} ({exc}).", stacklevel=3)


def _dump_entry(key: str, regions: Sequence[Any], entry: _Entry) -> str:
    from . import serialize

    saved = []
    for region in regions:
        fit = entry.fits.get(region.name)
        if fit is None:
            continue
        proj = fit.projection
        saved_proj = None
        if proj is not None and (proj.in_basis is not None or proj.out_basis is not None):
            saved_proj = serialize.SavedProjection(
                *[None if getattr(proj, k) is None else getattr(proj, k) for k in serialize.PROJECTION_KEYS])
        saved.append(serialize.SavedRegion(
            name=region.name, kind=region.kind, nodes=tuple(region.nodes), inputs=tuple(region.inputs),
            input_widths=tuple(region.input_widths), output=region.output, out_features=region.out_features,
            variables=tuple(fit.variables),
            outputs=tuple(serialize.SavedOutput(e, n) for e, n in zip(fit.exprs, fit.output_nrmse)),
            unit=region.unit, module_paths=tuple(region.module_paths), nrmse=fit.nrmse, projection=saved_proj,
        ))
    envelope = {
        "format": CACHE_FORMAT, "version": CACHE_VERSION, "key": key,
        "regions": [r.name for r in regions],
        "skipped": [[str(a), str(b)] for a, b in entry.skipped],
        "equations": serialize.dumps(serialize.Payload(regions=tuple(saved), model="dynamo-graph")),
    }
    return json.dumps(envelope, indent=1, allow_nan=False) + "\n"


def _parse_entry(text: str, key: str, regions: Sequence[Any]) -> _Entry:
    from . import lowering, serialize

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
    payload = serialize.parses(doc["equations"])
    by_name = {r.name: r for r in regions}
    fits: dict[str, Any] = {}
    nan = float("nan")
    for saved in payload.regions:
        region = by_name.get(saved.name)
        if region is None or (saved.kind, tuple(saved.input_widths), saved.out_features) != (
                region.kind, tuple(region.input_widths), region.out_features):
            raise ValueError(f"region {saved.name!r} does not match this graph")
        proj = saved.projection
        fits[saved.name] = fit_pass.Fit(
            region=saved.name, variables=saved.variables,
            fronts=tuple((fit_pass.FrontEntry(o.expr, lowering.complexity(o.expr), nan,
                                              nan if o.nrmse is None else o.nrmse, True),) for o in saved.outputs),
            chosen=tuple(0 for _ in saved.outputs),
            output_nrmse=tuple(nan if o.nrmse is None else o.nrmse for o in saved.outputs),
            nrmse=nan if saved.nrmse is None else saved.nrmse,
            projection=None if proj is None else fit_pass.Projection(proj.in_mean, proj.in_basis, proj.out_mean,
                                                                     proj.out_basis),
            seconds=0.0,
        )
    return _Entry(fits, [(a, b) for a, b in skipped])


# ``symfx.backend`` names both this module and the function ``backend`` (exported lazily by the
# package). Importing the module (as the torch_dynamo_backends entry point does) rebinds the package
# attribute to the module, so the module itself is made callable: ``symfx.backend(**options)`` works
# either way.
class _CallableModule(types.ModuleType):
    def __call__(self, **options: Any) -> Callable[..., Any]:
        return backend(**options)


sys.modules[__name__].__class__ = _CallableModule


def _vectorize_patch(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> dict[str, Any]:
    """Inductor patches for a graph holding equations on CPU (see symfx.lowering.inductor_options):
    SIMD for transcendental equations, one loop for a region's several outputs."""
    from .lowering import inductor_options

    on_cpu = all(t.device.type == "cpu" for t in example_inputs if isinstance(t, torch.Tensor))
    return inductor_options([gm], on_cpu=on_cpu)
