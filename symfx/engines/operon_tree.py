"""Operon's expression trees as sympy: the genetic stage's members, read back for polishing."""
from __future__ import annotations

from typing import Any

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
