"""Equation trees: sympy <-> a JSON-able nested list, bounded and checked.

The one codec shared by the saved-file format (``serialize``) and the on-disk caches
(``store``): ``["op", arg, ...]`` with operator names from :data:`symfx.lowering.OPS`,
``{"var": name}``, ``{"const": "pi"|"E"}``, ``["div", p, q]`` (an exact rational) or a number.
Reading never calls ``eval``/``sympify``; every bound below is enforced on the way in.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import sympy

from .lowering import OPS, Op, op_of


MAX_TREE_DEPTH = 64
MAX_TREE_NODES = 10_000
MAX_ABS_CONSTANT = 1e300
MAX_EXACT_INT = 2**53
MAX_POW_EXPONENT = 64
MAX_NARY_ARGS = 256
# sympy computes with exact rationals; bound their size so that a small file cannot make
# it multiply million-digit integers (pow(pow(pow(10, 64), 64), 64) and the like).
MAX_EXACT_BITS = 2048
_NOT_REAL = (sympy.zoo, sympy.oo, sympy.S.NegativeInfinity, sympy.nan, sympy.I)


def to_tree(expr: sympy.Expr) -> Any:
    """A JSON-able tree: ``["op", arg, ...]``, ``{"var": name}``, ``{"const": "pi"|"E"}``,
    ``["div", p, q]`` (an exact rational) or a number.

    Raises ``ValueError`` for what :func:`from_tree` would refuse to read back
    (non-finite or huge numbers, nodes outside the table), so nothing unreadable is written.
    """
    if isinstance(expr, sympy.Symbol):
        return {"var": expr.name}
    if expr.is_Number or isinstance(expr, sympy.NumberSymbol):
        if expr in _NOT_REAL or not expr.is_finite:
            raise ValueError(f"constant {expr} is not a finite real number")
        if expr == sympy.pi:
            return {"const": "pi"}
        if expr == sympy.E:
            return {"const": "E"}
        if isinstance(expr, sympy.Rational) and max(abs(int(expr.p)), int(expr.q)) <= MAX_EXACT_INT:
            return int(expr.p) if expr.q == 1 else ["div", int(expr.p), int(expr.q)]
        value = float(expr)  # big exact numbers and other constants (EulerGamma, ...) as floats
        if not math.isfinite(value) or abs(value) > MAX_ABS_CONSTANT:
            raise ValueError(f"constant {expr} is out of range (|c| <= {MAX_ABS_CONSTANT:g})")
        return value
    op = op_of(expr)
    return [op.name, *[to_tree(arg) for arg in expr.args]]


def _exact_bits(expr: sympy.Expr) -> int | None:
    """Bits of an exact rational (numerator + denominator); None for anything else."""
    if isinstance(expr, sympy.Rational):
        return int(expr.p).bit_length() + int(expr.q).bit_length()
    return None


def _fold(op: Op, values: Sequence[float]) -> float:
    """The float64 value of a constant node, computed with the table's numpy functions."""
    if op.name == "erf":
        return math.erf(values[0])
    if op.arity == -1:
        out = np.float64(values[0])
        for v in values[1:]:
            out = op.numpy(out, np.float64(v))
        return float(out)
    return float(op.numpy(*[np.float64(v) for v in values]))


def brief_repr(node: Any) -> str:
    """A short repr of a (possibly huge or deep) JSON value for error messages, in bounded time."""
    import reprlib

    brief = reprlib.Repr()
    brief.maxlevel, brief.maxlist, brief.maxdict, brief.maxstring, brief.maxother = 3, 4, 3, 40, 40
    return brief.repr(node)


def _check_exact_size(expr: sympy.Expr, name: str) -> None:
    """Refuse a node where sympy's evaluation made a big exact number (it keeps numeric
    coefficients at most two levels down, e.g. 2*(x + 1) -> 2*x + 2), so the next op never
    starts from one."""
    near = [expr, *expr.args, *(a for arg in expr.args if arg.is_Mul or arg.is_Pow for a in arg.args)]
    for sub in near:
        bits = _exact_bits(sub)
        if bits is not None and bits > MAX_EXACT_BITS:
            raise ValueError(f"{name}(...) makes an exact number of {bits} bits")


