"""The one driver: runs the passes in order. Every entry point calls these functions.

``symfx.compile`` → :func:`compile_model` (trace, probe, partition, record, fit, assemble,
validate); ``symfx.load`` → :func:`load_model` (trace, probe, assemble: no record, no fit);
the dynamo backend (``symfx.dynamo``) starts from Dynamo's graph and uses
:func:`partition_graph`, :class:`Calibration`, :func:`fit_regions` and :func:`validate_rewrites`.
No pass imports another pass or this module; this module is the only one that sequences them.
"""
from __future__ import annotations

import inspect
import itertools
import warnings
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.fx as fx
import torch.nn as nn

from .blackbox import call_rows
from .config import Config
from .distilled import Distilled
from .errors import CalibrationError, ConfigError, LoadError, SymfxError
from .frontend import (TraceResult, iter_batches, model_device, model_dtype, move_args, probe, single_batch,
                       trace_is_faithful, trace_units, working_copy)
from .module import SwitchableUnit, SymbolicModule, set_submodule
from .passes import fit as fit_pass
from .passes import partition as partition_pass
from .passes import record as record_pass
from .passes import validate as validate_pass
from .passes.fit import Fit
from .passes.partition import Region
from .passes.record import Samples
from .passes.validate import Validation
from .pruning import pruned_dims

__all__ = [
    "VALIDATION_EVERY", "VALIDATION_MAX", "Calibration", "compile_model", "load_model",
    "partition_units", "partition_graph", "find_regions", "fit_regions", "validate_rewrites", "assemble",
    "distill_function",
]

#: every n-th calibration batch (or backend call) is held out for whole-model validation, at most this many
VALIDATION_EVERY = 5
VALIDATION_MAX = 4


def _progress(iterable: Any = None, **kwargs: Any) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


# ---------------------------------------------------------------------------
# front end: copy, trace, probe, partition
# ---------------------------------------------------------------------------

def _partition_options(cfg: Config, default_name: str) -> dict[str, Any]:
    return dict(max_inputs=cfg.max_inputs, pca_in=cfg.pca_in, min_region_nodes=cfg.min_region_nodes,
                include=cfg.include, exclude=cfg.exclude, variable_names=cfg.variable_names,
                default_name=default_name)


def partition_units(work: nn.Module, traced: TraceResult, unit_args: Mapping[str, tuple[Any, ...]], cfg: Config,
                    default_name: str) -> tuple[list[Region], list[tuple[str, str]]]:
    """Shape-propagate each traced unit, check its trace is faithful, and find its regions."""
    regions: list[Region] = []
    skipped: list[tuple[str, str]] = []
    for unit in traced.units:
        if unit.path not in unit_args:
            skipped.append((unit.path, "not called by the model's forward on calibration data"))
            continue
        try:
            partition_pass.shape_propagate(unit.graph_module, unit_args[unit.path])
        except Exception as exc:
            skipped.append((unit.path or "<root>", f"shape propagation failed: {type(exc).__name__}: {exc}"[:200]))
            continue
        if not trace_is_faithful(unit, work, unit_args[unit.path]):
            # symbolic_trace can bake a branch on an optional argument into the graph
            # (e.g. `if token_type_ids is None`): such a graph must never stand in for the module
            skipped.append((unit.path or "<root>", "the traced graph does not reproduce the module's output "
                                                   "on calibration data (input-dependent Python branches)"))
            continue
        found = partition_pass.partition(unit.graph_module, unit=unit.path, **_partition_options(cfg, default_name))
        regions += found.regions
        skipped += [(s.name, s.reason) for s in found.skipped]
    return regions, skipped


def partition_graph(gm: fx.GraphModule, example_inputs: Sequence[Any], cfg: Config,
                    constants: Iterable[str]) -> partition_pass.Partition:
    """The dynamo backend's front end: one graph from Dynamo, weights lifted to ``constants`` placeholders."""
    partition_pass.shape_propagate(gm, example_inputs)
    return partition_pass.partition(gm, unit="", constants=constants, **_partition_options(cfg, "graph"))


