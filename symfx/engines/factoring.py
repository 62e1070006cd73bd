"""A sum's polynomial parts written factored, apart from its other terms.

``sympy.factor`` factors a whole expression over its generators, so a sum with one function term
stays expanded: ``x0*(x1 - 3) - 3*x1 + 2*sin(...) + 9`` has ``sin(...)`` as one more generator, and
``x0 - x1*x2 - x1/2 - 4*x2 - 2`` is irreducible while its part ``-(x1 + 4)*(x2 + 1/2)`` is a
product. An equation's size is its shortest writing (``forms.shortest_written_form``), and a law
is usually shorter, and easier to read, with its parts factored.
"""
from __future__ import annotations

import functools

import sympy


def _scale_into_factor(product: sympy.Expr) -> sympy.Expr:
    """``product``, or its number multiplied into one of its sums where that is shorter:
    ``-(x1 + 4)*(2*x2 + 1)/2`` is ``-(x1 + 4)*(x2 + 1/2)``."""
    from ..lowering import complexity

    number, rest = product.as_coeff_Mul()
    sums = [f for f in sympy.Mul.make_args(rest) if f.is_Add]
    forms = [product] + [sympy.sign(number) * ((rest / f) * sympy.expand(abs(number) * f)) for f in sums]
    return min(forms, key=complexity)


@functools.lru_cache(maxsize=4096)  # the same members come back from the knee snap and the refinements
def factored_parts(expr: sympy.Expr, limit: int, top: bool = True) -> sympy.Expr:
    """``expr`` with each sum's polynomial terms factored apart from its other terms, in groups
    that share no variable (the constant tried with each group), inside function arguments too:
    ``x0*(x1 - 3) - 3*x1 + 2*sin(x0*x1 - 4*x0 - 4*x1 + 16) + 9`` is ``(x0 - 3)*(x1 - 3) +
    2*sin((x0 - 4)*(x1 - 4))``. ``sympy.factor`` of the whole cannot: ``sin(...)`` is one more
    generator, and ``x0 - x1*x2 - 4*x2 - 2`` is irreducible while ``-(x1 + 4)*(x2 + 1/2)`` is a part."""
    from ..lowering import complexity

    args = tuple(factored_parts(a, limit, False) for a in expr.args)
    expr = expr.func(*args) if args != expr.args else expr
    if not isinstance(expr, sympy.Add):
        return expr
    symbols = sorted(expr.free_symbols, key=str)
    constant = [t for t in expr.args if not t.free_symbols]
    poly = [t for t in expr.args if t.free_symbols and t.is_polynomial(*symbols)]
    rest = [t for t in expr.args if t.free_symbols and t not in poly]
    groups: list[tuple[set, list]] = []  # connected by shared variables
    for t in poly:
        joined = [g for g in groups if g[0] & t.free_symbols]
        groups = [g for g in groups if g not in joined]
        groups.append((set(t.free_symbols).union(*[g[0] for g in joined]), [t] + [u for g in joined for u in g[1]]))
    if (top and not rest and len(groups) < 2) or all(len(terms) < 2 for _, terms in groups):
        return expr  # the caller factors a whole polynomial; one term and a constant do not shrink
    best, best_size = expr, complexity(expr)
    for home in range(-1, len(groups)):  # the constant's group (-1: none)
        parts = rest + (constant if home < 0 else [])
        for i, (_, terms) in enumerate(groups):
            part = sympy.Add(*terms, *(constant if i == home else []))
            parts.append(_scale_into_factor(sympy.factor(part)) if complexity(part) <= limit else part)
        written = sympy.Add(*parts)
        size = complexity(written)
        best, best_size = (written, size) if size < best_size else (best, best_size)
    return best
