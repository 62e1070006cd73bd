"""Three-term sums scored exactly, then improved by swapping terms with the whole library.

The beam (:func:`basis.beam_search`) grows its subsets from the best pairs. One strong term that
is not the law's then leads every state: fitting a 0.1 % network of ``x1 - x0*x1 - log(x0)/x0``
on x0 in [1, 2], ``x1*log(x0)`` (close to ``x1*(x0 - 1)`` there) was in every three-term subset of
both beams, and the best was 1.1 % off the network where the law is 0.13 %. Here every sum of
three of the smallest few-node terms is scored exactly (least squares from their Gram matrix),
and the best few are improved one term at a time against the whole library: a swap brings in a
law's term that is not a few-node term (``log(x0)/x0``). Linear algebra only; the caller
(``operon._fast_pass``) fits, rounds and snaps the subsets like the beam's.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from .basis import Term, added_gain

#: few-node terms in the exhaustive search: 200 terms are 1.3 M sums (~0.1 s on one core)
MAX_TERMS = 200
#: up to this many inputs (wider fits spend the fast pass's budget on their library already: with
#: this search, 32 inputs took 8.1 s at a 2 s budget beside three other jobs, over the 8 s that
#: tests/test_engines.py allows)
MAX_INPUTS = 5
#: rows the sums are scored on (the fits that follow use all rows)
ROWS = 512
#: best distinct three-term sums improved by swaps
KEEP = 4
#: rounds of swaps (each tries every position once)
SWEEPS = 6


def _unit_columns(values: Sequence[np.ndarray], idx: np.ndarray) -> np.ndarray:
    C = np.stack([v[idx] for v in values], axis=1)
    C = C - C.mean(axis=0)
    norms = np.linalg.norm(C, axis=0)
    return C / np.where(norms > 0, norms, 1.0)


def best_triples(C: np.ndarray, r: np.ndarray, keep: int, deadline: float = math.inf) -> list[tuple[int, int, int]]:
    """The ``keep`` column triples of ``C`` (unit-norm, centred) whose least-squares sum leaves the
    least of ``r``, exactly: ``r·r - b_S' G_S⁻¹ b_S`` for every triple ``S``. At ``deadline``, the
    best so far: a safety net only (bench/discovery.py's laws start it with 9.3-9.9 s to spare and
    it takes 0.10-0.15 s), so that the result does not depend on how busy the machine is."""
    G = C.T @ C
    b = C.T @ r
    m = C.shape[1]
    found: list[tuple[float, tuple[int, int, int]]] = []
    for i in range(m - 2):
        if time.perf_counter() > deadline:
            break
        j, k = np.triu_indices(m - i - 1, 1)
        j, k = j + i + 1, k + i + 1
        # bᵀA⁻¹b for the symmetric 3x3 Gram A of (i, j, k), by cofactors (a batched solve is 10x slower)
        a, bb, c = G[i, i], G[j, j], G[k, k]
        d, e, f = G[i, j], G[i, k], G[j, k]
        c00, c11, c22 = bb * c - f * f, a * c - e * e, a * bb - d * d
        c01, c02, c12 = e * f - c * d, d * f - bb * e, d * e - a * f
        det = a * c00 + d * c01 + e * c02
        b0, b1, b2 = b[i], b[j], b[k]
        with np.errstate(all="ignore"):
            explained = (b0 * b0 * c00 + b1 * b1 * c11 + b2 * b2 * c22
                         + 2 * (b0 * b1 * c01 + b0 * b2 * c02 + b1 * b2 * c12)) / det
        explained[~(det > 1e-8)] = -np.inf  # nearly collinear triples: their coefficients are noise
        for q in np.argsort(-explained)[:keep]:
            if np.isfinite(explained[q]):
                found.append((-float(explained[q]), (i, int(j[q]), int(k[q]))))
    return [t for _, t in sorted(found)[:keep]]


def swapped(C: np.ndarray, r: np.ndarray, subset: Sequence[int], sweeps: int = SWEEPS) -> tuple[int, ...]:
    """``subset`` improved one term at a time: each position in turn takes the column that, with
    the others, leaves the least of ``r``, while that lowers the residual."""
    chosen = list(subset)

    def residual(columns: list[int]) -> tuple[np.ndarray, np.ndarray]:
        Q, _ = np.linalg.qr(C[:, columns])
        return Q, r - Q @ (Q.T @ r)

    res = residual(chosen)[1]
    current = float(res @ res)
    for _ in range(sweeps):
        moved = False
        for p in range(len(chosen)):
            others = chosen[:p] + chosen[p + 1:]
            Q, res = residual(others)
            gain = added_gain(Q, C, res, others)[0]
            best = int(np.argmax(gain))
            rss = float(res @ res) - float(gain[best])
            if best != chosen[p] and rss < current * (1 - 1e-6):
                chosen[p], current, moved = best, rss, True
        if not moved:
            break
    return tuple(chosen)


def triple_sums(terms: Sequence[Term], y: np.ndarray, few: Sequence[int], seed: int = 0,
                deadline: float = math.inf) -> list[tuple[int, ...]]:
    """Index sets into ``terms``: the ``KEEP`` best sums of three of the first ``MAX_TERMS`` of
    ``few`` (few-node terms, fewest nodes first), each then improved by swaps over all ``terms``."""
    few = list(few)[:MAX_TERMS]
    if len(few) < 3:
        return []
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), ROWS, replace=False) if len(y) > ROWS else np.arange(len(y))
    r = y[idx] - y[idx].mean()
    triples = best_triples(_unit_columns([terms[i].values for i in few], idx), r, KEEP, deadline)
    C = _unit_columns([t.values for t in terms], idx)
    out: list[tuple[int, ...]] = []
    for triple in triples:
        start = tuple(few[q] for q in triple)
        out.append(start)
        if time.perf_counter() < deadline:
            out.append(swapped(C, r, start))
    return list(dict.fromkeys(tuple(sorted(s)) for s in out))
