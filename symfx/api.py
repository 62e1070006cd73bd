"""symfx.compile: runs the passes in order (the only place that does)."""
from __future__ import annotations

import copy
import inspect
import itertools
import warnings
from typing import Any

import torch
import torch.nn as nn

from passes import fit as fit_pass
from passes import partition as partition_pass
from passes import record as record_pass
from passes import validate as validate_pass

from .config import Config, make_config
from .errors import CalibrationError, ConfigError, SymfxError
from .frontend import iter_batches, model_device, move_args, trace_units
from .module import SymbolicModule, set_submodule

#: every n-th calibration batch is held out for whole-model validation, at most this many
_VALIDATION_EVERY = 5
_VALIDATION_MAX = 4


def _progress(iterable: Any = None, **kwargs: Any) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


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


def compile(model: nn.Module, calibration: Any, *, config: Config | None = None, **options: Any) -> SymbolicModule:
    """Distil the replaceable parts of ``model`` into equations and return the rewritten model.

    ``calibration`` is a tensor, a tuple of tensors (positional inputs), or an
    iterable of those (e.g. a DataLoader); it is streamed, never held at once.
    Options are the fields of :class:`symfx.Config` (or pass ``config=``).
    The user's ``model`` is never modified.
    """
    cfg = make_config(config, **options)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"symfx.compile takes a torch.nn.Module, got {type(model).__name__}.")
    from .engines import get_engine

    engine = get_engine(cfg.engine)  # fail fast (e.g. PySR without Julia) before any recording

    work = copy.deepcopy(model)
    was_training = work.training
    work.eval()
    traced = trace_units(work)
    skipped: list[tuple[str, str]] = [(p, r) for p, r in traced.skipped if not r.startswith("descended")]
    device = model_device(work)

    batches = iter_batches(calibration)
    first = next(batches, None)
    if first is None:
        raise CalibrationError("calibration is empty; pass at least one batch of model inputs.")
    first = move_args(first, device)
    _check_finite(first)

    # one forward pass to learn each unit's example inputs (for shape propagation)
    unit_args: dict[str, tuple[Any, ...]] = {}
    hooks = []
    for unit in traced.units:
        if unit.path:
            module = work.get_submodule(unit.path)

            def grab(mod: nn.Module, args: tuple, kwargs: dict, path: str = unit.path, gm=unit.graph_module) -> None:
                unit_args.setdefault(path, _positional(gm, args, kwargs))

            hooks.append(module.register_forward_pre_hook(grab, with_kwargs=True))
    try:
        with torch.no_grad():
            work(*first)
    except Exception as exc:
        raise CalibrationError(
            f"the model failed on the first calibration batch ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            f"The model expects {_signature(model)}; got {len(first)} positional input(s) of shapes "
            f"{[tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__ for a in first]}. "
            "Fix: pass calibration batches that the model itself accepts."
        ) from exc
    finally:
        for h in hooks:
            h.remove()
    if "" in {u.path for u in traced.units}:
        unit_args[""] = first

    regions = []
    for unit in traced.units:
        if unit.path not in unit_args:
            skipped.append((unit.path, "not called by the model's forward on calibration data"))
            continue
        try:
            partition_pass.shape_propagate(unit.graph_module, unit_args[unit.path])
        except Exception as exc:
            skipped.append((unit.path or "<root>", f"shape propagation failed: {type(exc).__name__}: {exc}"[:200]))
            continue
        if not _trace_is_faithful(unit, work, unit_args[unit.path]):
            # symbolic_trace can bake a branch on an optional argument into the graph
            # (e.g. `if token_type_ids is None`): such a graph must never stand in for the module
            skipped.append((unit.path or "<root>", "the traced graph does not reproduce the module's output "
                                                   "on calibration data (input-dependent Python branches)"))
            continue
        found = partition_pass.partition(
            unit.graph_module, unit=unit.path, max_inputs=cfg.max_inputs, pca_in=cfg.pca_in,
            min_region_nodes=cfg.min_region_nodes, include=cfg.include, exclude=cfg.exclude,
            variable_names=cfg.variable_names, default_name=type(model).__name__.lower(),
        )
        regions += found.regions
        skipped += [(s.name, s.reason) for s in found.skipped]

    # ------------------------------------------------------------------ record
    reservoirs = {r.name: record_pass.Reservoir(cfg.max_samples, cfg.seed) for r in regions}
    units = {u.path: u for u in traced.units}
    recorders = {}
    for path in {r.unit for r in regions}:
        gm = units[path].graph_module
        interp = record_pass.RecordingInterpreter(gm, [r for r in regions if r.unit == path], reservoirs)
        recorders[path] = record_pass.RecordingUnit(gm, interp)
        if path:
            set_submodule(work, path, recorders[path])
    runner = recorders.get("", work) if "" in recorders else work

    validation_batches: list[tuple[Any, ...]] = []
    seen_batches: list[tuple[Any, ...]] = []
    total = _length(calibration)
    if regions:
        stream = itertools.chain([first], (move_args(b, device) for b in batches))
        bar = _progress(stream, total=total, desc="symfx: recording", unit="batch", disable=not cfg.progress, leave=False)
        with torch.no_grad():
            for i, args in enumerate(bar):
                if i % _VALIDATION_EVERY == _VALIDATION_EVERY - 1 and len(validation_batches) < _VALIDATION_MAX:
                    validation_batches.append(args)
                    continue
                if len(seen_batches) < 2:
                    seen_batches.append(args)
                try:
                    runner(*args)
                except SymfxError:
                    raise
                except Exception as exc:
                    raise CalibrationError(
                        f"calibration batch {i} failed in the model ({type(exc).__name__}: {exc}); "
                        f"every batch must be accepted by {_signature(model)}."
                    ) from exc
    if not validation_batches:
        validation_batches = seen_batches  # fewer than 5 batches: validate on recorded ones

    samples = record_pass.finish(regions, reservoirs, cfg.holdout, cfg.min_samples, cfg.seed)
    if regions and all(s.rows_seen > 0 and s.rows_dropped == s.rows_seen for s in samples.values()):
        raise CalibrationError(
            "every recorded row held NaN/Inf; the model produces non-finite values on this calibration data. "
            "Fix: check the inputs' range and the model's weights."
        )

    # ------------------------------------------------------------------ fit
    fits: dict[str, fit_pass.Fit] = {}
    todo = []
    for region in regions:
        s = samples[region.name]
        if s.skipped:
            skipped.append((region.name, s.skipped))
        else:
            todo.append(region)
    n_targets = sum(_targets(r, cfg) for r in todo)
    fit_fn = _fit_function(engine, cfg)
    with _progress(total=n_targets, desc="symfx: fitting", unit="output", disable=not cfg.progress or not todo) as bar:
        for region in todo:
            bar.set_postfix_str(region.name)
            done = [0]

            def advance(k: int, n: int, done: list[int] = done) -> None:
                bar.update(k - done[0])
                done[0] = k

            fit = fit_pass.fit_region(region, samples[region.name], cfg, fit_fn, advance)
            bar.update(_targets(region, cfg) - done[0]) if done[0] < _targets(region, cfg) else None
            fits[region.name] = fit
            if not fit.accepted:
                skipped.append((region.name, fit.reason or "no equation within tolerance"))

    # ------------------------------------------------------------------ rewrite (+ validate)
    # only units holding regions replace their module; every other part of the model stays as it was
    with_regions = {r.unit for r in regions}
    sm = SymbolicModule.assemble(
        work, {u.path: u.graph_module for u in traced.units if u.path in with_regions}, regions, fits, cfg, skipped
    )

    if cfg.validate and sm.distilled and validation_batches:
        names = [d.name for d in sm.distilled]

        def run(enabled: frozenset[str]) -> list[Any]:
            sm.use_neural()
            if enabled:
                sm.use_symbolic(enabled)
            with torch.no_grad():
                return [sm(*args) for args in validation_batches]

        result = validate_pass.validate(names, run, cfg.effective_model_tolerance)
        sm.validation = result
        for name, reason in result.rejected.items():
            sm.skipped.append((name, reason))
        sm.distilled = [d for d in sm.distilled if d.name in set(result.accepted)]
        sm.use_symbolic()
        sm.validated_choice = sm.current_choice()
    sm.train(was_training)
    if not sm.distilled and regions:
        warnings.warn("symfx: no region was replaced; see sm.report() for the reasons.", stacklevel=2)
    return sm


