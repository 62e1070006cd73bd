"""The fast first pass: sparse linear regression over generated candidate terms.

Many laws are a short sum of simple terms once the right terms are on the table:
``3*x0 - 3*x0/r`` (Hooke), ``2*x0/r**3`` (inverse square), ``x0**2*sin(x1) + 1.5*x0``,
``exp(-x1)*sin(pi*x0)``. This pass builds a library of such terms (powers, unary
functions, pairwise products, including the derived variables of ``derived.py``),
then runs a beam search over subsets of up to ``max_terms`` terms with an
orthogonal-projection score, all vectorised in numpy. It returns a handful of
candidates per subset size in well under a second for up to five inputs, so the
genetic search afterwards only has to find what no library term can express.

The closed-form families that are not sums of terms (power laws, rationals, separable
products) live in ``families.py``.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy

from ..lowering import complexity
from .derived import Base

# exponents tried for every base variable (negative ones only for variables bounded away from 0;
# halves only for positive ones): x**(3/2) = x*sqrt(x) is as plain a monomial as x**2 (Kepler's
# T ~ a**(3/2)); without it 2*x0**(3/2) + cos(sqrt(x0)) from a 0.3 % network came back as a mimic
_POWERS: tuple[sympy.Rational, ...] = tuple(
    sympy.Rational(p) for p in ("1", "2", "3", "-1", "-2", "-3", "1/2", "-1/2", "3/2", "-3/2")
)
_PAIR_POWERS: tuple[sympy.Rational, ...] = tuple(sympy.Rational(p) for p in ("1", "2", "-1", "-2", "-3", "3"))
_FREQS = (sympy.Integer(1), sympy.Integer(2), sympy.pi)


class Term:
    """A library column: its values, and its expression built only when asked for.

    Building thousands of sympy products up front cost more than the whole search, so a pair
    product keeps its two factors and multiplies them on first use.
    """

    __slots__ = ("_expr", "_factors", "values", "size")

    def __init__(self, expr: sympy.Expr | None, values: np.ndarray, factors: tuple["Term", ...] = (), size: int = 1):
        self._expr = expr
        self._factors = factors
        self.values = values
        self.size = size  # number of factors: the dedupe keeps the smaller of equal columns

    @property
    def expr(self) -> sympy.Expr:
        if self._expr is None:
            self._expr = sympy.Mul(*[f.expr for f in self._factors])
        return self._expr

    @staticmethod
    def product(a: "Term", b: "Term") -> "Term":
        return Term(None, a.values * b.values, (a, b), a.size + b.size)


#: the denominators of exact coefficients, coarsest first: integers, halves, thirds (2/3 and 4/3
#: are as common in laws as 1/2; ``(x0*x1 + x0 + 2/3)*log(x0)*cos(x1)`` rounded to halves was 1.2 %
#: off its law). Quarters and finer would let a network's error round to "exact" mimics.
EXACT_GRIDS = (1.0, 2.0, 3.0)
#: an exact coefficient's numerator stays below this (two digits, as ``forms.simple_constant``):
#: jointly rounded, a mimic's large coefficients became 215 and -309/2, which no reader takes as
#: a law's; left as decimals, the precision step writes the digits the data support
MAX_EXACT_NUMERATOR = 100


@dataclass(frozen=True)
class LinearFit:
    """``intercept + sum(coef_t * term_t)`` fitted in float64 on all rows."""

    terms: tuple[Term, ...]
    coefs: np.ndarray
    intercept: float
    mse: float
    #: snapped values kept symbolic (``1/2``, ``sqrt(2)/pi``), per coefficient then the intercept;
    #: None where the coefficient is a fitted float
    exact: tuple[sympy.Expr | None, ...] = ()

    def expr(self) -> sympy.Expr:
        exact = self.exact or (None,) * (len(self.coefs) + 1)
        out = exact[-1] if exact[-1] is not None else (
            number(self.intercept) if self.intercept != 0.0 else sympy.Integer(0))
        for coef, term, sym in zip(self.coefs, self.terms, exact):
            out = out + (sym if sym is not None else number(coef)) * term.expr
        return out


def number(value: float) -> sympy.Expr:
    # keep exact small integers exact so that snapped coefficients print as 3, not 3.0
    if float(value).is_integer() and abs(value) < 2**31:
        return sympy.Integer(int(value))
    return sympy.Float(float(value))


def _ok(values: np.ndarray) -> bool:
    with np.errstate(over="ignore"):  # a term whose variance overflows float64 is no use either
        spread = float(np.std(values)) if np.all(np.isfinite(values)) else math.nan
    return math.isfinite(spread) and spread > 1e-12 * (1.0 + float(np.max(np.abs(values))))


def power_terms(base: Base) -> list[tuple[sympy.Rational, Term]]:
    v = base.values
    positive = bool(np.all(v > 0))
    clear_of_zero = float(np.min(np.abs(v))) > 1e-3 * max(float(np.max(np.abs(v))), 1e-12)
    out = []
    for p in _POWERS:
        if p < 0 and not clear_of_zero:
            continue
        if p.q != 1 and not positive:
            continue
        if base.derived and p == 1 and not base.nonlinear:
            continue  # a difference x0 - x1 is already a sum of two library terms
        with np.errstate(all="ignore"):
            values = v ** float(p)
        if _ok(values):
            out.append((p, Term(base.expr**p, values)))
    return out


def unary_terms(base: Base, operators: frozenset[str]) -> list[Term]:
    v, e = base.values, base.expr
    out: list[Term] = []
    with np.errstate(all="ignore"):
        if "exp" in operators:
            out.append(Term(sympy.exp(e), np.exp(v)))
            out.append(Term(sympy.exp(-e), np.exp(-v)))
            out.append(Term(sympy.exp(-e**2), np.exp(-v * v)))
            out.append(Term(sympy.exp(-e**2 / 2), np.exp(-v * v / 2)))
        if "sin" in operators or "cos" in operators:
            # sin and cos are one family: cos(v) = sin(v + pi/2)
            for k in _FREQS:
                out.append(Term(sympy.sin(k * e), np.sin(float(k) * v)))
                out.append(Term(sympy.cos(k * e), np.cos(float(k) * v)))
        if "tanh" in operators:
            out.append(Term(sympy.tanh(e), np.tanh(v)))
        if "log" in operators and np.all(v > 0):
            out.append(Term(sympy.log(e), np.log(v)))
        if "exp" in operators and "div" in operators:
            out.append(Term(1 / (1 + sympy.exp(-e)), 1.0 / (1.0 + np.exp(-v))))
    return [t for t in out if _ok(t.values)]


def away_from_zero(values: np.ndarray) -> bool:
    """Whether a divisor is bounded away from 0: its smallest magnitude at least 5 % of its largest."""
    return float(np.min(np.abs(values))) > 0.05 * float(np.max(np.abs(values)))


def squared_terms(unary: Sequence[Term]) -> list[Term]:
    """Squares of one-node functions (``log(x)**2``, ``exp(x)**2 = exp(2*x)``, ``tanh(x)**2``,
    ``sin(pi*x)**2``): a law's ``x1*log(x2)**2`` is no product of library terms. Squares that
    equal another term up to scale and offset (``sin(x)**2``, ``cos(2*x)``) are deduplicated later."""
    kinds = (sympy.log, sympy.exp, sympy.sin, sympy.cos, sympy.tanh)
    return [Term(t.expr**2, t.values**2) for t in unary if isinstance(t.expr, kinds) and _ok(t.values**2)]


def library_cap(n_inputs: int, max_terms: int = 6000) -> int:
    """How many library terms the search affords for ``n_inputs`` original variables.

    Up to five inputs every term fits (the recovery benchmark's laws); beyond that the pair
    products alone would number tens of thousands, so the cap shrinks with the input count.
    """
    if n_inputs <= 5:
        return max_terms
    return max(1500, max_terms * 5 // n_inputs)


def build_library(
    bases: Sequence[Base], operators: frozenset[str], max_terms: int = 6000, deadline: float = math.inf
) -> list[Term]:
    """All single-variable terms and pairwise products, deduplicated by their values.

    Pair products are added pair of variables by pair of variables until ``4 * max_terms`` terms
    exist or ``deadline`` (``time.perf_counter()``) passes; the single-variable terms always come.
    """
    powers = {i: power_terms(b) for i, b in enumerate(bases)}
    unary = {i: unary_terms(b, operators) if not b.derived else [] for i, b in enumerate(bases)}
    squares = {i: squared_terms(unary[i]) for i in unary}
    terms: list[Term] = []
    for i in range(len(bases)):
        terms += [t for _, t in powers[i]] + unary[i] + squares[i]
    originals = [i for i, b in enumerate(bases) if not b.derived]
    if len(originals) <= SAME_VARIABLE_INPUTS:
        for i in originals:
            terms += _same_variable_terms(bases[i], powers[i], unary[i], operators)
    for i, j in itertools.combinations(range(len(bases)), 2):
        bi, bj = bases[i], bases[j]
        if bi.derived and bj.derived:
            continue
        pi_ = [t for p, t in powers[i] if p in _PAIR_POWERS]
        pj_ = [t for p, t in powers[j] if p in _PAIR_POWERS]
        for a, b in itertools.product(pi_, pj_):
            terms.append(Term.product(a, b))
        if bi.derived or bj.derived:
            continue
        low_i = [t for p, t in powers[i] if p in (1, 2, -1)]
        low_j = [t for p, t in powers[j] if p in (1, 2, -1)]
        for a, b in itertools.chain(itertools.product(low_i, unary[j] + squares[j]),
                                    itertools.product(unary[i] + squares[i], low_j),
                                    itertools.product(unary[i], unary[j])):
            terms.append(Term.product(a, b))
        if len(terms) > 4 * max_terms or time.perf_counter() > deadline:
            break
    return _dedupe([t for t in terms if _ok(t.values)])[:max_terms]


#: up to this many inputs, the library also holds depth-2 terms of one variable (see below)
SAME_VARIABLE_INPUTS = 2


def _same_variable_terms(base: Base, powers: list, unary: list[Term], operators: frozenset[str]) -> list[Term]:
    """Depth-2 terms of one variable (pair products elsewhere join two variables): unary functions
    of its square and cube (``sin(x0**2)``) and products of two of its functions (``x0*sin(x0)``,
    ``sin(x0**2)*cos(x0)``). Only for few inputs: about 800 terms per variable."""
    with np.errstate(all="ignore"):
        lifted = [t for p in (2, 3) for t in unary_terms(Base(base.symbol, base.expr**p, base.values**p), operators)]
    low = [t for p, t in powers if p in (1, 2, -1)]
    pairs = itertools.chain(itertools.product(low, unary + lifted), itertools.combinations(unary + lifted, 2))
    return lifted + [Term.product(a, b) for a, b in pairs]


def _dedupe(terms: list[Term]) -> list[Term]:
    # equal columns up to scale (x0*x0**-1 style repeats, cos(-v) = cos(v)) would waste the beam
    seen: dict[bytes, Term] = {}
    for t in terms:
        v = t.values - t.values.mean()
        v = v / (np.linalg.norm(v) or 1.0)
        if v[np.argmax(np.abs(v))] < 0:
            v = -v
        key = np.round(v, 7).tobytes()
        old = seen.get(key)
        if old is None or t.size < old.size:
            seen[key] = t
    return list(seen.values())


def beam_search(
    terms: Sequence[Term], y: np.ndarray, max_terms: int = 4, beam: int = 8, rows: int = 1024, seed: int = 0,
    deadline: float = math.inf,
) -> list[tuple[int, ...]]:
    """Subsets of term indices (each size 1..max_terms, best ``beam`` of each size).

    At ``deadline`` (``time.perf_counter()``) the search stops growing and returns the sets so far
    (always at least the best single terms).

    Score = residual sum of squares after least squares with an intercept, computed for every
    candidate column at once by projecting it onto the orthogonal complement of the chosen ones.
    """
    n = len(y)
    if n > rows:  # the search needs only enough rows to rank; the final fit uses all
        idx = np.random.default_rng(seed).choice(n, rows, replace=False)
    else:
        idx = np.arange(n)
    C = np.stack([t.values[idx] for t in terms], axis=1)
    C = C - C.mean(axis=0)
    norms = np.linalg.norm(C, axis=0)
    C = C / np.where(norms > 0, norms, 1.0)
    r0 = y[idx] - y[idx].mean()
    # state: (rss, subset, Q (orthonormal basis of chosen columns), residual)
    states = [(float(r0 @ r0), (), np.zeros((len(idx), 0)), r0)]
    results: list[tuple[int, ...]] = []
    if max_terms >= 2:
        # Greedy steps miss pairs that only work together (Hooke: x0 - x0/r, each poor alone),
        # so all pairs are scored exactly from the Gram matrix and the best seed the beam.
        pairs = _best_pairs(C, r0, 2 * beam, deadline=deadline)
        seeded = []
        for i, j in pairs:
            Q, _ = np.linalg.qr(C[:, [i, j]])
            res = r0 - Q @ (Q.T @ r0)
            seeded.append((float(res @ res), (i, j), Q, res))
        singles = _grow(states, C, beam)
        results += [s[1] for s in singles]
        states = sorted(seeded + _grow(singles, C, beam), key=lambda s: s[0])
        states = _unique(states)[:beam]
        results += [s[1] for s in states]
        steps = max_terms - 2
    else:
        steps = max_terms
    for _ in range(steps):
        if time.perf_counter() > deadline:
            break
        if states and states[0][0] <= 1e-14 * float(r0 @ r0):
            break  # exact already; more terms only fit noise
        states = _grow(states, C, beam)
        if not states:
            break
        results += [s[1] for s in states]
    return results


#: few-node terms have at most this many nodes (x0*exp(x1), sin(2*x1), 1/x0, x1/x2, x0*x1**2) ...
FEW_NODE_TERMS = 5
FEW_NODE_CAP = 400  # ... at most this many, fewest nodes first (all pairs scored: 80k pairs)


def few_node_terms(terms: Sequence[Term], nodes: int = FEW_NODE_TERMS, cap: int = FEW_NODE_CAP) -> list[int]:
    """Indices of the terms of at most ``nodes`` nodes, fewest first, at most ``cap`` of them."""
    sizes = [complexity(t.expr) for t in terms]
    return sorted((i for i, n in enumerate(sizes) if n <= nodes), key=lambda i: (sizes[i], i))[:cap]


def few_node_search(terms: Sequence[Term], y: np.ndarray, max_terms: int = 4, beam: int = 8, seed: int = 0,
                    deadline: float = math.inf, few: Sequence[int] | None = None) -> list[tuple[int, ...]]:
    """:func:`beam_search` over the few-node terms alone (``few``, by default
    :func:`few_node_terms`); indices into ``terms``.

    The beam ranks subsets by error alone. Fitting a network that is 3 % off its law, the law's
    few-node terms rank below many-node terms that also fit the network's error: {x0, cos(x1)}
    was not among the 3 best pairs, {x0, exp(x1)} not among the 8 best. Searched apart, the
    few-node terms give the front its short members, and selection weighs them against the rest.
    """
    few = few_node_terms(terms) if few is None else list(few)
    found = [] if len(few) < 2 else beam_search([terms[i] for i in few], y, max_terms=max_terms, beam=beam,
                                                 seed=seed, deadline=deadline)
    return [tuple(few[k] for k in subset) for subset in found]


def _unique(states: list) -> list:
    seen: set[frozenset[int]] = set()
    out = []
    for s in states:
        key = frozenset(s[1])
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def added_gain(Q: np.ndarray, C: np.ndarray, r: np.ndarray, taken: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """How much less of the residual ``r`` is left when each unit column of ``C`` joins the columns
    spanned by the orthonormal ``Q`` (``r`` orthogonal to them): -1 for columns already in that span
    and for ``taken``. Also ``Q.T @ C``, which the caller may reuse."""
    proj = Q.T @ C  # k × M
    rem = 1.0 - np.sum(proj * proj, axis=0)
    dots = C.T @ r
    gain = np.where(rem > 1e-8, dots * dots / np.maximum(rem, 1e-8), -1.0)
    if len(taken):
        gain[list(taken)] = -1.0
    return gain, proj


def _grow(states: list, C: np.ndarray, beam: int) -> list:
    """One beam step: every state extended by its best columns; the best ``beam`` distinct sets."""
    proposals: dict[frozenset[int], tuple[float, tuple[int, ...], np.ndarray, np.ndarray]] = {}
    for rss, subset, Q, r in states:
        gain, proj = added_gain(Q, C, r, subset)
        for m in np.argsort(-gain)[:beam]:
            if gain[m] <= 0:
                break
            key = frozenset(subset + (int(m),))
            new_rss = rss - float(gain[m])
            if key in proposals and proposals[key][0] <= new_rss:
                continue
            q = C[:, m] - Q @ proj[:, m]
            q = q / np.linalg.norm(q)
            proposals[key] = (new_rss, subset + (int(m),), np.column_stack([Q, q]), r - (q @ r) * q)
    return sorted(proposals.values(), key=lambda s: s[0])[:beam]


def _best_pairs(
    C: np.ndarray, r: np.ndarray, k: int, chunk: int = 512, limit: int = 800, deadline: float = math.inf
) -> list[tuple[int, int]]:
    """The ``k`` column pairs that explain most of ``r`` (unit-norm, centred columns), exactly.

    Scoring all pairs is quadratic in the library, so large libraries are first cut to the
    ``limit`` columns most correlated with ``r`` (a useful pair member is rarely uncorrelated).
    Columns are scored in chunks, most correlated first; at ``deadline`` the best so far is returned.
    """
    b_all = C.T @ r
    if C.shape[1] > limit:
        keep = np.argsort(-np.abs(b_all))[:limit]
        return [(int(keep[i]), int(keep[j])) for i, j in _best_pairs(C[:, keep], r, k, chunk, limit, deadline)]
    b = b_all
    M = C.shape[1]
    best_scores = np.empty(0)
    best_pairs = np.empty((0, 2), dtype=int)
    for start in range(0, M, chunk):
        if start > 0 and time.perf_counter() > deadline:
            break
        G = C[:, start:start + chunk].T @ C  # rows: i in chunk, cols: all j
        bi = b[start:start + chunk, None]
        denom = 1.0 - G * G
        with np.errstate(all="ignore"):
            score = (bi * bi + b[None, :] ** 2 - 2 * bi * b[None, :] * G) / denom
        ii = np.arange(start, min(start + chunk, M))[:, None]
        score[(denom < 1e-6) | (np.arange(M)[None, :] <= ii)] = -np.inf
        flat = np.argpartition(-score.ravel(), min(k, score.size - 1))[:k]
        rows, cols = np.unravel_index(flat, score.shape)
        best_scores = np.concatenate([best_scores, score[rows, cols]])
        best_pairs = np.concatenate([best_pairs, np.stack([rows + start, cols], axis=1)])
        keep = np.argsort(-best_scores)[:k]
        best_scores, best_pairs = best_scores[keep], best_pairs[keep]
    return [(int(i), int(j)) for (i, j), sc in zip(best_pairs, best_scores) if np.isfinite(sc)]


#: monomial budget: the polynomial families use the largest degree whose monomial count (without
#: the constant) stays within this, so few inputs get high degrees: 1 input degree 6, 2 inputs 5,
#: 3 inputs 3, 4-5 inputs 2 (the count grows as binomial(n + d, d) - 1)
MONOMIAL_BUDGET = 20
#: ... and never beyond this degree: monomials of higher degree are too collinear on a box to
#: tell apart from each other (and from smooth non-polynomial laws) at a network's accuracy
MAX_DEGREE = 6


def monomial_degree(n_inputs: int, budget: int = MONOMIAL_BUDGET, max_degree: int = MAX_DEGREE,
                    min_degree: int = 1) -> int:
    """The largest degree ``d <= max_degree`` whose ``binomial(n + d, d) - 1`` monomials fit ``budget``
    (at least ``min_degree``)."""
    d = min_degree
    while d < max_degree and math.comb(n_inputs + d + 1, d + 1) - 1 <= budget:
        d += 1
    return d


def polynomial_terms(bases: Sequence[Base], degree: int | None = None) -> list[Term]:
    """Monomials of the original variables up to ``degree``: by default the monomial budget's
    degree (:func:`monomial_degree`), at least 2 (a full quadratic even for many inputs)."""
    originals = [b for b in bases if not b.derived]
    if degree is None:
        degree = monomial_degree(len(originals), min_degree=2)
    out = []
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(len(originals)), d):
            expr = sympy.Mul(*[originals[i].expr for i in combo])
            values = np.prod([originals[i].values for i in combo], axis=0)
            if _ok(values):
                out.append(Term(expr, values))
    return out


from .backward import backward_subsets  # noqa: E402,F401  (the backward path lives apart)


def fit_subset(terms: Sequence[Term], subset: Sequence[int], y: np.ndarray) -> LinearFit:
    chosen = tuple(terms[i] for i in subset)
    A = np.column_stack([t.values for t in chosen] + [np.ones_like(y)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    mse = float(np.mean((A @ coef - y) ** 2))
    return LinearFit(chosen, coef[:-1], float(coef[-1]), mse)
