"""On-disk cache of fitted fronts, so that an identical fit never runs twice.

Key: a SHA-256 of the samples (X and Y bytes, shapes, dtypes), the variable names, the engine
name, the symfx version and every Config field that changes what an engine returns. Entries
are JSON files holding the safe tree form of ``lowering.to_tree`` — never pickle, never eval.
A corrupt or unreadable entry is ignored with a warning and refitted.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..lowering import from_tree, to_tree
from .base import Candidate, Engine, Front, ProgressFn

if TYPE_CHECKING:
    from ..config import Config

FORMAT = 1
#: Config fields that change an engine's result (progress, cache_dir, pass-level options do not).
FIT_FIELDS = ("engine", "tolerance", "time_budget", "max_complexity", "operators", "seed", "engine_options")


def fit_key(engine: Engine, X: np.ndarray, Y: np.ndarray, variables: Sequence[str], options: "Config") -> str:
    """The cache key of one ``engine.fit`` call."""
    from .. import __version__

    h = hashlib.sha256()
    for arr in (X, Y):
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    meta = {
        "format": FORMAT,
        "symfx": __version__,
        "engine": getattr(engine, "name", type(engine).__name__),
        "variables": list(variables),
        # thread count changes how far a time-capped search gets, so it is part of the key
        "threads": options.threads,
        **{name: _jsonable(getattr(options, name)) for name in FIT_FIELDS},
    }
    h.update(json.dumps(meta, sort_keys=True, default=repr).encode())
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


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
    directory = options.resolved_cache_dir
    if not directory:
        return engine.fit(X, Y, variables, options, progress)
    key = fit_key(engine, X, Y, variables, options)
    path = Path(directory) / "fits" / key[:2] / f"{key}.json"
    n_out = int(np.asarray(Y).reshape(len(X), -1).shape[1])
    if path.exists():
        fronts = _read(path, variables, n_out)
        if fronts is not None:
            if progress is not None:
                progress(n_out, n_out)
            return fronts
    fronts = engine.fit(X, Y, variables, options, progress)
    _write(path, key, fronts)
    return fronts


def _read(path: Path, variables: Sequence[str], n_out: int) -> list[Front] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or len(data["fronts"]) != n_out:
            raise ValueError("unexpected format or number of outputs")
        fronts = []
        for front in data["fronts"]:
            cands = []
            for c in front:
                loss = float(c["loss"])
                cands.append(Candidate(from_tree(c["tree"], variables), int(c["complexity"]), loss))
            fronts.append(Front(tuple(cands)))
        return fronts
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"symfx: ignoring corrupt fit-cache entry {path} ({exc}); fitting again.", stacklevel=3)
        return None


def _write(path: Path, key: str, fronts: list[Front]) -> None:
    try:
        data = {
            "format": FORMAT,
            "key": key,
            "fronts": [
                [{"tree": to_tree(c.expr), "complexity": c.complexity, "loss": c.loss} for c in front]
                for front in fronts
            ],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # write to a temporary file and rename, so a reader never sees half an entry
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        warnings.warn(f"symfx: could not write fit cache {path} ({exc}).", stacklevel=3)