def _trace_is_faithful(unit: Any, work: nn.Module, args: tuple[Any, ...]) -> bool:
    """The traced graph gives exactly the module's output on the example inputs."""
    from torch.utils._pytree import tree_leaves

    module = work.get_submodule(unit.path) if unit.path else work
    try:
        with torch.no_grad():
            expected = tree_leaves(module(*args))
            got = tree_leaves(unit.graph_module(*args))
    except Exception:
        return False
    if len(expected) != len(got):
        return False
    for a, b in zip(expected, got):
        if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
            return False
        if isinstance(a, torch.Tensor) and not (a.shape == b.shape and torch.equal(a, b)):
            return False
    return True


def _positional(gm: Any, args: tuple, kwargs: dict) -> tuple[Any, ...]:
    if not kwargs:
        return tuple(args)
    names = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
    return tuple(args) + tuple(kwargs[n] for n in names[len(args):] if n in kwargs)


def _length(calibration: Any) -> int | None:
    if isinstance(calibration, torch.Tensor) or (
        isinstance(calibration, tuple) and all(isinstance(t, torch.Tensor) for t in calibration)
    ):
        return 1
    try:
        return len(calibration)
    except TypeError:
        return None


def _targets(region: Any, cfg: Config) -> int:
    if cfg.pca_out and region.kind == "row" and region.out_features > cfg.pca_out:
        return cfg.pca_out
    return region.out_features


def _fit_function(engine: Any, cfg: Config) -> Any:
    """engine.fit behind the on-disk fit cache (a no-op when cache_dir is "")."""
    from .engines.cache import cached_fit

    def fit(X: Any, Y: Any, variables: Any, options: Config, progress: Any = None) -> Any:
        return cached_fit(engine, X, Y, variables, options, progress)

    return fit
