"""symfx: distil parts of trained PyTorch models into equations, compiled back into the model.

Importing symfx is cheap: torch, sympy and the engines load on first use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import Config
from .errors import (
    CalibrationError,
    ChoiceError,
    ConfigError,
    EngineUnavailableError,
    FitError,
    FunctionError,
    LoadError,
    RegionError,
    StateError,
    SymfxError,
    TraceError,
)


__all__ = [
    "compile", "load", "distill", "load_distilled", "explain", "backend", "Config", "SymbolicModule", "Distilled",
    "OutputPruner", "SymfxError", "ConfigError", "TraceError", "CalibrationError", "EngineUnavailableError",
    "LoadError", "RegionError", "ChoiceError", "StateError", "FunctionError", "FitError",
    "__version__",
]

if TYPE_CHECKING:
    from .api import compile, distill, explain, load, load_distilled
    from .distilled import Distilled
    from .dynamo import backend
    from .module import SymbolicModule
    from .pruning import OutputPruner

_LAZY = {
    "compile": ("api", "compile"),
    "SymbolicModule": ("module", "SymbolicModule"),
    "Distilled": ("distilled", "Distilled"),
    "load": ("api", "load"),
    "OutputPruner": ("pruning", "OutputPruner"),
    "distill": ("api", "distill"),
    "load_distilled": ("api", "load_distilled"),
    "explain": ("api", "explain"),
    "backend": ("dynamo", "backend"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module_name}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symfx' has no attribute {name!r}")
