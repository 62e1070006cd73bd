"""pyoperon (C++ genetic programming) as the embedded default engine."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import sympy

from ..errors import EngineUnavailableError
from ..lowering import complexity
from .base import Candidate, Front, ProgressFn, pareto

if TYPE_CHECKING:
    from ..config import Config

# Config's engine-neutral operator names → Operon's symbol names
_OPERON_SYMBOLS = {
    "add": "add", "sub": "sub", "mul": "mul", "div": "div", "sin": "sin", "cos": "cos",
    "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "square": "square",
    "abs": "abs", "pow": "pow",
}


def tree_to_sympy(tree: Any, hash_to_name: dict[int, str], symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    """Convert an Operon postfix tree to sympy. The first child of node i sits at i-1."""
    nodes = tree.Nodes
    values: list[sympy.Expr | None] = [None] * len(nodes)
    for i, node in enumerate(nodes):
        kind = node.Name
        if node.IsConstant:
            values[i] = sympy.Float(float(node.Value))
            continue
        if node.IsVariable:
            values[i] = sympy.Float(float(node.Value)) * symbols[hash_to_name[node.HashValue]]
            continue
        args = []
        j = i - 1
        for _ in range(node.Arity):
            args.append(values[j])
            j -= nodes[j].Length + 1
        values[i] = _apply(kind, args)
    return values[-1]


def _apply(kind: str, args: list[sympy.Expr]) -> sympy.Expr:
    if kind == "+":
        return sympy.Add(*args)
    if kind == "*":
        return sympy.Mul(*args)
    if kind == "-":
        return -args[0] if len(args) == 1 else args[0] - sympy.Add(*args[1:])
    if kind == "/":
        return 1 / args[0] if len(args) == 1 else args[0] / sympy.Mul(*args[1:])
    unary = {
        "exp": sympy.exp, "log": sympy.log, "sin": sympy.sin, "cos": sympy.cos, "tanh": sympy.tanh,
        "sqrt": sympy.sqrt, "abs": sympy.Abs, "tan": sympy.tan,
        "square": lambda a: a**2, "cbrt": lambda a: sympy.cbrt(a),
    }
    if kind in unary:
        return unary[kind](args[0])
    if kind == "pow":
        return args[0] ** args[1]
    if kind == "aq":  # analytic quotient
        return args[0] / sympy.sqrt(1 + args[1] ** 2)
    raise ValueError(f"unsupported Operon node {kind!r}")


class OperonEngine:
    name = "operon"

    def __init__(self) -> None:
        try:
            from pyoperon.sklearn import SymbolicRegressor
        except ImportError as exc:  # pragma: no cover - pyoperon is a hard dependency
            raise EngineUnavailableError(
                f"pyoperon could not be imported ({exc}); reinstall symfx or `pip install pyoperon`."
            ) from exc
        self._regressor = SymbolicRegressor

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
        symbols = {name: sympy.Symbol(name) for name in variables}
        fronts = []
        for j in range(Y.shape[1]):
            fronts.append(self._fit_one(X, Y[:, j], list(variables), symbols, options))
            if progress is not None:
                progress(j + 1, Y.shape[1])
        return fronts

    def _fit_one(self, X, y, variables, symbols, options) -> Front:
        mean = float(np.mean(y))
        candidates = [Candidate(sympy.Float(mean), 1, float(np.mean((y - mean) ** 2)))]
        if np.std(y) <= 1e-12 * max(1.0, abs(mean)):
            return pareto(candidates)
        ops = ",".join(_OPERON_SYMBOLS[o] for o in options.operators if o in _OPERON_SYMBOLS)
        settings = dict(
            allowed_symbols=ops + ",constant,variable",
            objectives=["r2", "length"],
            population_size=1000,
            max_length=int(options.max_complexity),
            optimizer_iterations=10,
            offspring_generator="basic",
            n_threads=options.threads,
            random_state=int(options.seed),
            max_time=max(1, int(round(options.time_budget))),
        )
        settings.update(options.engine_options)
        reg = self._regressor(**settings)
        reg.fit(X, y)
        # variables_ maps Operon's hash of each input to its name X1..Xk (1-based, in column order)
        hash_to_name = {h: variables[int(n[1:]) - 1] for h, n in reg.variables_.items()}
        for member in reg.pareto_front_:
            expr = tree_to_sympy(member["tree"], hash_to_name, symbols)
            candidates.append(Candidate(expr, complexity(expr), float(member["mean_squared_error"])))
        return pareto(candidates)
