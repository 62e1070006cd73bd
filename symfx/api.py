"""The public entry points: thin wrappers over :mod:`symfx.pipeline`, the one driver."""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import torch.nn as nn

from .config import Config, make_config
from .distilled import Distilled
from .module import SymbolicModule

__all__ = ["compile", "load", "distill", "load_distilled"]


def compile(model: nn.Module, calibration: Any, *, config: Config | None = None, executor: Any = None,
            n_workers: int | None = None, **options: Any) -> SymbolicModule:
    """Distil the replaceable parts of ``model`` into equations and return the rewritten model.

    ``calibration`` is a tensor, a tuple of tensors (positional inputs), or an
    iterable of those (e.g. a DataLoader); it is streamed, never held at once.
    Options are the fields of :class:`symfx.Config` (or pass ``config=``).
    The user's ``model`` is never modified.

    Fits (one per output of each region) run in this process by default; ``executor=`` runs them
    on any ``concurrent.futures.Executor`` (a Dask cluster: ``client.get_executor()``), and
    ``n_workers=N`` on a local pool of N processes, closed afterwards. The equations are the same
    for the same ``seed`` and ``n_threads`` (see the README's "Scaling" section).
    """
    from .pipeline import compile_model

    return compile_model(model, calibration, make_config(config, **options), executor=executor,
                         n_workers=n_workers)


def load(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    example_inputs: Any = None,
    strict: bool = True,
    config: Config | None = None,
    **options: Any,
) -> SymbolicModule:
    """Re-apply the equations saved at ``path`` to ``model`` (same architecture), without refitting.

    ``model`` is not modified; a :class:`SymbolicModule` around a copy is returned.
    ``example_inputs`` (a tensor or tuple of positional inputs) is optional but
    recommended: with it, every region's input widths and output width are
    checked against the model and the rewritten model is run once. With
    ``strict=False`` regions that do not match the model stay neural and are
    listed in ``sm.skipped`` instead of raising. Other keyword options are
    :class:`symfx.Config` fields.
    """
    from . import serialize
    from .pipeline import load_model

    payload = serialize.read(path)
    return load_model(payload, model, example_inputs=example_inputs, strict=strict,
                      cfg=make_config(config, **options))


def distill(fn: Callable[[Any], Any], inputs: Any, *, variable_names: Sequence[str] | None = None,
            batched: bool = True, config: Config | None = None, executor: Any = None, n_workers: int | None = None,
            **options: Any) -> Distilled:
    """Distil a black-box function into equations: ``fn(x [n, k]) -> y [n] or [n, m]``.

    ``inputs`` is a ``[n, k]`` numpy array or torch tensor; ``fn`` is called with it as given
    (``batched=False``: once per row, with ``inputs[i]``, e.g. one prompt per row). Rows whose
    inputs or outputs hold NaN/Inf, and rows on which ``fn`` raises, are dropped and counted
    (``d.calls``, ``d.dropped_rows``, ``d.report()``); a function that cannot be used at all is a
    :class:`symfx.FunctionError`. ``variable_names`` names the ``k`` columns (default ``x0..``).
    Options are the fields of :class:`symfx.Config` (engine, tolerance, selection, time_budget,
    seed, cache_dir, pca_in/pca_out, progress, ...), with the same fit and selection as a region
    of :func:`symfx.compile` (``executor=`` / ``n_workers=`` as there). The best law found is
    returned even when it misses ``tolerance``: then ``d.accepted`` is False, ``d.status`` is
    ``"not applied"`` and ``d.note`` says why.
    """
    from .pipeline import distill_function

    return distill_function(fn, inputs, make_config(config, **options), variable_names, batched,
                            executor=executor, n_workers=n_workers)


def load_distilled(path: str | os.PathLike[str], name: str | None = None) -> Distilled:
    """Read a file written by ``Distilled.save`` (or one region, by ``name``, of ``sm.save``'s file)."""
    from . import serialize
    from .errors import LoadError

    regions = serialize.read(path).regions
    if name is not None:
        found = [d for d in regions if d.name == name]
        if not found:
            raise LoadError(f"{os.fspath(path)}: no region named {name!r}; it holds {[d.name for d in regions]}")
        return found[0]
    if len(regions) != 1:
        raise LoadError(f"{os.fspath(path)} holds {len(regions)} regions {[d.name for d in regions][:10]}; pass "
                        "name= to pick one, or symfx.load(path, model) to put them all into the model")
    return regions[0]


def explain(model_or_fn: Any, x: Any, *, region: str | None = None, n_neighbors: int = 10, n_synthetic: int = 100,
            scale: Any = None, reference: Any = None, variable_names: Sequence[str] | None = None,
            example_inputs: Any = None, config: Config | None = None, executor: Any = None,
            n_workers: int | None = None, **options: Any) -> Distilled:
    """A local symbolic explanation (SLIME) of ``model_or_fn`` around the point ``x`` (a ``[k]`` vector).

    The function is sampled at the ``n_neighbors`` rows of ``reference`` nearest to ``x`` (real
    data; none by default) and at ``n_synthetic`` Gaussian points around ``x`` with standard
    deviation ``scale`` per input (default: 10 % of ``reference``'s spread, or 10 % of ``|x|``), and
    fitted like :func:`symfx.distill`. The result is a :class:`symfx.Distilled` whose ``local``
    holds its fidelity on fresh points of the neighbourhood (``local.nrmse``) next to that of a
    proximity-weighted linear surrogate (LIME's form, ``local.linear_nrmse``).

    ``model_or_fn``: a function ``f(X [n, k])``, an ``nn.Module`` taking such rows, or with
    ``region="name"`` one region of a model: a :class:`SymbolicModule` from ``symfx.compile``, or
    a plain model with ``example_inputs`` (one batch it accepts); ``x`` is then a point of the
    region's own input. Options are :class:`symfx.Config` fields.
    """
    from .slime import explain_point

    return explain_point(model_or_fn, x, make_config(config, **options), region=region, n_neighbors=n_neighbors,
                         n_synthetic=n_synthetic, scale=scale, reference=reference,
                         variable_names=variable_names, example_inputs=example_inputs, executor=executor,
                         n_workers=n_workers)
