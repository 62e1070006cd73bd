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


class RegionError(SymfxError, KeyError):
    """No distilled region has the given name (``sm[name]``, ``use_neural(name)``, ``choose``)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class ChoiceError(SymfxError, ValueError):
    """``choose()`` asked for an output or a front member the region does not have."""


class StateError(SymfxError, RuntimeError):
    """The module cannot do this in its current state (e.g. switching after ``drop_neural()``)."""


class FunctionError(SymfxError, ValueError):
    """The function given to ``symfx.distill`` cannot be called on the inputs, or gives no usable rows."""


class FitError(SymfxError, RuntimeError):
    """A fit job raised: names the region, the output and the worker's message."""
