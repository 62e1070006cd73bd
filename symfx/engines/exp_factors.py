"""Equivalent writings of ``c*exp(u)`` with the factor folded into the exponent: ``exp(u + ln c)``.

A constant factor of an exponential is a shift of its argument. When the shift is the simple
number, the factor is not: a 1 % network of ``exp(4 - x0)`` was fitted as ``54.6*exp(-x0)``,
which snapped to ``55*exp(-x0)`` (0.7 % off the law, left neural); ``ln 54.6`` is ``4.000``. The
knee snap (``readable.knee_snapped``) tries this writing beside the member's own, as it does the
moved phases of ``shifted_phases``; the value is unchanged, and the knee rule decides.
"""
from __future__ import annotations

import math

import sympy

from .snap import distance_to_simple

#: a folded exponent is tried within this distance of a simple fraction (an exponent off by d is a
#: factor off by a relative d: a 3 % network moves it by a few hundredths)
NEAR = 0.05


def exp_forms(expr: sympy.Expr) -> list[sympy.Expr]:
    """``expr`` with the number multiplying one ``exp(u)`` folded into ``u``'s constant, where the
    folded constant is within ``NEAR`` of a simple fraction. A product of two exponentials is
    sympy's one ``exp`` already; a factor of several other terms is a scale (``forms.rescalings``)."""
    out: list[sympy.Expr] = []
    for node in dict.fromkeys(n for n in sympy.preorder_traversal(expr) if isinstance(n, sympy.Mul)):
        coeff, rest = node.as_coeff_Mul()
        exps = [f for f in sympy.Mul.make_args(rest) if isinstance(f, sympy.exp)]
        if not coeff.is_Number or abs(coeff) in (0, 1) or len(exps) != 1:
            continue
        shift, u = exps[0].args[0].as_coeff_Add()
        folded = float(shift) + math.log(abs(float(coeff)))
        if distance_to_simple(folded) > NEAR:
            continue
        # unevaluated, or sympy splits the float back out as a factor (exp(4.0 - x0) is
        # 54.598*exp(-x0)); an exact value substituted by the snap stays inside (exp(4 - x0))
        others = [f for f in sympy.Mul.make_args(rest) if f is not exps[0]]
        others += [sympy.Integer(-1)] if coeff < 0 else []
        with sympy.evaluate(False):
            moved = sympy.exp(sympy.Add(u, sympy.Float(folded)))
            out.append(expr.xreplace({node: sympy.Mul(*others, moved)}))
    return out
