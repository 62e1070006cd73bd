"""sympy ⇄ torch: the single table that maps one to the other.

Everything that turns an equation into computation goes through ``OPS``:
lowering to ``torch.ops.aten`` FX nodes (rewrite), evaluation on numpy or torch
arrays (fit selection, tests), and the safe tree format of saved files
(serialize). Nothing here calls ``eval``, ``exec``, ``lambdify`` or ``sympify``
on text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy
import torch

aten = torch.ops.aten


@dataclass(frozen=True)
class Op:
    """One operator: its saved name, how sympy builds it, how numpy and torch compute it."""

    name: str
    sympy_type: type | None
    build: Callable[..., sympy.Expr]
    numpy: Callable[..., Any]
    aten: Any  # torch.ops.aten overload used when lowering to FX
    arity: int  # -1: n-ary (two or more)


def _np_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args)

    return call


# The table. Order does not matter; names are the on-disk vocabulary.
OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("add", sympy.Add, lambda *a: sympy.Add(*a), np.add, aten.add.Tensor, -1),
        Op("mul", sympy.Mul, lambda *a: sympy.Mul(*a), np.multiply, aten.mul.Tensor, -1),
        Op("pow", sympy.Pow, sympy.Pow, _np_safe(np.power), aten.pow.Tensor_Tensor, 2),
        Op("exp", sympy.exp, sympy.exp, _np_safe(np.exp), aten.exp.default, 1),
        Op("log", sympy.log, sympy.log, _np_safe(np.log), aten.log.default, 1),
        Op("sin", sympy.sin, sympy.sin, np.sin, aten.sin.default, 1),
        Op("cos", sympy.cos, sympy.cos, np.cos, aten.cos.default, 1),
        Op("tan", sympy.tan, sympy.tan, np.tan, aten.tan.default, 1),
        Op("tanh", sympy.tanh, sympy.tanh, np.tanh, aten.tanh.default, 1),
        Op("sinh", sympy.sinh, sympy.sinh, _np_safe(np.sinh), aten.sinh.default, 1),
        Op("cosh", sympy.cosh, sympy.cosh, _np_safe(np.cosh), aten.cosh.default, 1),
        Op("asin", sympy.asin, sympy.asin, _np_safe(np.arcsin), aten.asin.default, 1),
        Op("acos", sympy.acos, sympy.acos, _np_safe(np.arccos), aten.acos.default, 1),
        Op("atan", sympy.atan, sympy.atan, np.arctan, aten.atan.default, 1),
        Op("abs", sympy.Abs, sympy.Abs, np.abs, aten.abs.default, 1),
        Op("erf", sympy.erf, sympy.erf, None, aten.erf.default, 1),
        Op("max", sympy.Max, lambda *a: sympy.Max(*a), np.maximum, aten.maximum.default, -1),
        Op("min", sympy.Min, lambda *a: sympy.Min(*a), np.minimum, aten.minimum.default, -1),
    ]
}
_BY_TYPE: dict[type, Op] = {op.sympy_type: op for op in OPS.values() if op.sympy_type is not None}
# The helper aten ops the lowering uses besides the table (subtraction, division, powers).
HELPER_ATEN = (
    aten.sub.Tensor, aten.div.Tensor, aten.neg.default, aten.reciprocal.default, aten.sqrt.default,
    aten.rsqrt.default, aten.pow.Tensor_Scalar, aten.pow.Scalar, aten.full_like.default,
    aten.select.int, aten.stack.default, aten.unsqueeze.default, aten.sigmoid.default,
)


def op_of(expr: sympy.Expr) -> Op:
    """The table entry of a non-leaf sympy node; unsupported nodes are an error."""
    for cls in type(expr).__mro__:
        op = _BY_TYPE.get(cls)
        if op is not None:
            return op
    raise ValueError(f"symfx cannot lower sympy node {type(expr).__name__} ({expr}); supported: {sorted(OPS)}")


def complexity(expr: sympy.Expr) -> int:
    """Node count of the expression tree: the one complexity measure all engines are judged by."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


def round_expr(expr: sympy.Expr, digits: int = 4) -> sympy.Expr:
    """The expression with floats shown to ``digits`` significant digits (for reports)."""
    return expr.xreplace({n: sympy.Float(n, digits) for n in expr.atoms(sympy.Float)})


