"""Value-preserving rewrites of an expression, and what counts as a readable constant.

None of these changes what an expression computes (beyond float rounding): they fold redundant
constants into one (:func:`merge_constants`, :func:`readable_coefficients`), write a sum at the
scale where its coefficients are shortest (:func:`shortest_scale`), and pick the cheapest of a
few equivalent forms (:func:`simplest_form`). :mod:`.snap` changes values; this module does not.
"""
from __future__ import annotations

import functools
import math

import sympy

from .base import MAX_DIGITS, mantissa_digits
from .derived import as_real
from .factoring import factored_parts

#: named constants tried as p/q times or over the constant (a law's constants: 1/(4*pi),
#: 1/sqrt(2*pi) of a normal density, sqrt(2) of an rms value, ln 2 of a half-life)
NAMED_CONSTANTS: tuple[sympy.Expr, ...] = (
    sympy.pi, sympy.E, sympy.sqrt(2), sympy.sqrt(sympy.pi), sympy.sqrt(2 * sympy.pi), sympy.log(2),
)


def simple_constant(c: sympy.Expr) -> bool:
    """A readable exact constant: a rational with numerator and denominator below 100 (``3/4``),
    its square root (``sqrt(3)/2``), or such a rational times or over ONE named constant
    (``pi/2``, ``1/sqrt(2*pi)``, ``log(2)/4``); not a product of several
    (``21*exp(-1)/(8*sqrt(pi))``) and not a Float (those :func:`precision` rounds)."""
    def small(r: sympy.Expr) -> bool:
        return bool(r.is_Rational) and abs(r.p) < 100 and r.q < 100

    if small(c):
        return True
    if c.atoms(sympy.Float):
        return False
    return small(c**2) or any(small(c / k**s) for k in NAMED_CONSTANTS for s in (1, -1))


def _with_args_rewritten(expr: sympy.Expr, rewrite) -> sympy.Expr:
    """``expr`` with ``rewrite`` applied to each argument, rebuilt only where one changed."""
    args = [rewrite(a) for a in expr.args]
    if any(new is not old for new, old in zip(args, expr.args)):
        return expr.func(*args)
    return expr


def merge_constants(expr: sympy.Expr) -> sympy.Expr:
    """Fold redundant multiplicative constants into one, so each can snap on its own.

    In a product, a sum factor (or a power of one: ``c*(a + b*x)**2``, a sum in the denominator)
    whose terms all carry numeric coefficients, one of them a ``Float``, is divided by its largest
    coefficient and that coefficient (to the power) moves to the product's own coefficient:
    ``1.033*(7/4 - 0.438*x0)**2`` is ``3.164*(1 - 0.25*x0)**2``, whose ``0.25`` snaps. Operon's
    linear scaling and GP's free constants produce ``0.8606*x0*x1/(0.8606*x0 + 0.8605*x1)`` (= ``x0*x1/(x0 + 0.9999*x1)``) or
    ``30638*m*(-3.729e-6*dx - 5.183e-6*dy)`` (= ``m*(-0.1142*dx - 0.1588*dy)``), whose
    constants cannot snap one at a time. The value of the expression is unchanged.
    """
    if not expr.args or not expr.free_symbols:
        return expr
    expr = _with_args_rewritten(expr, merge_constants)
    if not isinstance(expr, sympy.Mul):
        return expr
    coef = sympy.Integer(1)
    rest = []
    changed = False
    for factor in expr.args:
        base, power = factor.as_base_exp() if isinstance(factor, sympy.Pow) else (factor, sympy.Integer(1))
        if isinstance(base, sympy.Add) and power.is_Rational and power != 0:
            coefs = [t.as_coeff_Mul()[0] for t in base.args]
            # a sum with an exact unit coefficient is at a scale already: no constant is redundant
            # (divided by its largest, ``(x1 - 5/2)**2 + 1.2`` read ``0.833*(x1 - 5/2)**2 + 1``)
            if any(isinstance(c, sympy.Float) for c in coefs) and not any(c in (1, -1) and c.is_Integer
                                                                         for c in coefs):
                k = max(coefs, key=lambda c: abs(float(c)))
                # (k*b)**p = k**p * b**p: for any integer p, for other p only where k > 0
                if k != 0 and k != 1 and (power.is_Integer or k > 0):
                    base = sympy.Add(*[t / k for t in base.args])
                    coef = coef * k**power
                    changed = True
                    rest.append(base**power)
                    continue
        rest.append(factor)
    if not changed:
        return expr
    return sympy.Mul(coef, *rest)


