"""Laws with a periodic term of a polynomial phase: ``S(x) + A*sin(P(x) + phi)``.

``P`` is a polynomial of degree at most 2 with small integer coefficients (``x0*x1 - x0 - x1``,
``6*x0 - 2*x0**2``) and ``S`` a polynomial of degree at most 2 with free coefficients. Waves and
chirps are such laws (a phase ``k*x - w*t``, a frequency that grows with ``x``), and so is
``x0*x1 + sin((x0 - 1)*(x1 - 1))``. Their phase is no library term: the library holds
``sin(k*x)`` of one variable for a few ``k``, and a sum of terms can only mimic a chirp.

For a fixed ``P`` the law is linear in ``S``'s coefficients, ``A*cos(phi)`` and ``A*sin(phi)``, so
every integer phase in a box of coefficients is scored at once by projecting ``sin(P)`` and
``cos(P)`` on the complement of ``S``'s columns (a 2 x 2 solve per phase, vectorised). Exact
integers are the test, as for the exact polynomials: a network's error does not move a phase's
coefficient by a whole unit. The best few phases come back as expressions whose amplitude, phase
and ``S`` coefficients the caller refits and snaps (``operon._polish``).
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np
import sympy

from .basis import number, polynomial_terms
from .derived import Base

#: the largest |coefficient| of a phase monomial: (2*bound + 1)**monomials phases are scored,
#: 17**2 = 289 for one input, 9**5 = 59 049 for two (half of them, up to the sign)
COEFFICIENT_BOUND = {1: 8, 2: 4}


def phase_laws(bases: Sequence[Base], y: np.ndarray, operators: frozenset[str], allowed_mse: float,
               keep: int = 3, rows: int = 300, chunk: int = 4096) -> list[sympy.Expr]:
    """``S + A*sin(P + phi)`` for the ``keep`` integer phases ``P`` that fit best, within
    ``allowed_mse`` (one or two input variables; needs ``sin`` or ``cos`` among the operators)."""
    originals = [b for b in bases if not b.derived]
    if len(originals) not in COEFFICIENT_BOUND or not {"sin", "cos"} & operators:
        return []
    monos = polynomial_terms(originals, degree=2)
    step = max(1, len(y) // rows)
    ys = y[::step]
    M = np.column_stack([t.values[::step] for t in monos])  # n x k, the phase's and S's monomials
    Q, _ = np.linalg.qr(np.column_stack([np.ones(len(ys)), M]))  # S's column space
    r = ys - Q @ (Q.T @ ys)  # what S leaves of y
    bound = COEFFICIENT_BOUND[len(originals)]
    grid = np.array([w for w in itertools.product(range(-bound, bound + 1), repeat=M.shape[1])
                     if any(w) and next(c for c in w if c) > 0], dtype=np.float64)  # P and -P: one sign
    scored: list[tuple[float, int]] = []
    for lo in range(0, len(grid), chunk):
        W = grid[lo:lo + chunk].T  # k x c
        phase = M @ W
        s, c = np.sin(phase), np.cos(phase)
        s -= Q @ (Q.T @ s)
        c -= Q @ (Q.T @ c)
        # least squares of r on (s, c) per phase, in closed form
        ss, cc, sc = np.einsum("ij,ij->j", s, s), np.einsum("ij,ij->j", c, c), np.einsum("ij,ij->j", s, c)
        rs, rc = r @ s, r @ c
        det = ss * cc - sc**2
        with np.errstate(all="ignore"):
            gain = (cc * rs**2 - 2 * sc * rs * rc + ss * rc**2) / det
        rss = np.where(det > 1e-9 * ss * cc, r @ r - gain, np.inf)
        scored += [(float(v), lo + j) for j, v in enumerate(rss)]
    out: list[sympy.Expr] = []
    n = len(ys)
    for rss, j in sorted(scored)[:keep]:
        if not rss / n <= allowed_mse:
            break
        out.append(_law(monos, grid[j], y))
    return out


def _law(monos, weights: np.ndarray, y: np.ndarray) -> sympy.Expr:
    """``S + A*sin(P + phi)`` with ``S``, ``A`` and ``phi`` fitted by least squares on all rows."""
    phase_expr = sympy.Add(*[int(w) * t.expr for w, t in zip(weights, monos) if w])
    phase = sum(w * t.values for w, t in zip(weights, monos))
    A = np.column_stack([np.ones(len(y))] + [t.values for t in monos] + [np.sin(phase), np.cos(phase)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    smooth = number(coef[0]) + sum((number(c) * t.expr for c, t in zip(coef[1:-2], monos)), sympy.Integer(0))
    amplitude = math.hypot(coef[-2], coef[-1])
    offset = math.atan2(coef[-1], coef[-2])  # a*sin(P) + b*cos(P) = A*sin(P + phi)
    return smooth + number(amplitude) * _readable_wave(phase_expr, offset)


def _readable_wave(phase: sympy.Expr, offset: float) -> sympy.Expr:
    """``sin(phase + offset)`` written as whichever of ``sin(±phase + c)`` and ``cos(±phase + c)``
    (the same function, ``c`` shifted by multiples of pi/2 and taken into (-pi, pi]) has ``c``
    nearest a whole number: ``sin((x0 - 1)*(x1 - 1))`` was printed ``sin(-x0*x1 + x0 + x1 + 2.15)``
    (2.15 = pi - 1), and snapping can round 1.0003 to 1 but not 2.1416 to pi - 1."""
    def wrapped(c: float) -> float:
        return math.remainder(c, 2 * math.pi)

    forms = [  # sin(P + f) = sin(-P + pi - f) = cos(P + f - pi/2) = cos(-P - f + pi/2)
        (wrapped(offset), sympy.sin, 1),
        (wrapped(math.pi - offset), sympy.sin, -1),
        (wrapped(offset - math.pi / 2), sympy.cos, 1),
        (wrapped(math.pi / 2 - offset), sympy.cos, -1),
    ]
    c, wave, sign = min(forms, key=lambda f: (abs(f[0] - round(f[0])), abs(f[0])))
    return wave(sign * phase + number(c))
