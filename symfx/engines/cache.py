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

#: 2: keys from Config.key_fields; 3: session 6's engine (joint rounding, written-size fronts);
#: 4: session 7's GP (250 rows, twice the generations); 5: session 9's fast pass (few-node terms
#: searched apart, 8 fits per size snapped, ``log`` among the default operators); 6: sessions
#: 11-12 (exact small polynomials, fitted power-law exponents, 5-node few-node terms, output
#: transforms); 7: session 13 (polynomials times a factor, ``factored.py``); 8: session 14 (thirds
#: among exact coefficients, the shortest rationals scored exhaustively, merged powered sums,
#: periodic terms of integer polynomial phases, ``phases.py``); 9: session 15 (exact sums,
#: ``exact_sums.py``; cosh/sinh forms; separable factors refined on every row); 10: squared
#: one-node functions in the library (session 15); 11: sums with one structured part
#: (``additive.py``, session 16); 12-14: sessions 17-18 (knee-guided snapping, nested terms,
#: pair-separable products); 15: session 19 (the snapping window reaches the choice's readable size);
#: 16: session 20 (local structure search, ``refine.py``); 17: session 22 (knee snap from the
#: least-squares constants, transformed sums); 18: session 23 (a fitted decimal costs a node more);
#: 19: session 24 (reciprocals 1/6 .. 1/12 among the snapped values); 20: session 25 (integer
#: polynomials by lattice decoding, ``lattice.py``); 21: session 26 (powers of sums rescaled before
#: the knee snap, ``forms.rescalings``); 22: session 27 (members sized at their shortest writing,
#: ``forms.shortest_written_form``; exact denominators, ``rationals.exact_denominators``);
#: 34: session 35 (the powers 3/2 and -3/2 among the library's, ``basis._POWERS``); 35: session 36
#: (every library power of a variable among the factored family's factors, ``factored.power_factors``);
#: 36: session 37 (factors the modulated family's screen cannot rank are decoded, ``SCREEN_TIE``);
#: 37: session 38 (the factored family also decodes the best factors by short sums, ``SHORT_SUMS``);
#: 38: session 38 (those factors decoded over their greedy path's columns only); 39: session 39
#: (exact sums kept by the knee score too, ``exact_sums.KNEE_KEEP``; sine phases moved by pi/2);
#: 40: session 40 (an exponential's factor folded into its argument, ``exp_factors.py``; the
#: modulated family screens the product family's factors, compositions included; phases past a
#: turn taken back; the members refine and additive find are knee-snapped too); 41: session 41
#: (compositions only modulate in ``P0 + u*P1``; the GP's hard search capped at the evaluations of
#: the usual one); 42: session 42 (the hard search at twice the usual evaluations, its time net from
#: its nominal time); 43: session 43 (weighed members past the knee window's node bound are
#: knee-snapped too, kept where the snap lands within it, ``readable.knee_snapped_window``); 44:
#: session 43 (polishing's time net at least one budget from when polishing starts); 45: session 44
#: (deterministic by default: no time safety nets, so fronts a net had cut come out whole); 46:
#: session 45 (``P0 + c*u`` decoded for every factor the modulated screen cannot rank); 47: session
#: 46 (a sum's polynomial parts factored apart in the shortest writing, ``factoring.factored_parts``).
#: Bump it whenever the engine returns different fronts for the same data and options: the key
#: holds no code version, so a cache written by an older engine would otherwise be served.
FORMAT = 47


def fit_key(engine: "Engine | str", X: np.ndarray, Y: np.ndarray, variables: Sequence[str], options: "Config") -> str:
    """The cache key of one ``engine.fit`` call (``engine``: the adapter or its name)."""
    name = engine if isinstance(engine, str) else getattr(engine, "name", type(engine).__name__)
    meta = {"format": FORMAT, "engine": name, "variables": list(variables), "options": options.key_fields("engine")}
    return key_of(meta, (X, Y))


def _store(options: "Config") -> JsonStore:
    return JsonStore(options.resolved_cache_dir, "fits", "fit-cache")


def read_fronts(key: str, variables: Sequence[str], n_out: int, options: "Config") -> list[Front] | None:
    """The cached fronts under ``key`` (``n_out`` of them), or None: absent, disabled or stale."""
    store = _store(options)
    if not store.enabled:
        return None
    return store.read(key, lambda text: _parse(text, variables, n_out))


def write_fronts(key: str, fronts: Sequence[Front], options: "Config") -> None:
    """Store ``fronts`` under ``key``; a member the tree format cannot hold leaves it uncached (a warning).

    Only the driver writes (after collecting results), never a worker: no concurrent writers.
    """
    store = _store(options)
    if not store.enabled:
        return
    try:
        text = json.dumps({
            "format": FORMAT, "key": key,
            "fronts": [[{"tree": to_tree(c.expr), "complexity": c.complexity, "loss": c.loss} for c in front]
                       for front in fronts],
        }, allow_nan=False)
    except ValueError as exc:  # a member the tree format cannot hold: not cached, still returned
        warnings.warn(f"symfx: fit not cached ({exc}).", stacklevel=2)
        return
    store.write(key, text)


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
    if options.resolved_cache_dir is None:
        return engine.fit(X, Y, variables, options, progress)
    key = fit_key(engine, X, Y, variables, options)
    n_out = int(np.asarray(Y).reshape(len(X), -1).shape[1])
    fronts = read_fronts(key, variables, n_out, options)
    if fronts is not None:
        if progress is not None:
            progress(n_out, n_out)
        return fronts
    fronts = engine.fit(X, Y, variables, options, progress)
    write_fronts(key, fronts, options)
    return fronts


def _parse(text: str, variables: Sequence[str], n_out: int) -> list[Front]:
    data = json.loads(text)
    if data.get("format") != FORMAT or len(data["fronts"]) != n_out:
        raise ValueError("unexpected format or number of outputs")
    return [Front(tuple(Candidate(from_tree(c["tree"], variables), int(c["complexity"]), float(c["loss"]))
                        for c in front)) for front in data["fronts"]]