# ---------------------------------------------------------------------------
# evaluation (numpy or torch), memoised per sub-expression
# ---------------------------------------------------------------------------

def _torch_fn(op: Op) -> Callable[..., Any]:
    # eager torch evaluation goes through the same aten overloads that lowering emits
    if op.arity == -1:
        def nary(*args: Any) -> Any:
            out = args[0]
            for arg in args[1:]:
                out = _call_binary(op.aten, out, arg)
            return out
        return nary
    if op.name == "pow":
        return lambda base, exponent: _pow_torch(base, exponent)
    return op.aten


def _call_binary(fn: Any, a: Any, b: Any) -> Any:
    if not isinstance(a, torch.Tensor):
        a, b = b, a  # all binary table ops that are n-ary are commutative
    if not isinstance(a, torch.Tensor):
        return fn(torch.tensor(a), b).item()
    return fn(a, b)


def _pow_torch(base: Any, exponent: Any) -> Any:
    if isinstance(base, torch.Tensor) and not isinstance(exponent, torch.Tensor):
        return aten.pow.Tensor_Scalar(base, exponent)
    if not isinstance(base, torch.Tensor):
        return aten.pow.Scalar(base, exponent)
    return aten.pow.Tensor_Tensor(base, exponent)


def evaluate(expr: sympy.Expr, env: Mapping[sympy.Symbol, Any], *, backend: str = "numpy") -> Any:
    """Evaluate ``expr`` with symbols bound to arrays (numpy) or tensors (torch).

    Uses the same table as lowering, so a test that evaluates an equation checks
    the operators that the rewritten graph will run.
    """
    cache: dict[sympy.Expr, Any] = {}

    def walk(node: sympy.Expr) -> Any:
        hit = cache.get(node)
        if hit is not None:
            return hit
        if isinstance(node, sympy.Symbol):
            value = env[node]
        elif node.is_Number or node in (sympy.pi, sympy.E) or isinstance(node, sympy.NumberSymbol):
            value = float(node)
        else:
            op = op_of(node)
            args = [walk(arg) for arg in node.args]
            if backend == "numpy":
                if op.name == "erf":
                    value = _np_erf(args[0])
                else:
                    fn = op.numpy
                    value = args[0]
                    if op.arity == -1:
                        for arg in args[1:]:
                            value = fn(value, arg)
                    else:
                        value = fn(*args)
            else:
                value = _torch_fn(op)(*args)
        cache[node] = value
        return value

    return walk(sympy.sympify(expr) if not isinstance(expr, sympy.Basic) else expr)


def _np_erf(x: Any) -> Any:
    return torch.erf(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()


def evaluate_columns(
    exprs: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol], X: np.ndarray
) -> np.ndarray:
    """Evaluate each expression on the rows of ``X`` (columns bound to ``symbols``), float64."""
    X = np.asarray(X, dtype=np.float64)
    env = {sym: X[:, i] for i, sym in enumerate(symbols)}
    out = np.empty((X.shape[0], len(exprs)), dtype=np.float64)
    for j, expr in enumerate(exprs):
        out[:, j] = np.broadcast_to(np.asarray(evaluate(expr, env), dtype=np.float64), (X.shape[0],))
    return out


# ---------------------------------------------------------------------------
# lowering to FX call_function nodes on torch.ops.aten
# ---------------------------------------------------------------------------

