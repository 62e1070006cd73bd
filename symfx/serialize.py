"""Safe, human-readable save and load of distilled equations: files of :class:`~symfx.Distilled` records.

The format itself (schema, limits, writer, checked reader; no pickle, ``eval`` or ``sympify``)
is :mod:`symfx.fileformat`, which converts a region and its fit to JSON and back. This module
wraps what it reads in :class:`~symfx.Distilled` records: ``sm.save``/``symfx.load``,
``Distilled.save``/``symfx.load_distilled`` and the compile cache all go through these
functions and that one format.
"""
from __future__ import annotations

import os

from .distilled import Distilled
from .errors import LoadError
from .fileformat import (  # noqa: F401  (the format's names, re-exported for readers of files)
    FORMAT, KINDS, MAX_FILE_BYTES, MAX_FRONT, MAX_JSON_DEPTH, MAX_REGIONS, READ_VERSIONS, VERSION,
    PROJECTION_KEYS, Payload, dumps, parse_parts, read_text, write,
)

__all__ = ["Payload", "dumps", "parses", "read", "write"]


def parses(text: str) -> Payload:
    """Parse and check the text of a saved file; any defect is a :class:`LoadError` naming where."""
    regions, version, model = parse_parts(text)
    return Payload(regions=tuple(Distilled(region, fit, active, note=None if fit.accepted else fit.reason)
                                 for region, fit, active in regions),
                   symfx_version=version, model=model)


def read(path: str | os.PathLike[str]) -> Payload:
    """Read and check a saved file without touching any model."""
    text = read_text(path)
    try:
        return parses(text)
    except LoadError as exc:
        raise LoadError(f"{os.fspath(path)}: {exc}") from None