def readable_coefficients(expr: sympy.Expr) -> sympy.Expr:
    """Numeric factors of a product (or terms of a sum) that together are not one simple constant
    (:func:`simple_constant`) become one Float, for :func:`precision` to round: ``27/22``,
    ``21*exp(-1)/(8*sqrt(pi))``, ``0.35*pi``, ``30638``. The value is unchanged."""
    if not expr.args or not expr.free_symbols:
        return expr
    expr = _with_args_rewritten(expr, readable_coefficients)
    if not isinstance(expr, (sympy.Mul, sympy.Add)):
        return expr
    consts = [a for a in expr.args if not a.free_symbols]
    if not consts or (len(consts) == 1 and consts[0].is_Float):
        return expr
    group = expr.func(*consts)
    if simple_constant(group):
        return expr
    rest = [a for a in expr.args if a.free_symbols]
    return expr.func(sympy.Float(float(group)), *rest)


def hyperbolic(expr: sympy.Expr) -> sympy.Expr:
    """Pairs ``c*g*exp(u) + c*g*exp(-u)`` of a sum written ``2*c*g*cosh(u)`` (``2*c*g*sinh(u)`` when
    the second coefficient is ``-c``), with equal exact coefficients. A law's ``cosh(x0)`` comes
    from the linear searches as ``exp(x0)/2 + exp(-x0)/2``: 10 nodes, not 2, and at 10 nodes
    Taylor mimics (``x0**2 + cos(x0)``, equal to 4th order) are shorter. The value is unchanged."""
    if not expr.args or not expr.has(sympy.exp):
        return expr
    expr = _with_args_rewritten(expr, hyperbolic)
    if not isinstance(expr, sympy.Add):
        return expr
    waves: dict[tuple[sympy.Expr, sympy.Expr], tuple[int, sympy.Expr, sympy.Expr]] = {}
    terms = list(expr.args)
    for k, term in enumerate(terms):
        coef, rest = term.as_coeff_Mul()
        factors = sympy.Mul.make_args(rest)
        exps = [f for f in factors if isinstance(f, sympy.exp)]
        if len(exps) != 1 or coef.is_Float:
            continue
        u = exps[0].args[0]
        g = sympy.Mul(*[f for f in factors if f is not exps[0]])  # rest / exp(u) would not cancel
        key = (g, -u if u.could_extract_minus_sign() else u)
        if key not in waves:
            waves[key] = (k, coef, u)
            continue
        j, other, v = waves.pop(key)
        if v == u or abs(other) != abs(coef) or terms[j] is None:
            continue
        plus = coef if not u.could_extract_minus_sign() else other  # the coefficient of exp(+u)
        u = key[1]
        terms[j], terms[k] = None, 2 * plus * g * (sympy.cosh(u) if other == coef else sympy.sinh(u))
    if all(t is not None for t in terms):
        return expr
    return sympy.Add(*[t for t in terms if t is not None])


