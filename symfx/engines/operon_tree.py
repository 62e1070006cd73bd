"""Operon's expression trees and sympy, both ways: the genetic stage's members read back for polishing,
and the fast pass's members seeded into its population."""
from __future__ import annotations

from typing import Any, Sequence

import sympy

from ..lowering import SEARCH_OPS, UNARY_SEARCH_OPS

# Operon's unary node names → sympy, from the same table (its binary nodes are + - * / pow)
_OPERON_UNARY = {name: SEARCH_OPS[name].build for name in UNARY_SEARCH_OPS}


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
    if kind in _OPERON_UNARY:
        return _OPERON_UNARY[kind](args[0])
    if kind == "pow":
        return args[0] ** args[1]
    if kind == "aq":  # analytic quotient
        return args[0] / sympy.sqrt(1 + args[1] ** 2)
    raise ValueError(f"unsupported Operon node {kind!r}")


#: the search operators that are one sympy function (exp, log, sin, ...), by that function, from the
#: one operator table (sqrt and square are powers in sympy)
_NODE_OF_FUNCTION = {op.build: name for name, op in SEARCH_OPS.items() if op.arity == 1 and isinstance(op.build, type)}


def sympy_to_tree(expr: sympy.Expr, name_to_hash: dict[str, int], allowed: frozenset[str], max_length: int) -> Any:
    """An Operon tree computing ``expr`` (a fast-pass member seeded into the genetic stage), or None
    where ``expr`` needs a symbol Operon does not see, an operator outside ``allowed`` (search
    operator names) or more than ``max_length`` nodes. Postfix: a node's first child sits right
    before it, so ``a - b`` is ``[b, a, sub]``."""
    import pyoperon as op

    makers = {"add": op.Node.Add, "sub": op.Node.Sub, "mul": op.Node.Mul, "div": op.Node.Div, "pow": op.Node.Pow,
              "square": op.Node.Square, "sqrt": op.Node.Sqrt, "exp": op.Node.Exp, "log": op.Node.Log,
              "sin": op.Node.Sin, "cos": op.Node.Cos, "tanh": op.Node.Tanh}

    class Unsupported(Exception):
        pass

    def node(name: str) -> Any:
        if name not in allowed or name not in makers:
            raise Unsupported(name)
        return makers[name]()

    def binary(name: str, first: list, second: list) -> list:
        return second + first + [node(name)]

    def chain(name: str, parts: list[list]) -> list:
        out = parts[0]
        for part in parts[1:]:
            out = binary(name, out, part)
        return out

    def power(base: list, exponent: sympy.Expr) -> list:
        if exponent == 1:
            return base
        if exponent == 2 and "square" in allowed:
            return base + [node("square")]
        if exponent == sympy.Rational(1, 2):
            return base + [node("sqrt")]
        if exponent.is_Integer and 1 < exponent <= 4:
            return chain("mul", [base] * int(exponent))
        if exponent.is_negative and (exponent.is_Integer or exponent == sympy.Rational(-1, 2)):
            return binary("div", [op.Node.Constant(1.0)], power(base, -exponent))
        if exponent == sympy.Rational(3, 2):
            return binary("mul", base, base + [node("sqrt")])
        return binary("pow", base, walk(exponent))

    def walk(e: sympy.Expr) -> list:
        if e.is_Symbol:
            if str(e) not in name_to_hash:
                raise Unsupported(str(e))
            leaf = op.Node.Variable(1.0)
            leaf.HashValue = name_to_hash[str(e)]
            return [leaf]
        if e.is_number:
            value = complex(e)
            if value.imag != 0:
                raise Unsupported(str(e))
            return [op.Node.Constant(value.real)]
        if e.is_Add:  # the negated terms subtracted: x0 - x1 is 3 nodes, not 5
            plus = [a for a in e.args if not a.could_extract_minus_sign()] or [e.args[0]]
            out = chain("add", [walk(a) for a in plus])
            for a in e.args:
                if a not in plus:
                    out = binary("sub", out, walk(-a))
            return out
        if e.is_Mul:  # the factors with negative exponents divide: x0/x1 is 3 nodes
            over = [a for a in e.args if a.is_Pow and a.exp.is_negative]
            top = [walk(a) for a in e.args if a not in over] or [[op.Node.Constant(1.0)]]
            out = chain("mul", top)
            return binary("div", out, chain("mul", [power(walk(a.base), -a.exp) for a in over])) if over else out
        if e.is_Pow:
            return power(walk(e.base), e.exp)
        name = _NODE_OF_FUNCTION.get(e.func)
        if name is None or len(e.args) != 1:
            raise Unsupported(type(e).__name__)
        return walk(e.args[0]) + [node(name)]

    try:
        nodes = walk(sympy.sympify(expr))
    except (Unsupported, TypeError, ValueError):
        return None
    if len(nodes) > max_length:
        return None
    return op.Tree(nodes).UpdateNodes()


def names_by_hash(reg, names: list[str]) -> dict[int, str]:
    """A fitted regressor's input hashes -> our column names (its ``variables_`` maps each hash to
    X1..Xk, 1-based, in column order)."""
    return {h: names[int(n[1:]) - 1] for h, n in reg.variables_.items()}


def seed_population(reg, seeds: Sequence[sympy.Expr], hash_to_name: dict[int, str], allowed: Sequence[str],
                    max_length: int, population: int) -> int:
    """Replace the last (weakest, after Operon's keep-best reinsertion) parents of a fitted
    regressor with the trees of ``seeds``; returns how many were seeded."""
    name_to_hash = {name: h for h, name in hash_to_name.items()}
    trees = [t for t in (sympy_to_tree(e, name_to_hash, frozenset(allowed), max_length) for e in seeds)
             if t is not None]
    trees = trees[:max(0, population // 4)]
    for k, tree in enumerate(trees):
        reg.individuals_[population - 1 - k].Genotype = tree
    return len(trees)
