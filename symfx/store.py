"""One on-disk JSON store behind the fit cache and the compile cache.

``<cache_dir>/<kind>/<key[:2]>/<key>.json``. Writes are atomic (a temporary file renamed into
place), so a reader never sees half an entry; an entry that cannot be read or parsed is ignored
with a warning and recomputed. Entries are plain JSON built with :mod:`symfx.tree` for
equations: no pickle, no eval. Keys come from :func:`key_of` over the inputs that decide a
result, with the options chosen by one rule, :meth:`symfx.Config.key_fields`.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from ._version import __version__
from .errors import SymfxError

T = TypeVar("T")


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def key_of(meta: Any, arrays: Iterable[Any] = ()) -> str:
    """SHA-256 over the raw bytes, dtypes and shapes of ``arrays`` (numpy), then JSON ``meta``
    (sorted keys) with the symfx version: the one way a cache key is made."""
    import numpy as np

    h = hashlib.sha256()
    for arr in arrays:
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    h.update(json.dumps({"symfx": __version__, **meta}, sort_keys=True, default=repr).encode())
    return h.hexdigest()


class JsonStore:
    """Entries of one kind (subdirectory ``"fits"``, ``"compile"``) under a cache directory; None disables it."""

    def __init__(self, directory: str | None, kind: str, label: str):
        self.directory = directory or None
        self.kind = kind  # the subdirectory
        self.label = label  # what messages call it: "fit-cache", "compile-cache"

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def path(self, key: str) -> Path:
        return Path(self.directory or ".") / self.kind / key[:2] / f"{key}.json"

    def read(self, key: str, parse: Callable[[str], T]) -> T | None:
        """``parse(text)`` of the entry, or None when it is absent, unreadable or refused by ``parse``."""
        if not self.enabled:
            return None
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return parse(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError, SymfxError) as exc:
            warnings.warn(f"symfx: ignoring stale or corrupt {self.label} entry {path} ({exc}); "
                          "computing it again.", stacklevel=3)
            return None

    def write(self, key: str, text: str) -> None:
        """Store ``text`` under ``key``; a failure is a warning (the cache is an optimisation)."""
        if not self.enabled:
            return
        path = self.path(key)
        try:
            write_atomic(path, text)
        except OSError as exc:
            warnings.warn(f"symfx: could not write {self.label} entry {path} ({exc}).", stacklevel=3)
