"""The public entry points: thin wrappers over :mod:`symfx.pipeline`, the one driver."""
from __future__ import annotations

import os
from typing import Any

import torch.nn as nn

from .config import Config, make_config
from .module import SymbolicModule

__all__ = ["compile", "load"]


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