class _Emitter:
    """Emits aten nodes for sympy expressions into an fx.Graph, sharing equal sub-trees."""

    def __init__(self, graph: torch.fx.Graph, env: Mapping[sympy.Symbol, torch.fx.Node]):
        self.graph = graph
        self.env = dict(env)
        self.memo: dict[sympy.Expr, Any] = {}
        self.like = next(iter(self.env.values())) if self.env else None

    def call(self, target: Any, *args: Any) -> torch.fx.Node:
        return self.graph.call_function(target, tuple(args))

    def tensor(self, value: Any) -> torch.fx.Node:
        # a pure constant still has to be a tensor of the output's shape
        if isinstance(value, torch.fx.Node):
            return value
        if self.like is None:
            raise ValueError("cannot lower a constant expression without any input variable")
        return self.call(aten.full_like.default, self.like, float(value))

    def emit(self, node: sympy.Expr) -> Any:
        if node in self.memo:
            return self.memo[node]
        value = self._emit(node)
        self.memo[node] = value
        return value

    def _emit(self, node: sympy.Expr) -> Any:
        if isinstance(node, sympy.Symbol):
            return self.env[node]
        if node.is_Number or isinstance(node, sympy.NumberSymbol):
            return float(node)
        if isinstance(node, sympy.Add):
            return self._emit_add(node)
        if isinstance(node, sympy.Mul):
            return self._emit_mul(node)
        if isinstance(node, sympy.Pow):
            return self._emit_pow(node.base, node.exp)
        op = op_of(node)
        args = [self.emit(arg) for arg in node.args]
        if op.arity == -1:
            out = self.tensor(args[0])
            for arg in args[1:]:
                out = self.call(op.aten, out, self.tensor(arg))
            return out
        return self.call(op.aten, *[self.tensor(a) for a in args])

    def _emit_add(self, node: sympy.Add) -> Any:
        positive, negative, constant = [], [], 0.0
        for term in node.args:
            if term.is_Number:
                constant += float(term)
                continue
            coeff, rest = term.as_coeff_Mul()
            if coeff.is_negative:
                negative.append(self.emit(-coeff * rest))
            else:
                positive.append(self.emit(term))
        out: Any = positive[0] if positive else None
        for term in positive[1:]:
            out = self.call(aten.add.Tensor, out, term)
        for term in negative:
            out = self.call(aten.neg.default, term) if out is None else self.call(aten.sub.Tensor, out, term)
        if constant != 0.0:
            out = self.call(aten.add.Tensor, out, constant)
        return out

    def _emit_mul(self, node: sympy.Mul) -> Any:
        coeff, numer, denom = 1.0, [], []
        for factor in node.args:
            if factor.is_Number or isinstance(factor, sympy.NumberSymbol):
                coeff *= float(factor)  # fold every numeric factor (pi too) into one scalar
            elif isinstance(factor, sympy.Pow) and factor.exp.is_Number and factor.exp.is_negative:
                denom.append(self.emit(sympy.Pow(factor.base, -factor.exp)))
            else:
                numer.append(self.emit(factor))
        out: Any = numer[0] if numer else None
        for factor in numer[1:]:
            out = self.call(aten.mul.Tensor, out, factor)
        if out is None:
            out = coeff
            coeff = 1.0
            if denom:
                out = self.call(aten.reciprocal.default, denom[0]) if out == 1.0 else self.call(
                    aten.mul.Tensor, self.call(aten.reciprocal.default, denom[0]), out)
                denom = denom[1:]
        for factor in denom:
            out = self.call(aten.div.Tensor, out, factor)
        if coeff == -1:
            out = self.call(aten.neg.default, out)
        elif coeff != 1:
            out = self.call(aten.mul.Tensor, out, float(coeff))
        return out

    def _emit_pow(self, base: sympy.Expr, exponent: sympy.Expr) -> Any:
        if base == sympy.E:
            return self.call(aten.exp.default, self.tensor(self.emit(exponent)))
        if exponent.is_Number:
            e = float(exponent)
            b = self.tensor(self.emit(base))
            if e == 2:
                return self.call(aten.mul.Tensor, b, b)
            if e == 3:
                return self.call(aten.mul.Tensor, self.call(aten.mul.Tensor, b, b), b)
            if e == 0.5:
                return self.call(aten.sqrt.default, b)
            if e == -0.5:
                return self.call(aten.rsqrt.default, b)
            if e == -1:
                return self.call(aten.reciprocal.default, b)
            if e == -2:
                return self.call(aten.reciprocal.default, self.call(aten.mul.Tensor, b, b))
            return self.call(aten.pow.Tensor_Scalar, b, e)
        exp_node = self.tensor(self.emit(exponent))
        if base.is_Number:
            return self.call(aten.pow.Scalar, float(base), exp_node)
        return self.call(aten.pow.Tensor_Tensor, self.tensor(self.emit(base)), exp_node)