def simplest_form(expr: sympy.Expr) -> sympy.Expr:
    """The cheapest-to-write of a few equivalent forms (node count), a sign moved into a sum
    included (:func:`sign_into_sum`)."""
    from ..lowering import complexity

    forms = [expr]
    try:
        forms.append(sympy.expand(expr))
        forms.append(sympy.factor_terms(expr))
        # a ratio whose snapped (exact) numerator and denominator share a factor: the null-space
        # rationals find x0*(1 - x0**4)/(1 - x0) for x0**4 + x0**3 + x0**2 + x0, whose removable pole
        # at x0 = 1 would also make it unsafe in the domain check
        if (any(p.exp.is_negative for p in expr.atoms(sympy.Pow)) and complexity(expr) <= 40
                and not expr.atoms(sympy.Float)):
            forms.append(sympy.cancel(expr))
    except Exception:  # sympy occasionally fails on odd trees; the original form is fine
        pass
    forms += [signed for signed in map(sign_into_sum, list(forms)) if signed is not None]
    return folded(min(forms, key=complexity))  # as shortest_written_form's


def sign_into_sum(expr: sympy.Expr) -> sympy.Expr | None:
    """``expr`` with the sign of each negative product moved into one of its sums where that is
    shorter (``-x2*(x0*x3 - sqrt(x1))`` is ``x2*(-x0*x3 + sqrt(x1))``, 12 nodes to 10;
    ``-x0/(x1 - x2)`` is ``x0/(x2 - x1)``); None where nothing is shorter. sympy keeps a product's
    ``-1`` apart from its sums, so a law written with a leading minus was sized two nodes long."""
    from ..lowering import complexity

    def signed(e: sympy.Expr) -> sympy.Expr:
        if not e.args:
            return e
        args = tuple(signed(a) for a in e.args)
        if args != e.args:
            e = e.func(*args)
        if not isinstance(e, sympy.Mul):
            return e
        coef, rest = e.as_coeff_Mul()
        if not (coef.is_Number and coef < 0):
            return e
        factors = sympy.Mul.make_args(rest)
        best, size = e, complexity(e)
        for i, f in enumerate(factors):
            # -S as a sum (sympy distributes a number over a sum); 1/S's sign inside it, (-S)**-k = -(S**-k) for odd k
            if isinstance(f, sympy.Add):
                flipped = -f
            elif f.is_Pow and isinstance(f.base, sympy.Add) and f.exp.is_Integer and f.exp % 2 == 1:
                flipped = (-f.base) ** f.exp
            else:
                continue
            trial = sympy.Mul(-coef, *factors[:i], flipped, *factors[i + 1:])
            if complexity(trial) < size:
                best, size = trial, complexity(trial)
        return best

    out = signed(expr)
    return out if out != expr and complexity(out) < complexity(expr) else None


#: :func:`shortest_written_form` factors exact expressions up to this node count (sympy's factor is
#: the slowest of its forms: ~5-20 ms at 20 nodes, growing fast with the degree)
FACTOR_LIMIT = 40
#: and writes ratios of polynomials in partial fractions up to this node count (up to ~100 ms at 30
#: nodes in three inputs)
APART_LIMIT = 30


def _shared_factors(total: sympy.Add) -> list[sympy.Expr]:
    """The non-numeric factors that two or more terms of ``total`` share (``1/x1`` in
    ``-3*x0/x1 - 15/x1``), most shared first."""
    counts: dict[sympy.Expr, int] = {}
    for term in total.args:
        for f in set(sympy.Mul.make_args(term)):
            if f.free_symbols:
                counts[f] = counts.get(f, 0) + 1
    return [f for f, n in sorted(counts.items(), key=lambda kv: (-kv[1], sympy.default_sort_key(kv[0])))
            if n > 1]


@functools.lru_cache(maxsize=4096)  # the same members come back from the knee snap and the refinements
def _holds_numbers(node: sympy.Basic) -> bool:
    return (node.is_Mul or node.is_Add) and sum(a.is_Number for a in node.args) > 1