def find_regions(model: nn.Module, example_inputs: Any, cfg: Config) -> tuple[list[Region], dict[str, fx.GraphModule]]:
    """The regions ``symfx.compile`` would fit, found on a copy of ``model`` probed with one batch,
    and the traced units (by path) that hold them (``symfx.explain(model, x, region=...)``)."""
    work, _ = working_copy(model)
    traced = trace_units(work)
    args = move_args(tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,),
                     model_device(work))
    try:
        unit_args = probe(work, traced.units, args)
    except Exception as exc:
        raise CalibrationError(f"the model failed on example_inputs ({_first_line(exc)}); pass a batch the model "
                               f"accepts ({_signature(model)}).") from exc
    regions, _ = partition_units(work, traced, unit_args, cfg, type(model).__name__.lower())
    return regions, {u.path: u.graph_module for u in traced.units}


# ---------------------------------------------------------------------------
# record
# ---------------------------------------------------------------------------

class Calibration:
    """Recording state: a reservoir per region, and the batches held out for validation.

    Every ``VALIDATION_EVERY``-th batch (up to ``VALIDATION_MAX``) is kept aside, unrecorded, to
    judge the whole model with and without each rewrite; with fewer batches than that, the
    first recorded ones are used instead. Shared by ``symfx.compile`` (calibration batches) and
    the dynamo backend (calls of a compiled graph).
    """

    def __init__(self, regions: Sequence[Region], cfg: Config):
        self.regions = list(regions)
        self.cfg = cfg
        self.reservoirs = {r.name: record_pass.Reservoir(cfg.max_samples, cfg.seed) for r in regions}
        self.steps = 0
        self._held: list[Any] = []
        self._recorded: list[Any] = []

    def hold_out(self, batch: Any) -> bool:
        """Count one batch; True if it is kept for validation (do not record it)."""
        i = self.steps
        self.steps += 1
        if i % VALIDATION_EVERY == VALIDATION_EVERY - 1 and len(self._held) < VALIDATION_MAX:
            self._held.append(batch)
            return True
        if len(self._recorded) < 2:
            self._recorded.append(batch)
        return False

    def record(self, regions: Sequence[Region], values: Mapping[str, torch.Tensor]) -> None:
        """Add one call's boundary values (by node name) of ``regions`` to their reservoirs."""
        with torch.no_grad():
            for region in regions:
                record_pass.capture(region, dict(values), self.reservoirs)

    @property
    def validation_batches(self) -> list[Any]:
        return self._held or self._recorded

    def samples(self) -> dict[str, Samples]:
        """The recorded rows per region, split into fitting and held-out rows (record pass)."""
        cfg = self.cfg
        return record_pass.finish(self.regions, self.reservoirs, cfg.holdout, cfg.min_samples, cfg.seed)

    def release(self) -> None:
        self.reservoirs.clear()
        self._held, self._recorded = [], []


# ---------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------

def _targets(region: Region, cfg: Config) -> int:
    if cfg.pca_out and region.kind == "row" and region.out_features > cfg.pca_out:
        return cfg.pca_out
    return region.out_features


def fit_regions(regions: Sequence[Region], samples: Mapping[str, Samples], cfg: Config, *,
                executor: Any = None, n_workers: int | None = None) -> tuple[dict[str, Fit], list[tuple[str, str]]]:
    """Fit every region that has enough samples: one job per output, checked against the fit cache.

    Jobs run in-process (default), on ``executor`` (any ``concurrent.futures.Executor``, e.g. Dask's
    ``client.get_executor()``), or on a local spawn pool of ``n_workers`` processes closed afterwards
    (:mod:`symfx.executors`). Returns every fit (accepted or not) by region name, and (region, reason)
    for each region left neural. Progress is one bar counting finished fits.
    """
    from .executors import FitRunner, mark_lost, open_executor

    fits: dict[str, Fit] = {}
    skipped: list[tuple[str, str]] = []
    todo = []
    for region in regions:
        reason = samples[region.name].skipped
        if reason:
            skipped.append((region.name, reason))
        else:
            todo.append(region)
    total = sum(_targets(r, cfg) for r in todo)
    with open_executor(executor, n_workers) as workers, \
            _progress(total=total, desc="symfx: fitting", unit="fit", disable=not cfg.progress or not todo) as bar:
        runner = FitRunner(cfg, workers, bar)

        def fit_one(region: Region) -> Fit:
            return fit_pass.fit_region(region, samples[region.name], cfg, runner.fit_fn(region.name))

        if workers.executor is None or not todo:
            results = [fit_one(region) for region in todo]
        else:  # regions in threads (selection runs here), their jobs on the executor's workers
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(len(todo), 32), thread_name_prefix="symfx-fit") as threads:
                futures = [threads.submit(fit_one, region) for region in todo]
                runner.dispatch(lambda: not all(f.done() for f in futures))
                results = [f.result() for f in futures]
    for region, fit in zip(todo, results):
        fit = mark_lost(fit, runner.lost.get(region.name))
        fits[region.name] = fit
        if not fit.accepted:
            skipped.append((region.name, fit.reason or "no equation within tolerance"))
    return fits, skipped