def emit_exprs(
    graph: torch.fx.Graph,
    exprs: Sequence[sympy.Expr],
    env: Mapping[sympy.Symbol, torch.fx.Node],
) -> list[torch.fx.Node]:
    """Append aten nodes computing ``exprs`` to ``graph`` (at its insertion point).

    Common sub-expressions across all outputs (``sympy.cse``) are emitted once.
    Returns one tensor-valued node per expression.
    """
    replacements, reduced = sympy.cse(list(exprs), optimizations=None)
    emitter = _Emitter(graph, env)
    for sym, sub in replacements:
        emitter.env[sym] = emitter.tensor(emitter.emit(sub))
    return [emitter.tensor(emitter.emit(expr)) for expr in reduced]


# ---------------------------------------------------------------------------
# safe tree form (for saved files): nested lists of table names, numbers and variables
# ---------------------------------------------------------------------------

def to_tree(expr: sympy.Expr) -> Any:
    """A JSON-able tree: ``["op", arg, ...]``, ``{"var": name}`` or a float."""
    if isinstance(expr, sympy.Symbol):
        return {"var": expr.name}
    if expr.is_Number or isinstance(expr, sympy.NumberSymbol):
        if isinstance(expr, sympy.Rational) and not isinstance(expr, sympy.Integer):
            return ["div", int(expr.p), int(expr.q)]
        if isinstance(expr, sympy.Integer):
            return int(expr)
        if expr == sympy.pi:
            return {"const": "pi"}
        if expr == sympy.E:
            return {"const": "E"}
        return float(expr)
    op = op_of(expr)
    return [op.name, *[to_tree(arg) for arg in expr.args]]


MAX_TREE_DEPTH = 64
MAX_TREE_NODES = 10_000
MAX_ABS_CONSTANT = 1e300


def from_tree(tree: Any, variables: Sequence[str]) -> sympy.Expr:
    """Build a sympy expression from :func:`to_tree` output, checking everything.

    Raises ``ValueError`` for unknown ops, wrong arity, names that are not
    variables, non-finite or huge numbers, too deep or too large trees.
    """
    symbols = {name: sympy.Symbol(name) for name in variables}
    count = 0

    def build(node: Any, depth: int) -> sympy.Expr:
        nonlocal count
        count += 1
        if count > MAX_TREE_NODES:
            raise ValueError(f"expression has more than {MAX_TREE_NODES} nodes")
        if depth > MAX_TREE_DEPTH:
            raise ValueError(f"expression nests deeper than {MAX_TREE_DEPTH}")
        if isinstance(node, bool):
            raise ValueError("booleans are not numbers here")
        if isinstance(node, int):
            if abs(node) > 2**53:
                raise ValueError(f"integer {node} is too large")
            return sympy.Integer(node)
        if isinstance(node, float):
            if not math.isfinite(node) or abs(node) > MAX_ABS_CONSTANT:
                raise ValueError(f"constant {node!r} is not a finite number of sane size")
            return sympy.Float(node)
        if isinstance(node, dict):
            if set(node) == {"var"} and isinstance(node["var"], str):
                if node["var"] not in symbols:
                    raise ValueError(f"{node['var']!r} is not one of the variables {list(variables)}")
                return symbols[node["var"]]
            if set(node) == {"const"} and node["const"] in ("pi", "E"):
                return sympy.pi if node["const"] == "pi" else sympy.E
            raise ValueError(f"unknown leaf {str(node)[:80]!r}")
        if isinstance(node, list) and node and isinstance(node[0], str):
            name, args = node[0], node[1:]
            if name == "div" and len(args) == 2 and all(type(a) is int for a in args):
                if args[1] == 0 or max(abs(args[0]), abs(args[1])) > 2**53:
                    raise ValueError(f"bad rational {args}")
                return sympy.Rational(args[0], args[1])
            op = OPS.get(name)
            if op is None:
                raise ValueError(f"unknown operator {name!r}; allowed: {sorted(OPS)}")
            if (op.arity == -1 and len(args) < 2) or (op.arity > 0 and len(args) != op.arity):
                raise ValueError(f"operator {name!r} takes {op.arity if op.arity > 0 else '2+'} arguments, got {len(args)}")
            built = [build(arg, depth + 1) for arg in args]
            if name == "pow" and built[1].is_Number and abs(float(built[1])) > 64:
                raise ValueError(f"exponent {built[1]} is out of range")
            return op.build(*built)
        raise ValueError(f"malformed expression node {str(node)[:80]!r}")

    return build(tree, 0)