def folded(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every product or sum that holds two numbers evaluated, the rest untouched.

    Rewritings and substitutions that skip sympy's re-evaluation (``snap.replace_numbers``, the
    renaming in ``derived.as_real``) can leave two numbers in one product unevaluated: the written
    form of ``(sqrt(x0*x1) + 1/2)**2 + 1/4`` printed ``x0*x1 + sqrt(x0*x1) + (1/2)*1``."""
    for _ in range(100):  # innermost first; each rebuilt with evaluation, its parents left as they are
        node = next((n for n in sympy.postorder_traversal(expr) if _holds_numbers(n)), None)
        if node is None:
            break
        value = node.func(*node.args)
        with sympy.evaluate(False):
            expr = expr.xreplace({node: value})
    return expr


def shortest_written_form(expr: sympy.Expr) -> sympy.Expr:
    """The fewest-node writing of ``expr`` among: as it is; as sympy evaluates it for real inputs
    (``1/sqrt(exp(x0**2))`` is ``exp(-x0**2/2)``, preferred on a tie); if it is exact (no decimals), factored
    (``-x0**2 - 2*x0*x1 + 3*x0`` is ``-x0*(x0 + 2*x1 - 3)``, 13 nodes to 9) and, for a ratio of
    polynomials, in partial fractions in each variable (``(10*x0**2 - 2*x0*x1 + 20)/(x0**2 + 2)`` is
    ``10 - 2*x0*x1/(x0**2 + 2)``, 19 to 13), each also with the factor all its terms share taken
    out (``x0*(-x0 - x1/(x0 + 1) + 4)``); and each of those with the terms of its sum that
    share a factor collected (``-3*x0/x1 - 15/x1`` is ``-3*(x0 + 5)/x1``; decimals are left as
    written: ``0.5*x0*exp(x1) + 0.25*x0`` is ``x0*(0.5*exp(x1) + 0.25)``).

    The exact searches return sums of terms (expanded polynomials, Laurent sums), while a law is
    usually shorter factored; sized at its expansion, ``(x0 + x1)*(x1 + 1/3) + (x0 + x1)/x1**2``
    (21 nodes expanded, 18 factored) loses the knee to shorter mimics. A size is a description
    length, and an equation's is its shortest writing. The value is unchanged, but where factoring
    cancels a common factor (as :func:`simplest_form`'s ``cancel`` does).
    """
    from ..lowering import complexity, lowers

    expr = folded(expr)
    # first, so that it wins ties: 1/sqrt(exp(x0**2)) and exp(-x0**2/2) are both 6 nodes
    real = as_real(expr)
    if real != expr and not lowers(real):
        real = expr
    if not real.atoms(sympy.Add):
        return min((real, expr), key=complexity)
    exact = not expr.atoms(sympy.Float)
    tidy = sympy.factor_terms if exact else None  # factor_terms would pull common decimals out
    forms, size = [real, expr], complexity(expr)
    try:
        if exact and size <= FACTOR_LIMIT:
            forms.append(sympy.factor(expr))
            variables = sorted(expr.free_symbols, key=str)
            if (size <= APART_LIMIT and len(variables) <= 5 and expr.is_rational_function()
                    and sympy.denom(sympy.together(expr)).free_symbols):
                forms += [sympy.apart(expr, v) for v in variables]  # partial fractions in each variable
            forms += [sympy.factor_terms(f) for f in list(forms)]  # x0*(-x0 - x1/(x0 + 1) + 4)
        forms += [sympy.collect(f, s, func=tidy) for f in list(forms) if isinstance(f, sympy.Add)
                  for s in _shared_factors(f)[:4]]
    except Exception:  # sympy occasionally fails on odd trees; the original form is fine
        pass
    if exact and size <= FACTOR_LIMIT:
        try:  # its own try: the parts are factored even where a whole-expression rewriting failed
            forms.append(factored_parts(expr, FACTOR_LIMIT))
        except Exception:  # as above, sympy's factor can fail on an odd part; the other forms stand
            pass
    forms += [signed for signed in map(sign_into_sum, list(forms)) if signed is not None]
    # sympy's rewritings can leave two numbers in one product: (sqrt(x0*x1) + 1/2)**2 + 1/4 came
    # back as x0*x1 + sqrt(x0*x1) + (1/2)*1 (random-s4-053's law)
    return folded(min(forms, key=complexity))


#: a ratio of coefficients closer than this (relative) to a short decimal is that decimal
_SCALE_REL = 1e-9


def round_sig(c: float, digits: int) -> float:
    """``c`` written with ``digits`` significant digits (``round_sig(0.398942, 2) == 0.4``)."""
    return float(f"{c:.{digits}g}")


def _shortest(value: float) -> sympy.Expr:
    """``value`` as the shortest decimal (1 to ``MAX_DIGITS`` significant digits) within
    ``_SCALE_REL``, an Integer where it is a whole number below 1000; else the Float itself."""
    if value != 0 and math.isfinite(value):
        for digits in range(1, MAX_DIGITS + 1):
            rounded = round_sig(value, digits)
            if abs(rounded - value) <= _SCALE_REL * abs(value):
                if rounded.is_integer() and abs(rounded) < 1000:
                    return sympy.Integer(int(rounded))
                return sympy.Float(rounded)
    return sympy.Float(value)


def _written_digits(c: sympy.Expr) -> int:
    """Significant digits a number is written with: 0 for an Integer, else its mantissa's."""
    if c.is_Integer:
        return 0
    return mantissa_digits(float(c)) if c.is_Float else 1


def shortest_scale(expr: sympy.Expr) -> sympy.Expr:
    """Each sum factor of a product (``c * S`` or ``c / S``) whose coefficients are decimals,
    divided by the one of its coefficients that makes the product shortest to write, the scale
    moving to ``c``: ``0.2/(0.02*x0**2 - 0.12*x0 + 0.64)`` -> ``10/(x0**2 - 6*x0 + 32)``.

    A rational's numerator and denominator are fixed only up to a common factor, and the
    precision step rounds each coefficient at the scale the fit left; a law is usually written
    where one coefficient is 1. Only scales at which every coefficient is a short decimal (or
    whole) count, so the value changes by at most ``_SCALE_REL`` per constant; ties keep the
    expression as it is.
    """
    if not expr.args or not expr.free_symbols:
        return expr
    expr = _with_args_rewritten(expr, shortest_scale)
    if not isinstance(expr, sympy.Mul):
        return expr
    coef = sympy.Mul(*[a for a in expr.args if not a.free_symbols])
    factors = [a for a in expr.args if a.free_symbols]
    folded = _folded_into_power(coef, factors)
    if folded is not None:
        return folded
    out, changed = [], False
    for factor in factors:
        base, power = factor.as_base_exp() if isinstance(factor, sympy.Pow) else (factor, sympy.Integer(1))
        if isinstance(base, sympy.Add) and power in (1, -1):
            scaled = _rescaled(coef, base, int(power))
            if scaled is not None:
                coef, base, changed = scaled[0], scaled[1], True
                factor = base**power
        out.append(factor)
    if not changed:
        return expr
    from ..lowering import complexity

    # a whole-number scale may land on a sum of whole numbers with a common factor: take it out
    product = sympy.Mul(coef, *out)
    scaled = min((product, sympy.factor_terms(product)), key=complexity)
    return scaled if complexity(scaled) <= complexity(expr) else expr


def _rescaled(coef: sympy.Expr, total: sympy.Add, power: int) -> tuple[sympy.Expr, sympy.Add] | None:
    """``(coef * k**power, total / k)`` for the coefficient ``k`` of ``total`` that writes both with
    the fewest digits, or None when no scale is shorter than the current one (or there are no
    decimals to shorten)."""
    terms = [t.as_coeff_Mul() for t in total.args]
    if not any(c.is_Float for c, _ in terms) or coef.free_symbols or not coef.is_number:
        return None

    def cost(cs: list[sympy.Expr]) -> int:
        return sum(_written_digits(c) for c in cs)

    best_cost, best = cost([c for c, _ in terms] + [coef]), None
    for k, _ in terms:
        k_value = float(k)
        if k_value == 0 or k_value == 1:
            continue
        new = [_shortest(float(c) / k_value) for c, _ in terms]
        if any(n.is_Float and _written_digits(n) > MAX_DIGITS for n in new):
            continue  # not a short decimal at this scale: rounding it would change the value
        new_coef = _shortest(float(coef) * k_value**power)
        if any(float(n).is_integer() and not simple_constant(sympy.Integer(int(n))) for n in new + [new_coef]):
            continue  # 0.0002*x**2 + cos(x) -> x**2 + 5000*cos(x): a big whole number is no shorter to read
        total_cost = cost(new + [new_coef])
        if total_cost < best_cost:
            best_cost, best = total_cost, (new_coef, sympy.Add(*[c * m for c, (_, m) in zip(new, terms)]))
    return best


def _folded_into_power(coef: sympy.Expr, factors: list[sympy.Expr]) -> sympy.Expr | None:
    """``c * S**p`` with a decimal ``|c| >= 100`` as ``(c**(1/p) * S)**p`` (``p`` a whole power of
    at least 2): ``3250.0*(-0.0173*x1 + P)**2`` is ``(-0.986*x1 + 57.01*P)**2``. A whole number of
    three digits or more is no constant a reader takes in (and the precision step, at 3 digits,
    writes one). The new coefficients are written with at most ``MAX_DIGITS`` digits (a relative
    change below 1e-4); None where no such factor exists or a coefficient would stay that large."""
    if not coef.is_Float or abs(float(coef)) < 100:
        return None
    powers = [f for f in factors if isinstance(f, sympy.Pow) and isinstance(f.base, sympy.Add)
              and f.exp.is_Integer and f.exp >= 2 and (float(coef) > 0 or f.exp % 2)]
    if len(powers) != 1:
        return None
    power = powers[0]
    scale = math.copysign(abs(float(coef)) ** (1.0 / int(power.exp)), float(coef))
    terms = []
    for term in power.base.args:
        c, rest = term.as_coeff_Mul()
        value = round_sig(float(c) * scale, MAX_DIGITS)
        if abs(value) >= 100 and value.is_integer():
            return None
        terms.append(sympy.Float(value) * rest)
    others = [f for f in factors if f is not power]
    return sympy.Mul(*others) * sympy.Add(*terms) ** power.exp


def rescalings(expr: sympy.Expr) -> list[sympy.Expr]:
    """The same function at other scales of a denominator or a power of a sum: ``c * S**p`` (``S``
    a sum, ``p`` a rational other than 1) as ``(c*k**p) * (S/k)**p``, for ``k`` each coefficient
    of ``S`` (it becomes 1) and the ``k`` that makes ``c*k**p`` 1, positive unless ``p`` is a
    whole number. Such a factor's constants are
    fixed only up to a common factor, and a law's exact values may show at one scale alone:
    ``0.1107*x0*x1/(x2 + 1/4)`` is ``x0*x1/(9.035*x2 + 2.259)``, near ``x0*x1/(9*x2 + 9/4)``;
    ``(1.778 - 0.445*x0)**2`` is ``0.198*(x0 - 3.996)**2``, near ``16*(x0 - 4)**2/81``. Only
    expressions with a decimal."""
    coef, rest = expr.as_coeff_Mul()
    if not expr.atoms(sympy.Float) or coef == 0 or isinstance(rest, sympy.Add):
        return []  # a sum's own scale is its terms' coefficients, which the snap visits already
    factors = list(rest.args) if isinstance(rest, sympy.Mul) else [rest]
    out = []
    for i, factor in enumerate(factors):
        base, power = factor.as_base_exp() if isinstance(factor, sympy.Pow) else (factor, sympy.Integer(1))
        if not isinstance(base, sympy.Add) or not power.is_Rational or power == 1:
            continue  # plain numerators too gave mimics more snaps: Nguyen-4's x0*(a*exp(3*x0) + b + exp(-5*x0/2))
        terms = [t.as_coeff_Mul() for t in base.args]
        # the k with c*k**p = 1 (none for a negative c unless p is an odd whole number)
        odd = power.is_Integer and power % 2 == 1
        unit = math.copysign(abs(float(coef)) ** (-1.0 / float(power)), float(coef)) if coef > 0 or odd else math.nan
        scales = [float(k) for k, _ in terms] + [unit]
        for j, k in enumerate(scales):
            if k == 0 or k == 1 or not math.isfinite(k) or k in scales[:j] or (k < 0 and not power.is_Integer):
                continue

            def exact(value: float, is_one: bool) -> sympy.Expr:  # the normalised constant is no longer free
                return sympy.Integer(1) if is_one else sympy.Float(value)
            scaled = sympy.Add(*[exact(float(c) / k, n == j) * m for n, (c, m) in enumerate(terms)])
            others = factors[:i] + [scaled**power] + factors[i + 1:]
            out.append(exact(float(coef) * k ** float(power), j == len(terms)) * sympy.Mul(*others))
    return out


def _completed(total: sympy.Expr) -> sympy.Expr | None:
    """``total`` (expanded) with each variable's ``a*x**2 + b*x`` written ``a*(x - m)**2 - a*m**2``
    (the constants summed); None where no variable has both terms."""
    total = sympy.expand(total)
    if not isinstance(total, sympy.Add):
        return None
    by_symbol: dict[sympy.Symbol, dict[int, float]] = {}
    for term in total.args:
        coef, rest = term.as_coeff_Mul()
        base, power = rest.as_base_exp()
        if isinstance(base, sympy.Symbol) and power in (1, 2) and coef.is_Number:
            by_symbol.setdefault(base, {})[int(power)] = float(coef)
    squares = {s: c for s, c in by_symbol.items() if 1 in c and 2 in c and c[2] != 0}
    if not squares:
        return None
    out = total
    for s, c in squares.items():
        m = -c[1] / (2.0 * c[2])
        out += _exact_or_float(-c[2] * m * m) - _exact_or_float(c[2]) * s**2 - _exact_or_float(c[1]) * s
        out += _exact_or_float(c[2]) * (s - _exact_or_float(m)) ** 2
    return out


def _exact_or_float(v: float) -> sympy.Expr:
    """A whole ``v`` as an Integer (``exp(-(x0 - 1)**2)``, not ``exp(-1.0*(x0 - 1.0)**2)``), else a Float."""
    return sympy.Integer(int(v)) if v == int(v) and abs(v) < 1e6 else sympy.Float(v)


def vertex_forms(expr: sympy.Expr) -> list[sympy.Expr]:
    """The same function with one-variable quadratics completed to squares: ``0.134*x1**2 -
    0.671*x1 + 1`` as ``0.134*(x1 - 2.5)**2 + 0.161``, and ``exp(x0*(2 - x0))`` as ``e*exp(-(x0 -
    1)**2)`` (the constant leaves the exponential as a factor). A shifted gaussian or Lorentzian's
    centre and width are exact where the expanded coefficients are not (Vladislavleva-1's
    ``exp(-(x0 - 1)**2)/((x1 - 5/2)**2 + 6/5)`` came back as ``exp(x0*(2 - x0))/(11*x1**2/4 -
    41*x1/3 + 81/4)``, rounded off its law). One form with every such quadratic completed, empty
    when there is none; only expressions with a decimal. The value is unchanged."""
    if not expr.atoms(sympy.Float):
        return []
    changed = False

    def rewrite(node: sympy.Expr) -> sympy.Expr:
        nonlocal changed
        if not node.args or not node.free_symbols:
            return node
        if isinstance(node, sympy.exp):
            done = _completed(node.args[0])
            if done is not None:
                changed = True
                const, rest = done.as_coeff_Add()
                return sympy.Float(math.exp(float(const))) * sympy.exp(rest)
            return node
        if isinstance(node, sympy.Add) and not any(a.has(sympy.exp) for a in node.args):
            done = _completed(node)
            if done is not None:
                changed = True
                return done
        return _with_args_rewritten(node, rewrite)

    form = rewrite(expr)
    return [form] if changed else []
