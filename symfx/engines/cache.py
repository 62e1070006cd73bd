"""On-disk cache of fitted fronts, so that an identical fit never runs twice.

Key (:func:`fit_key`): the samples (X and Y bytes, shapes, dtypes), the variable names, the
engine name and the options that change what an engine returns (``Config.key_fields("engine")``).
Entries live in the one JSON store (:mod:`symfx.store`) as :mod:`symfx.tree` trees.
"""
from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..store import JsonStore, key_of
from ..tree import from_tree, to_tree
from .base import Candidate, Engine, Front, ProgressFn

if TYPE_CHECKING:
    from ..config import Config

FORMAT = 2  # 2: keys from Config.key_fields


def fit_key(engine: Engine, X: np.ndarray, Y: np.ndarray, variables: Sequence[str], options: "Config") -> str:
    """The cache key of one ``engine.fit`` call."""
    meta = {"format": FORMAT, "engine": getattr(engine, "name", type(engine).__name__),
            "variables": list(variables), "options": options.key_fields("engine")}
    return key_of(meta, (X, Y))


def cached_fit(
    engine: Engine,
    X: np.ndarray,
    Y: np.ndarray,
    variables: Sequence[str],
    options: "Config",
    progress: ProgressFn | None = None,
) -> list[Front]:
    """``engine.fit(X, Y, variables, options, progress)``, answered from disk when seen before.

    Caching is off when ``options.resolved_cache_dir`` is None (``cache_dir=""``).
    """
    store = JsonStore(options.resolved_cache_dir, "fits", "fit-cache")
    if not store.enabled:
        return engine.fit(X, Y, variables, options, progress)
    key = fit_key(engine, X, Y, variables, options)
    n_out = int(np.asarray(Y).reshape(len(X), -1).shape[1])
    fronts = store.read(key, lambda text: _parse(text, variables, n_out))
    if fronts is not None:
        if progress is not None:
            progress(n_out, n_out)
        return fronts
    fronts = engine.fit(X, Y, variables, options, progress)
    try:
        text = json.dumps({
            "format": FORMAT, "key": key,
            "fronts": [[{"tree": to_tree(c.expr), "complexity": c.complexity, "loss": c.loss} for c in front]
                       for front in fronts],
        }, allow_nan=False)
    except ValueError as exc:  # a member the tree format cannot hold: not cached, still returned
        warnings.warn(f"symfx: fit not cached ({exc}).", stacklevel=2)
        return fronts
    store.write(key, text)
    return fronts


def _parse(text: str, variables: Sequence[str], n_out: int) -> list[Front]:
    data = json.loads(text)
    if data.get("format") != FORMAT or len(data["fronts"]) != n_out:
        raise ValueError("unexpected format or number of outputs")
    return [Front(tuple(Candidate(from_tree(c["tree"], variables), int(c["complexity"]), float(c["loss"]))
                        for c in front)) for front in data["fronts"]]
