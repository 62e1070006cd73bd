"""The errors symfx raises. Each names the cause and the fix."""
from __future__ import annotations


class SymfxError(Exception):
    """Base class of every error symfx raises on purpose."""


class ConfigError(SymfxError, ValueError):
    """An option is unknown or out of range."""


class TraceError(SymfxError, RuntimeError):
    """Nothing in the model could be traced by torch.fx."""


class CalibrationError(SymfxError, ValueError):
    """Calibration data does not fit the model, or holds no usable values."""


class EngineUnavailableError(SymfxError, RuntimeError):
    """The chosen symbolic-regression engine cannot be loaded on this machine."""


class LoadError(SymfxError, ValueError):
    """A saved equations file is malformed, unsafe, or does not match the model."""


class FitError(SymfxError, RuntimeError):
    """A fit job raised: names the region, the output and the worker's message."""
