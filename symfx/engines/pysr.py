"""PySR (Julia's SymbolicRegression.jl) behind the engine protocol.

``pysr`` is imported only when this engine is constructed: importing it starts Julia, and on
first use downloads Julia and its packages. On a machine that cannot, the user gets one
:class:`~symfx.errors.EngineUnavailableError` naming the cause and the two ways out.
"""
from __future__ import annotations

import math
import tempfile
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import sympy

from ..errors import EngineUnavailableError
from ..lowering import BINARY_SEARCH_OPS, UNARY_SEARCH_OPS, complexity, lowers
from .base import Candidate, Front, ProgressFn, pareto

if TYPE_CHECKING:
    from ..config import Config

# engine-neutral names (lowering.SEARCH_OPS) → PySR's spellings: binary ops are Julia operators,
# unary ones keep their names
_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
_UNARY = {name: name for name in UNARY_SEARCH_OPS}
assert set(_BINARY) == BINARY_SEARCH_OPS, "every binary search operator needs a PySR spelling"

_FIX = (
    'Use the embedded engine instead (engine="operon", the default), or prepare a Julia depot '
    "on a machine with internet (pip install pysr; python -c 'import pysr'), copy it over and set "
    "PYTHON_JULIAPKG_OFFLINE=yes and PYTHON_JULIAPKG_EXE=/path/to/julia (and JULIA_DEPOT_PATH) "
    "before running symfx."
)


def _import_pysr() -> Any:
    try:
        import pysr  # noqa: PLC0415 - deliberately lazy: this import starts (or downloads) Julia
    except ImportError as exc:
        raise EngineUnavailableError(
            f"engine='pysr' needs the pysr package, which is not installed ({exc}). "
            f"Install it with `pip install 'symfx[pysr]'`. {_FIX}"
        ) from None
    except Exception as exc:  # juliacall/juliapkg raise many types when Julia cannot be had
        raise EngineUnavailableError(
            f"engine='pysr' could not start Julia ({type(exc).__name__}: {str(exc)[:300]}). "
            f"PySR downloads Julia and its packages on first import, which fails without internet. {_FIX}"
        ) from None
    return pysr


def config_to_pysr(options: "Config", n_rows: int) -> dict[str, Any]:
    """PySRRegressor keyword arguments for a Config (engine_options override them)."""
    settings: dict[str, Any] = dict(
        binary_operators=[_BINARY[o] for o in options.operators if o in _BINARY],
        unary_operators=[_UNARY[o] for o in options.operators if o in _UNARY],
        maxsize=int(options.max_complexity),
        timeout_in_seconds=float(options.time_budget),
        niterations=1_000_000,  # the time budget is the limit
        random_state=int(options.seed),
        verbosity=0,
        progress=False,
    )
    if dict(options.engine_options).get("deterministic", True):
        # PySR is reproducible only single-threaded
        settings.update(deterministic=True, parallelism="serial")
    else:
        settings.update(parallelism="multithreading", procs=options.threads)
    if n_rows > 5000:
        settings.update(batching=True)
    settings.update({k: v for k, v in dict(options.engine_options).items() if k != "deterministic"})
    return settings


class PySREngine:
    name = "pysr"

    def __init__(self) -> None:
        self._pysr = _import_pysr()

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        variables: Sequence[str],
        options: "Config",
        progress: ProgressFn | None = None,
    ) -> list[Front]:
        X = np.ascontiguousarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
        # PySR needs valid Julia identifiers; fit on x0..xk and rename afterwards
        internal = [f"x{i}" for i in range(X.shape[1])]
        rename = {sympy.Symbol(a): sympy.Symbol(b) for a, b in zip(internal, variables)}
        from ..lowering import evaluate_columns

        user_symbols = [sympy.Symbol(v) for v in variables]
        fronts = []
        for j in range(Y.shape[1]):
            y = Y[:, j]
            mean = float(np.mean(y))
            candidates = [Candidate(sympy.Float(mean), 1, float(np.var(y)))]
            with tempfile.TemporaryDirectory(prefix="symfx-pysr-") as tmp:
                reg = self._pysr.PySRRegressor(output_directory=tmp, **config_to_pysr(options, len(y)))
                reg.fit(X, y, variable_names=internal)
                table = reg.equations_
                for _, row in table.iterrows():
                    expr = row["sympy_format"]  # PySR hands sympy objects; text is never parsed
                    if not isinstance(expr, sympy.Basic):
                        continue
                    expr = expr.xreplace(rename)
                    if not lowers(expr):
                        continue
                    pred = evaluate_columns([expr], user_symbols, X)[:, 0]
                    loss = float(np.mean((pred - y) ** 2))
                    if not math.isfinite(loss):
                        loss = float(row["loss"])
                    candidates.append(Candidate(expr, complexity(expr), loss))
            fronts.append(pareto(candidates, written=True))
            if progress is not None:
                progress(j + 1, Y.shape[1])
        return fronts