# ---------------------------------------------------------------------------
# assemble and validate
# ---------------------------------------------------------------------------

def assemble(work: nn.Module, graph_modules: Mapping[str, fx.GraphModule], regions: Sequence[Region],
             fits: Mapping[str, Fit], cfg: Config, skipped: Sequence[tuple[str, str]],
             model_name: str) -> SymbolicModule:
    """Wrap each traced unit of ``work`` (a copy of the user's model) that holds regions, and build
    the module; every other part of the model stays as it was."""
    used = {r.unit for r in regions}
    units: dict[str, SwitchableUnit] = {}
    for path, gm in graph_modules.items():
        if path not in used:
            continue
        units[path] = SwitchableUnit(gm)
        if path:
            set_submodule(work, path, units[path])
    root = units[""] if "" in units else work
    return SymbolicModule(root, units, regions, dict(fits), cfg, skipped, model_name=model_name)


def validate_rewrites(names: Sequence[str], run: Callable[[frozenset[str]], list[Any]], cfg: Config) -> Validation:
    """Keep the rewrites whose whole-model output stays within ``model_tolerance`` (validate pass)."""
    return validate_pass.validate(list(names), run, cfg.effective_model_tolerance)


def _validate_module(sm: SymbolicModule, batches: Sequence[tuple[Any, ...]], cfg: Config) -> None:
    def run(enabled: frozenset[str]) -> list[Any]:
        sm.use_neural()
        if enabled:
            sm.use_symbolic(enabled)
        with torch.no_grad():
            return [sm(*args) for args in batches]

    result = validate_rewrites([d.name for d in sm.distilled if d.active], run, cfg)
    sm.validation = result
    sm.skipped += list(result.rejected.items())
    for d in sm.distilled:
        if d.name in result.rejected:
            d.note = f"refused by validation: {result.rejected[d.name]}"
    sm.use_neural()  # undo whatever the last run() left on, refused rewrites included
    sm.use_symbolic()
    sm.validated_choice = sm.current_choice()


# ---------------------------------------------------------------------------
# symfx.compile
# ---------------------------------------------------------------------------

def _signature(model: nn.Module) -> str:
    try:
        return f"forward{inspect.signature(model.forward)}"
    except (TypeError, ValueError):
        return "forward(...)"


def _check_finite(args: tuple[Any, ...]) -> None:
    tensors = [a for a in args if isinstance(a, torch.Tensor) and a.is_floating_point() and a.numel()]
    if tensors and all(not torch.isfinite(t).any() for t in tensors):
        raise CalibrationError(
            "calibration data is all NaN/Inf: nothing can be recorded. Fix: pass finite inputs "
            "drawn from the range the model will see."
        )


def _length(calibration: Any) -> int | None:
    if single_batch(calibration):
        return 1
    try:
        return len(calibration)
    except TypeError:
        return None


