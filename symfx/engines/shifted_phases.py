"""Equivalent writings of a sine or cosine whose fitted phase is exact in one of them.

A phase is fixed only up to multiples of ``pi/2``, with the function and sign changed: a 2.5 %
network of ``-sin(x0 - x1 + 5)`` was fitted as ``cos(x0 - x1 + 0.29)``, which snapped to
``cos(x0 - x1 + 1/4)`` and missed the law; ``0.29 + 3*pi/2`` is ``5.00``. The knee snap
(``readable.knee_snapped``) tries each writing's simple constants beside the member's own; the
value is unchanged, and the knee rule decides between the writings. (The periodic family,
``phases._readable_wave``, picks one writing of its own waves when it builds them; this offers
several for any member, whatever stage found it.)
"""
from __future__ import annotations

import math

import sympy

from .snap import distance_to_simple

#: a phase is moved by k * pi/2 for these k (one full turn either way)
TURNS = (-4, -3, -2, -1, 1, 2, 3, 4)
#: at most this many moved phases per sine or cosine, those nearest a simple fraction (each form
#: costs a knee snap, a few least-squares fits) ...
PHASES_PER_NODE = 2
#: ... within this distance of it (radians; a 2.5 % network moved a phase by 0.04) ...
NEAR = 0.1
#: ... and no larger than a turn
MAX_PHASE = 2 * math.pi


def _moved(node: sympy.Expr, turns: int) -> sympy.Expr:
    """``sin(u + phi)`` or ``cos(u + phi)`` written with the phase ``phi + turns*pi/2``:
    ``sin(t - k*pi/2)`` is ``sin t, -cos t, -sin t, cos t`` for ``k`` = 0..3 (mod 4), and
    ``cos(t - k*pi/2)`` is ``cos t, sin t, -cos t, -sin t``."""
    phi, rest = node.args[0].as_coeff_Add()
    phase = float(phi) + turns * math.pi / 2
    # a phase moved to near 0 is written without one: the snap after takes no drops
    theta = rest if abs(phase) <= NEAR else rest + sympy.Float(phase)
    k = turns % 4
    if isinstance(node, sympy.sin):
        return (sympy.sin(theta), -sympy.cos(theta), -sympy.sin(theta), sympy.cos(theta))[k]
    return (sympy.cos(theta), sympy.sin(theta), -sympy.cos(theta), -sympy.sin(theta))[k]


def phase_forms(expr: sympy.Expr) -> list[sympy.Expr]:
    """``expr`` with one sine or cosine's phase moved by a multiple of ``pi/2`` to within
    ``NEAR`` of a simple fraction (``PHASES_PER_NODE`` per function, nearest first). The fitted
    phase may be near one too, or be one (``-sin(u + 5/3)`` is ``sin(u - 1.475)``, near ``-3/2``
    and two nodes shorter): the knee rule decides."""
    out: list[sympy.Expr] = []
    nodes = [n for n in sympy.preorder_traversal(expr) if isinstance(n, (sympy.sin, sympy.cos))]
    for node in dict.fromkeys(nodes):
        phi, rest = node.args[0].as_coeff_Add()
        if phi == 0 or not rest.free_symbols:
            continue  # an exact phase too: -sin(u + 5/3), snapped already, is sin(u - 1.475)
        # a phase past a turn is first taken back by whole turns (a GP's sin(u + 29.85) is sin(u + 4.72))
        whole = 4 * round(float(phi) / (2 * math.pi))
        turns = [k - whole for k in (0,) + TURNS if k != whole]
        moved = [float(phi) + k * math.pi / 2 for k in turns]
        near = sorted((distance_to_simple(v), k) for v, k in zip(moved, turns) if abs(v) <= MAX_PHASE)
        out += [expr.xreplace({node: _moved(node, k)}) for d, k in near[:PHASES_PER_NODE] if d <= NEAR]
    return out