def from_tree(tree: Any, variables: Sequence[str]) -> sympy.Expr:
    """Build a sympy expression from :func:`to_tree` output, checking everything.

    Raises ``ValueError`` for unknown ops, wrong arity, names that are not
    variables, non-finite or huge numbers, too deep or too large trees, constant
    sub-expressions that are not finite reals (``log(0)``, ``asin(2)``), and results
    the lowering cannot compute. Never calls ``eval``/``sympify``: sympy nodes are
    built from the table's constructors only, and every constant sub-tree is first
    evaluated in float64 so that sympy never sees a runaway exact computation.
    """
    if isinstance(variables, str):
        raise ValueError("variables must be a sequence of names, not one string")
    symbols = {name: sympy.Symbol(name) for name in variables}
    count = 0

    # returns the expression and, for a constant sub-tree, its float64 value (else None)
    def build(node: Any, depth: int) -> tuple[sympy.Expr, float | None]:
        nonlocal count
        count += 1
        if count > MAX_TREE_NODES:
            raise ValueError(f"expression has more than {MAX_TREE_NODES} nodes")
        if depth > MAX_TREE_DEPTH:
            raise ValueError(f"expression nests deeper than {MAX_TREE_DEPTH}")
        if isinstance(node, bool):
            raise ValueError("booleans are not numbers here")
        if isinstance(node, int):
            if abs(node) > MAX_EXACT_INT:
                raise ValueError(f"integer {node} is too large (|n| <= 2**53)")
            return sympy.Integer(node), float(node)
        if isinstance(node, float):
            if not math.isfinite(node) or abs(node) > MAX_ABS_CONSTANT:
                raise ValueError(f"constant {node!r} is not a finite number of sane size")
            return sympy.Float(node), node
        if isinstance(node, dict):
            if set(node) == {"var"} and isinstance(node["var"], str):
                if node["var"] not in symbols:
                    raise ValueError(f"{node['var'][:80]!r} is not one of the variables {list(variables)}")
                return symbols[node["var"]], None
            if set(node) == {"const"} and node["const"] in ("pi", "E"):
                return (sympy.pi, math.pi) if node["const"] == "pi" else (sympy.E, math.e)
            raise ValueError(f"unknown leaf {brief_repr(node)}")
        if isinstance(node, list) and node and isinstance(node[0], str):
            name, args = node[0], node[1:]
            if name == "div":
                if len(args) == 2 and all(type(a) is int for a in args):
                    if args[1] <= 0 or max(abs(args[0]), args[1]) > MAX_EXACT_INT:
                        raise ValueError(f"bad rational {args} (positive denominator, |p|, q <= 2**53)")
                    return sympy.Rational(args[0], args[1]), args[0] / args[1]
                raise ValueError("'div' takes two integers (an exact rational)")
            op = OPS.get(name)
            if op is None:
                raise ValueError(f"unknown operator {name[:80]!r}; allowed: {sorted(OPS)}")
            if (op.arity == -1 and not 2 <= len(args) <= MAX_NARY_ARGS) or (op.arity > 0 and len(args) != op.arity):
                want = op.arity if op.arity > 0 else f"2..{MAX_NARY_ARGS}"
                raise ValueError(f"operator {name!r} takes {want} arguments, got {len(args)}")
            built = [build(arg, depth + 1) for arg in args]
            exprs = [b[0] for b in built]
            values = [b[1] for b in built]
            if name == "pow" and values[1] is not None and abs(values[1]) > MAX_POW_EXPONENT:
                raise ValueError(f"exponent {exprs[1]} is out of range (|e| <= {MAX_POW_EXPONENT})")
            value = None
            if all(v is not None for v in values):
                value = _fold(op, values)  # checked before sympy computes it exactly
                if not math.isfinite(value) or abs(value) > MAX_ABS_CONSTANT or 0 < abs(value) < 1 / MAX_ABS_CONSTANT:
                    raise ValueError(f"constant sub-expression {name}(...) is not a finite real number of sane size")
                bits = [_exact_bits(e) for e in exprs]
                if all(b is not None for b in bits):
                    scale = abs(float(exprs[1])) if name == "pow" else 1.0
                    if (sum(bits) if name != "pow" else bits[0] * scale) > MAX_EXACT_BITS:
                        raise ValueError(f"exact constant in {name}(...) needs more than {MAX_EXACT_BITS} bits")
            try:
                if name == "mul" and len(exprs) == 2 and exprs[0].is_Number and isinstance(exprs[1], sympy.Add):
                    # a number times a sum, as written (-(x0 + log(x0) + 5)): evaluated, sympy
                    # distributes it, a larger writing, and a fit read from the cache chose otherwise
                    expr = sympy.Mul(*exprs, evaluate=False)
                else:
                    expr = op.build(*exprs)
            except (TypeError, ValueError, ArithmeticError) as exc:  # sympy refusing, e.g. Max of non-comparables
                raise ValueError(f"sympy cannot build {name}(...): {str(exc)[:120]}") from None
            _check_exact_size(expr, name)
            return expr, value
        raise ValueError(f"malformed expression node {brief_repr(node)}")

    expr = build(tree, 0)[0]
    if expr.has(*_NOT_REAL):
        raise ValueError("expression is not a finite real function (it holds I, zoo, oo or nan)")
    # sympy may have combined small exact numbers into big ones (10**64 * 10**64) or floats out of
    # float64 range; refuse what to_tree could not write back exactly
    for power in expr.atoms(sympy.Pow):  # sympy combines exponents: pow(pow(x, 64), 64) is x**4096
        if power.exp.is_Number and abs(float(power.exp)) > MAX_POW_EXPONENT:
            raise ValueError(f"exponent {power.exp} is out of range (|e| <= {MAX_POW_EXPONENT})")
    for atom in expr.atoms(sympy.Number):
        if isinstance(atom, sympy.Rational):
            if max(abs(int(atom.p)), int(atom.q)) > MAX_EXACT_INT:
                raise ValueError(f"exact number of {int(atom.p).bit_length() + int(atom.q).bit_length()} bits "
                                 "(|p|, q <= 2**53)")
        elif isinstance(atom, sympy.Float):
            value = float(atom)
            if not math.isfinite(value) or abs(value) > MAX_ABS_CONSTANT or sympy.Float(value) != atom:
                raise ValueError("a constant is out of float64 range")
    for sub in sympy.preorder_traversal(expr):
        if sub.args and not sub.is_Number and not isinstance(sub, sympy.NumberSymbol):
            op_of(sub)  # raises if sympy rewrote it into something the lowering cannot compute
    return expr