def compile_model(model: nn.Module, calibration: Any, cfg: Config, *, executor: Any = None,
                  n_workers: int | None = None) -> SymbolicModule:
    """Distil the replaceable parts of ``model`` (see :func:`symfx.compile`)."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"symfx.compile takes a torch.nn.Module, got {type(model).__name__}.")
    from .engines import get_engine
    from .executors import check_executor

    get_engine(cfg.engine)  # fail fast (e.g. PySR without Julia, a shut-down executor) before any recording
    check_executor(executor, n_workers)

    work, was_training = working_copy(model)
    traced = trace_units(work)
    skipped: list[tuple[str, str]] = [(p, r) for p, r in traced.skipped if not r.startswith("descended")]
    device = model_device(work)

    batches = iter_batches(calibration, model_dtype(work))
    first = next(batches, None)
    if first is None:
        raise CalibrationError("calibration is empty; pass at least one batch of model inputs.")
    first = move_args(first, device)
    _check_finite(first)
    try:
        unit_args = probe(work, traced.units, first)  # each unit's example inputs, for shape propagation
    except Exception as exc:
        raise CalibrationError(
            f"the model failed on the first calibration batch ({_first_line(exc)}). "
            f"The model expects {_signature(model)}; got {len(first)} positional input(s) of shapes "
            f"{[tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__ for a in first]}. "
            "Fix: pass calibration batches that the model itself accepts."
        ) from exc
    regions, found_skipped = partition_units(work, traced, unit_args, cfg, type(model).__name__.lower())
    skipped += found_skipped

    calibration_state = _record(work, traced, regions, itertools.chain([first], batches), device, cfg,
                                _length(calibration), _signature(model))
    samples = calibration_state.samples()
    if regions and all(s.rows_seen > 0 and s.rows_dropped == s.rows_seen for s in samples.values()):
        raise CalibrationError(
            "every recorded row held NaN/Inf; the model produces non-finite values on this calibration data. "
            "Fix: check the inputs' range and the model's weights."
        )

    fits, fit_skipped = fit_regions(regions, samples, cfg, executor=executor, n_workers=n_workers)
    skipped += fit_skipped
    sm = assemble(work, {u.path: u.graph_module for u in traced.units}, regions, fits, cfg, skipped,
                  type(model).__name__)
    sm.pruned = pruned_dims(model)  # OutputPruner masks: their dims are constant zero columns in the fits
    if cfg.validate and any(d.active for d in sm.distilled) and calibration_state.validation_batches:
        _validate_module(sm, calibration_state.validation_batches, cfg)
    sm.train(was_training)
    if not any(d.active for d in sm.distilled) and regions:
        warnings.warn("symfx: no region was replaced; see sm.report() for the reasons.", stacklevel=3)
    return sm


def _record(work: nn.Module, traced: TraceResult, regions: Sequence[Region], stream: Iterable[tuple[Any, ...]],
            device: torch.device | None, cfg: Config, total: int | None, signature: str) -> Calibration:
    """Stream the calibration batches through the model with recording interpreters in place."""
    state = Calibration(regions, cfg)
    if not regions:
        return state
    units = {u.path: u for u in traced.units}
    recorders: dict[str, record_pass.RecordingUnit] = {}
    originals: dict[str, nn.Module] = {}
    for path in {r.unit for r in regions}:
        gm = units[path].graph_module
        interp = record_pass.RecordingInterpreter(gm, [r for r in regions if r.unit == path], state.reservoirs)
        recorders[path] = record_pass.RecordingUnit(gm, interp)
        if path:
            originals[path] = work.get_submodule(path)
            set_submodule(work, path, recorders[path])
    runner = recorders.get("", work)
    bar = _progress((move_args(b, device) for b in stream), total=total, desc="symfx: recording", unit="batch",
                    disable=not cfg.progress, leave=False)
    try:
        with torch.no_grad():
            for i, args in enumerate(bar):
                if state.hold_out(args):
                    continue
                try:
                    runner(*args)
                except SymfxError:
                    raise
                except Exception as exc:
                    raise CalibrationError(
                        f"calibration batch {i} failed in the model ({type(exc).__name__}: {exc}); "
                        f"every batch must be accepted by {signature}."
                    ) from exc
    finally:
        for path, module in originals.items():  # assemble() decides what replaces each unit
            set_submodule(work, path, module)
    return state


def distill_function(fn: Callable[[Any], Any], inputs: Any, cfg: Config, variable_names: Sequence[str] | None = None,
                     batched: bool = True, *, executor: Any = None, n_workers: int | None = None) -> Distilled:
    """``symfx.distill``: call ``fn`` on the rows (front end: one row region), record, split, fit."""
    rows = call_rows(fn, inputs, cfg, variable_names, batched)  # drops and counts unusable rows
    state = Calibration([rows.region], cfg)
    state.record([rows.region], {"x": rows.X, "y": rows.Y})
    fits, _ = fit_regions([rows.region], state.samples(), cfg, executor=executor, n_workers=n_workers)
    return rows.distilled(fits)


# ---------------------------------------------------------------------------
# symfx.load
# ---------------------------------------------------------------------------

def load_model(payload: Any, model: nn.Module, *, example_inputs: Any = None, strict: bool = True,
               cfg: Config | None = None) -> SymbolicModule:
    """Put the distilled regions of a read file (``serialize.Payload``) into a copy of ``model``:
    trace, probe (when ``example_inputs`` is given), check each region against the graph, assemble."""
    if not isinstance(model, nn.Module):
        raise LoadError(f"symfx.load needs the model (a torch.nn.Module) to apply the equations to, "
                        f"got {type(model).__name__}")
    cfg = cfg if cfg is not None else Config()
    work, was_training = working_copy(model)
    traced = trace_units(work)
    units = {u.path: u.graph_module for u in traced.units}
    args = None
    if example_inputs is not None:
        args = move_args(tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,),
                         model_device(work))
        try:
            for path, a in probe(work, traced.units, args).items():
                partition_pass.shape_propagate(units[path], a)
        except Exception as exc:
            raise LoadError(f"the model failed on example_inputs ({_first_line(exc)})") from exc

    skipped: list[tuple[str, str]] = []
    kept: list[Distilled] = []
    for i, d in enumerate(payload.regions):
        problem = _mismatch(d.region, units, args is not None)
        if problem:
            message = (f"regions[{i}] ({d.name!r}): {problem}. Is this the model the file was saved from "
                       f"({payload.model or 'unknown'}, symfx {payload.symfx_version})?")
            if strict:
                raise LoadError(message + " Pass strict=False to load the regions that do match.")
            skipped.append((d.name, f"not applied on load: {problem}"))
            continue
        kept.append(d)
    try:
        sm = assemble(work, units, [d.region for d in kept], {d.name: d.fit for d in kept}, cfg, skipped,
                      payload.model or type(model).__name__)
        inactive = [d.name for d in kept if not d.active]
        if inactive:
            sm.use_neural(inactive)
        forced = [d.name for d in kept if d.active and not d.fit.accepted]  # not applied by symfx, on by name
        if forced:
            sm.use_symbolic(forced)
        if args is not None:
            with torch.no_grad():
                sm(*args)
    except LoadError:
        raise
    except Exception as exc:  # the rewrite or the first run failed: the file does not fit this model
        raise LoadError(f"the saved equations do not fit this model ({_first_line(exc)})") from exc
    sm.train(was_training)
    return sm


def _mismatch(region: Region, units: Mapping[str, fx.GraphModule], shapes: bool) -> str | None:
    """Why ``region`` cannot be applied to the traced units, or None."""
    gm = units.get(region.unit)
    if gm is None:
        return f"the model has no traced unit {region.unit or '<root>'!r}"
    nodes = {n.name: n for n in gm.graph.nodes}
    missing = [n for n in region.nodes + region.inputs if n not in nodes]
    if missing:
        return f"the model's graph has no node(s) {missing[:5]}"
    wrong = [n for n in region.nodes if nodes[n].op in ("placeholder", "output", "get_attr")]
    if wrong:
        return f"node(s) {wrong[:5]} are not computations"
    if not shapes:
        return None

    def width(name: str) -> int | None:
        meta = nodes[name].meta.get("tensor_meta")
        shape = getattr(meta, "shape", None)
        return int(shape[-1]) if shape is not None and len(shape) else None

    if region.kind == "row":
        got = [width(n) for n in region.inputs]
        if any(g is not None and g != w for g, w in zip(got, region.input_widths)):
            return f"inputs {list(region.inputs)} have {got} features, the file says {list(region.input_widths)}"
        out = width(region.output)
        if out is not None and out != region.out_features:
            return f"output {region.output!r} has {out} features, the file says {region.out_features}"
    return None
