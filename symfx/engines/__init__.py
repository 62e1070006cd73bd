"""Symbolic-regression engines behind one protocol (``base.py``); the registry lives here.

Adapters are imported only by :func:`get_engine`, so choosing ``operon`` never imports PySR
(whose import starts Julia) and vice versa.
"""
from __future__ import annotations

from .base import Candidate, Engine, Front, ProgressFn, pareto

__all__ = ["Candidate", "Engine", "Front", "ProgressFn", "pareto", "get_engine", "ENGINES"]

#: engine name -> (module, class); Config validates ``engine`` against these names
ENGINES: dict[str, tuple[str, str]] = {
    "operon": ("operon", "OperonEngine"),
    "pysr": ("pysr", "PySREngine"),
}


def get_engine(name: str) -> Engine:
    """The engine adapter called ``name``; heavy imports happen only here, on demand."""
    import importlib

    if name not in ENGINES:
        from ..errors import ConfigError

        raise ConfigError(f"unknown engine {name!r}; use 'operon' (embedded) or 'pysr'.")
    module, cls = ENGINES[name]
    return getattr(importlib.import_module(f".{module}", __name__), cls)()
