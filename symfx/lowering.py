"""sympy ⇄ torch: the single table that maps one to the other.

Everything that turns an equation into computation goes through ``OPS``:
lowering to ``torch.ops.aten`` FX nodes (rewrite), evaluation on numpy or torch
arrays (fit selection, tests), and the safe tree format of saved files
(serialize). Nothing here calls ``eval``, ``exec``, ``lambdify`` or ``sympify``
on text.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import sympy

if TYPE_CHECKING:
    import torch


class _Aten:
    """``torch.ops.aten``, resolved on first use: fit workers and engines use the table's numpy
    side only, and a worker that never imports torch starts ~2 s sooner (a quarter of a small job)."""

    def __getattr__(self, name: str) -> Any:  # called only for names not resolved yet
        import torch

        packet = getattr(torch.ops.aten, name)
        setattr(self, name, packet)
        return packet


aten = _Aten()


@dataclass(frozen=True)
class Op:
    """One operator: its saved name, how sympy builds it, how numpy and torch compute it."""

    name: str
    sympy_type: type | None
    build: Callable[..., sympy.Expr]
    numpy: Callable[..., Any]
    aten_name: str  # the torch.ops.aten overload used when lowering to FX, e.g. "add.Tensor"
    arity: int  # -1: n-ary (two or more)

    @functools.cached_property
    def aten(self) -> Any:
        packet, overload = self.aten_name.split(".")
        return getattr(getattr(aten, packet), overload)


def _np_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args)

    call.raw = fn  # type: ignore[attr-defined]  # evaluate() holds one errstate for the whole walk
    return call


# The table. Order does not matter; names are the on-disk vocabulary.
OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("add", sympy.Add, lambda *a: sympy.Add(*a), _np_safe(np.add), "add.Tensor", -1),
        Op("mul", sympy.Mul, lambda *a: sympy.Mul(*a), _np_safe(np.multiply), "mul.Tensor", -1),
        Op("pow", sympy.Pow, sympy.Pow, _np_safe(np.power), "pow.Tensor_Tensor", 2),
        Op("exp", sympy.exp, sympy.exp, _np_safe(np.exp), "exp.default", 1),
        Op("log", sympy.log, sympy.log, _np_safe(np.log), "log.default", 1),
        Op("sin", sympy.sin, sympy.sin, _np_safe(np.sin), "sin.default", 1),
        Op("cos", sympy.cos, sympy.cos, _np_safe(np.cos), "cos.default", 1),
        Op("tan", sympy.tan, sympy.tan, _np_safe(np.tan), "tan.default", 1),
        Op("tanh", sympy.tanh, sympy.tanh, _np_safe(np.tanh), "tanh.default", 1),
        Op("sinh", sympy.sinh, sympy.sinh, _np_safe(np.sinh), "sinh.default", 1),
        Op("cosh", sympy.cosh, sympy.cosh, _np_safe(np.cosh), "cosh.default", 1),
        Op("asin", sympy.asin, sympy.asin, _np_safe(np.arcsin), "asin.default", 1),
        Op("acos", sympy.acos, sympy.acos, _np_safe(np.arccos), "acos.default", 1),
        Op("atan", sympy.atan, sympy.atan, _np_safe(np.arctan), "atan.default", 1),
        Op("abs", sympy.Abs, sympy.Abs, np.abs, "abs.default", 1),
        Op("erf", sympy.erf, sympy.erf, None, "erf.default", 1),
        Op("max", sympy.Max, lambda *a: sympy.Max(*a), np.maximum, "maximum.default", -1),
        Op("min", sympy.Min, lambda *a: sympy.Min(*a), np.minimum, "minimum.default", -1),
        # sympy rewrites e.g. Abs(exp(x)) to exp(re(x)) for symbols without assumptions; every
        # value symfx computes is real, so re() is the identity (the emitter skips it).
        Op("re", sympy.re, sympy.re, np.real, "real.default", 1),
    ]
}
_BY_TYPE: dict[type, Op] = {op.sympy_type: op for op in OPS.values() if op.sympy_type is not None}
@dataclass(frozen=True)
class SearchOp:
    """An operator SR engines may build trees with, by its engine-neutral name (``Config.operators``).

    ``table`` is the :data:`OPS` entry sympy represents its result with (``sub`` is an ``add``
    of a negated operand, ``div`` a ``mul`` by an inverse, ``square``/``sqrt`` are ``pow``), so
    everything an engine returns lowers, evaluates and saves through the one table.
    """

    name: str
    arity: int
    table: str
    build: Callable[..., sympy.Expr]


SEARCH_OPS: dict[str, SearchOp] = {
    op.name: op
    for op in [
        SearchOp("add", 2, "add", lambda a, b: a + b),
        SearchOp("sub", 2, "add", lambda a, b: a - b),
        SearchOp("mul", 2, "mul", lambda a, b: a * b),
        SearchOp("div", 2, "mul", lambda a, b: a / b),
        SearchOp("pow", 2, "pow", lambda a, b: a**b),
        SearchOp("square", 1, "pow", lambda a: a**2),
        SearchOp("sqrt", 1, "pow", sympy.sqrt),
        *(SearchOp(name, 1, name, OPS[name].build) for name in ("exp", "log", "sin", "cos", "tanh", "abs")),
    ]
}
assert all(op.table in OPS for op in SEARCH_OPS.values()), "a search operator must lower through OPS"
#: engine-neutral names by arity (engines derive their own spellings from these, under an assert)
UNARY_SEARCH_OPS = frozenset(name for name, op in SEARCH_OPS.items() if op.arity == 1)
BINARY_SEARCH_OPS = frozenset(name for name, op in SEARCH_OPS.items() if op.arity == 2)

def helper_aten() -> tuple[Any, ...]:
    """The aten ops the lowering uses besides the table (subtraction, division, powers)."""
    return (
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


def lowers(expr: sympy.Expr) -> bool:
    """Whether every operation of ``expr`` is in the table (sympy may rewrite into ``sign``, ``re``...)."""
    try:
        for node in sympy.preorder_traversal(expr):
            if node.args and node.free_symbols:
                op_of(node)
    except ValueError:
        return False
    return True


def complexity(expr: sympy.Expr) -> int:
    """Node count of the expression tree: the one complexity measure all engines are judged by.

    A constant is one node however sympy writes it: ``1/sqrt(2*pi)`` (sympy's
    ``sqrt(2)/(2*sqrt(pi))``) costs what ``0.3989`` costs, and the numeric factors of a product
    (terms of a sum) count once together (``2*pi*x`` is a coefficient times x: 3 nodes, as
    ``6.283*x`` is) — lowering folds each to one number anyway.
    """
    if not expr.free_symbols:
        return 1
    consts = [a for a in expr.args if not a.free_symbols]
    shared = isinstance(expr, (sympy.Mul, sympy.Add)) and len(consts) > 1
    return 1 + sum(complexity(a) for a in expr.args if a.free_symbols) + (1 if shared else len(consts))


def constant_value(expr: sympy.Expr) -> float:
    """A constant sub-expression (no free symbols) as a float64; non-real constants are an error.

    Lowering and evaluation fold every constant sub-tree (``pi``, ``2*pi``, ``exp(2)``,
    ``sqrt(2)``) to one float, so no aten op is ever called on a Python number.
    """
    try:
        value = float(expr)
    except TypeError:
        raise ValueError(f"constant {expr} is not a real number") from None
    if not math.isfinite(value):  # zoo, oo, nan: an equation holding one is not usable
        raise ValueError(f"constant {expr} is not a finite real number")
    return value


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
    import torch

    if not isinstance(a, torch.Tensor):
        a, b = b, a  # all binary table ops that are n-ary are commutative
    if not isinstance(a, torch.Tensor):
        return fn(torch.tensor(a, dtype=torch.float64), b).item()  # two Python numbers: exact float64
    if not isinstance(b, torch.Tensor):
        # maximum/minimum take no Python scalars; a 0-d tensor of a's dtype keeps a's dtype
        b = torch.tensor(b, dtype=a.dtype, device=a.device)
    return fn(a, b)


def _pow_torch(base: Any, exponent: Any) -> Any:
    import torch

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
    constant: dict[sympy.Expr, bool] = {}

    def is_constant(node: sympy.Expr) -> bool:  # memoised bottom-up: free_symbols is not cached
        hit = constant.get(node)
        if hit is None:
            hit = all(is_constant(a) for a in node.args) if node.args else not node.free_symbols
            constant[node] = hit
        return hit

    def walk(node: sympy.Expr) -> Any:
        hit = cache.get(node)
        if hit is not None:
            return hit
        if isinstance(node, sympy.Symbol):
            value = env[node]
        elif is_constant(node):
            try:
                value = constant_value(node)
            except ValueError:
                value = math.nan  # a non-real constant is not a usable value
        elif isinstance(node, sympy.re):
            value = walk(node.args[0])  # every value here is real
        else:
            op = op_of(node)
            args = [walk(arg) for arg in node.args]
            if backend == "numpy":
                if op.name == "erf":
                    value = _np_erf(args[0])
                else:
                    fn = getattr(op.numpy, "raw", op.numpy)
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

    root = sympy.sympify(expr) if not isinstance(expr, sympy.Basic) else expr
    if backend != "numpy":
        return walk(root)
    with np.errstate(all="ignore"):
        return walk(root)


def numpy_program(expr: sympy.Expr) -> Callable[[Mapping[sympy.Symbol, Any]], Any]:
    """``expr`` flattened once into a postfix program over numpy: ``program(env)`` equals
    ``evaluate(expr, env)`` but skips the per-call tree walk (about 4x faster on GP-sized trees).

    For one expression evaluated many times with different bindings: least squares over its
    constants calls it tens of times per fit. Shared sub-expressions are computed once per call.
    """
    root = sympy.sympify(expr) if not isinstance(expr, sympy.Basic) else expr
    slots: dict[sympy.Expr, int] = {}
    fixed: dict[int, Any] = {}  # slot -> constant value
    inputs: list[tuple[int, sympy.Symbol]] = []  # slot <- env[symbol]
    steps: list[tuple[int, Callable[..., Any], tuple[int, ...], bool]] = []  # slot, fn, args, fold
    probe = evaluate  # constants and symbols are classified exactly as evaluate does

    def visit(node: sympy.Expr) -> int:
        hit = slots.get(node)
        if hit is not None:
            return hit
        if isinstance(node, sympy.Symbol):
            slot = len(slots)
            inputs.append((slot, node))
        elif not node.free_symbols:
            try:
                value: Any = probe(node, {})
            except ValueError:
                value = math.nan
            slot = len(slots)
            fixed[slot] = value
        elif isinstance(node, sympy.re):
            slot = visit(node.args[0])  # every value here is real
            slots[node] = slot
            return slot
        else:
            op = op_of(node)
            args = tuple(visit(arg) for arg in node.args)
            fn = _np_erf if op.name == "erf" else getattr(op.numpy, "raw", op.numpy)
            slot = len(slots)
            steps.append((slot, fn, args, op.arity == -1))
        slots[node] = slot
        return slot

    out = visit(root)
    size = len(slots)

    def program(env: Mapping[sympy.Symbol, Any]) -> Any:
        values: list[Any] = [None] * size
        for slot, value in fixed.items():
            values[slot] = value
        for slot, symbol in inputs:
            values[slot] = env[symbol]
        with np.errstate(all="ignore"):
            for slot, fn, args, fold in steps:
                if fold:
                    value = values[args[0]]
                    for a in args[1:]:
                        value = fn(value, values[a])
                else:
                    value = fn(*[values[a] for a in args])
                values[slot] = value
        return values[out]

    return program


def _np_erf(x: Any) -> Any:
    import torch

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

    def __init__(self, graph: torch.fx.Graph, env: Mapping[sympy.Symbol, torch.fx.Node], fast_tanh: bool = False):
        self.graph = graph
        self.fast_tanh = fast_tanh
        self.env = dict(env)
        self.memo: dict[sympy.Expr, Any] = {}
        self.like = next(iter(self.env.values())) if self.env else None

    def call(self, target: Any, *args: Any) -> torch.fx.Node:
        return self.graph.call_function(target, tuple(args))

    def tensor(self, value: Any) -> torch.fx.Node:
        import torch.fx

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
        if not node.free_symbols:
            return constant_value(node)
        if isinstance(node, sympy.re):
            return self.emit(node.args[0])  # real inputs: the real part is the value itself
        if isinstance(node, sympy.Add):
            return self._emit_add(node)
        if isinstance(node, sympy.Mul):
            return self._emit_mul(node)
        if isinstance(node, sympy.Pow):
            return self._emit_pow(node.base, node.exp)
        op = op_of(node)
        args = [self.emit(arg) for arg in node.args]
        if op.name == "tanh" and self.fast_tanh:
            # tanh(z) = 2*sigmoid(2z) - 1: Inductor's CPU tanh (Sleef, 1 ulp) is the slow part of an
            # equation; this form is within 1.8e-7 of tanh in float32 and 2-3.7x faster in
            # bench/kernels.py. Only for float32/64 (see emit_exprs).
            z2 = self.call(aten.mul.Tensor, self.tensor(args[0]), 2.0)
            return self.call(aten.sub.Tensor, self.call(aten.mul.Tensor, self.call(aten.sigmoid.default, z2), 2.0), 1.0)
        if op.arity == -1:
            out = self.tensor(args[0])
            for arg in args[1:]:
                out = self.call(op.aten, out, self.tensor(arg))
            return out
        return self.call(op.aten, *[self.tensor(a) for a in args])

    def _emit_add(self, node: sympy.Add) -> Any:
        positive, negative, constant = [], [], 0.0
        for term in node.args:
            if not term.free_symbols:
                constant += constant_value(term)
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
            if not factor.free_symbols:
                coeff *= constant_value(factor)  # fold every constant factor (pi, sqrt(2)) into one scalar
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
            e = constant_value(exponent)
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
            return self.call(aten.pow.Scalar, constant_value(base), exp_node)
        return self.call(aten.pow.Tensor_Tensor, self.tensor(self.emit(base)), exp_node)


def emit_exprs(
    graph: torch.fx.Graph,
    exprs: Sequence[sympy.Expr],
    env: Mapping[sympy.Symbol, torch.fx.Node],
    *,
    fast_tanh: bool = False,
) -> list[torch.fx.Node]:
    """Append aten nodes computing ``exprs`` to ``graph`` (at its insertion point).

    Common sub-expressions across all outputs (``sympy.cse``) are emitted once.
    Returns one tensor-valued node per expression. ``fast_tanh`` lowers ``tanh(z)`` as
    ``2*sigmoid(2z) - 1`` (absolute error ≤ 2e-7 in float32); leave it off for 16-bit
    dtypes, where eager code rounds ``sigmoid`` before the subtraction.
    """
    replacements, reduced = sympy.cse(list(exprs), optimizations=None)
    emitter = _Emitter(graph, env, fast_tanh=fast_tanh)
    for sym, sub in replacements:
        emitter.env[sym] = emitter.tensor(emitter.emit(sub))
    return [emitter.tensor(emitter.emit(expr)) for expr in reduced]
