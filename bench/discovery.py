"""Discovery benchmark: does symfx find laws it was never tuned on, from networks as accurate as users' are?

For every law of the chosen families (bench/laws.py: Nguyen, Keijzer, Livermore, Vladislavleva,
Strogatz ODE right-hand sides, and seeded random laws): train a 2x64 SiLU MLP on the law's box until
its held-out error vs the law reaches a target picked from {0.1 %, 0.3 %, 1 %, 3 %} by hash of the
law's name (bench/recovery.py's ``train_mlp``; weights cached in ``.symfx-cache/bench-mlp``), distil
it with ``symfx.compile`` and judge the result against the TRUE law on the 1.5x wider box
(``recovery.judge``). Outcomes per law:

- ``recovered``: the applied equation's wide-box normalized RMSE vs the law is < 1e-2;
- ``found_not_applied``: no equation applied, but a region left neural reports the law: the
  equation it prints (``d.exprs``, its best law) is within 1e-2 of the law. A law that is only a
  member of its front is not found (the reader is shown the other equation); ``law_on_front``
  counts those. Until session 23 a front member counted too (19 of 470 laws in session 22's runs);
- ``mimic``: an equation was applied and it is not the law on the wide box;
- ``left_neural``: nothing applied, nothing found.

The discovery rate is ``law_found`` = recovered + found_not_applied: whether symfx found the law.
``law_found_learned`` (the table's "learned" column, with its count of laws) is the same rate over
the laws whose network learned them (held-out error < ``FAILED_NETWORK`` = 10 %, 3x the largest
target); the others stay in every other count and in ``networks_failed``.
Whether it then rewrites the graph is the tolerance's decision (a 3 %-network's law is 3 % off the
network, so at ``tolerance=1e-2`` the right answer is "found, not applied"), reported apart.

Besides: ``recovered_2eps`` (wide-box error < max(1e-2, 2 x the network's error): a correct form
whose constants absorbed the network's own error; reported, not counted as recovered, since a smooth
mimic of a 3 %-network can also stay within 6 % on a box only 1.5x wider), ``law_on_front`` (a
diagnostic: some front member is the law, read from the public front or, for regions left neural
today, from the module's private fit records), and ``unreadable`` (``laws.unreadable_constants`` of
every printed equation, at full precision as ``sm.distilled[i].exprs`` holds it). ``value_gaps``
counts the laws not found whose exact form would lose the knee rule to the member chosen
(``knee_check``: the law's error vs the network is the network's own error vs the law): the law
is no answer this network supports, whatever the search finds. ``dominated`` counts the misses
whose law is beaten on both counts (:func:`dominated`: the member chosen is no larger and closer to
the network than the law): no rule that prefers shorter and more accurate equations reports those
laws, so ``1 - dominated / n`` bounds a family's law-found rate. ``skeleton_on_front`` (misses only;
``skeleton_gaps`` counts them): a front member has the law's structure with other constants
(:func:`skeleton_on_front`): a constant gap, where the network's error moved the constants off
their exact values, rather than a structure gap.

    .venv/bin/python bench/discovery.py                                  # everything, writes bench/results/discovery.json
    .venv/bin/python bench/discovery.py --family nguyen,random --limit 2 --time-budget 5 --out /tmp/d.json
    .venv/bin/python bench/discovery.py --workers 2                      # laws in 2 processes
    .venv/bin/python bench/discovery.py --report bench/results/discovery-*.json  # tables of saved runs

A miss is read with `bench/front.py LAW[,LAW]`: every front member vs the network and vs the law.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sympy  # noqa: E402

import laws as law_families  # noqa: E402
import recovery  # noqa: E402
from recovery import ROOT, Law, judge  # noqa: E402

ALL_FAMILIES = ("nguyen", "keijzer", "livermore", "vlad", "strogatz", "random")
OUTCOMES = ("recovered", "found_not_applied", "mimic", "left_neural")
THRESHOLD = 1e-2  # wide-box normalized RMSE vs the true law
#: a network this far (normalized RMSE, training box) from its law did not learn it: 3x the largest
#: accuracy target (3 %). Its laws stay in every count; ``law_found_learned`` leaves them out
FAILED_NETWORK = 0.1
#: compile seed of repeat r: seed + r * this (far from the seeds the bench uses for rows: seed + 2, + 3)
REPEAT_SEED_STEP = 1000
APPLIED_STATUS = {"symbolic", "applied", "active", "distilled", "recovered"}
WIDTH, ITERS = 64, 3000  # the network: 2 x WIDTH SiLU, at most ITERS L-BFGS iterations


# ---------------------------------------------------------------------------------------------
# reading a SymbolicModule (today's API and the announced one, by getattr)
# ---------------------------------------------------------------------------------------------

def exprs_in(obj: Any) -> list[sympy.Expr]:
    """Every expression held by a front or front member: FrontEntry-like objects (``.expr``),
    ``(expr, complexity, loss, ...)`` tuples, bare expressions, and nested lists of those."""
    if obj is None:
        return []
    if isinstance(obj, sympy.Basic):
        return [obj]
    e = getattr(obj, "expr", None)
    if isinstance(e, sympy.Basic):
        return [e]
    if isinstance(obj, (list, tuple)) and obj:
        if isinstance(obj[0], sympy.Basic) and not all(isinstance(o, sympy.Basic) for o in obj):
            return [obj[0]]  # one (expr, complexity, loss, nrmse, safe) member
        return [x for o in obj for x in exprs_in(o)]
    return []


def read_module(sm: Any) -> dict[str, Any]:
    """Applied equations, laws reported for regions left neural, and front members, from ``sm``."""
    applied: list[sympy.Expr] = []
    reported: list[sympy.Expr] = []  # the law each region left neural reports (``d.exprs``)
    front: list[sympy.Expr] = []  # every front member the public API shows
    statuses = []
    for d in getattr(sm, "distilled", None) or []:
        status = getattr(d, "status", None)
        statuses.append(status)
        is_applied = (status in APPLIED_STATUS) if status is not None else bool(getattr(d, "active", True))
        exprs = list(getattr(d, "exprs", None) or [])
        members = exprs_in(getattr(d, "front", None))
        front += members
        if is_applied:
            applied += exprs[:1]
        else:
            reported += exprs[:1]
    private = []  # today's rejected fits: a diagnostic only, never an outcome
    for fit in (getattr(sm, "_fits", None) or {}).values():
        private += exprs_in(getattr(fit, "fronts", None))
    return {"applied": applied, "reported": reported, "front": front, "private_front": private,
            "statuses": statuses, "skipped": [f"{w}: {r}"[:160] for w, r in getattr(sm, "skipped", [])]}


def _first_law(exprs: list[sympy.Expr], law: Law, seed: int) -> tuple[sympy.Expr | None, float]:
    """The first expression within THRESHOLD of the law on the wide box, else the closest one."""
    best, best_err = None, math.inf
    for e in exprs:
        err = judge(e, law, seed)
        if err < THRESHOLD:
            return e, err
        if err < best_err:
            best, best_err = e, err
    return best, best_err


#: skeleton_on_front refits at most this many front members, the fewest operations first
SKELETON_MEMBERS = 30


def _free_constants(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every number but 0, 1, -1 and exponents written as a Float (a free constant)."""
    if expr.is_Number:
        return expr if expr in (0, 1, -1) else sympy.Float(expr)
    if expr.is_Pow:
        return sympy.Pow(_free_constants(expr.base), expr.exp)
    if expr.args:
        return expr.func(*[_free_constants(a) for a in expr.args])
    return expr


def skeleton_on_front(members: list[sympy.Expr], law: Law, seed: int) -> bool:
    """Whether a front member has the law's structure up to its constants: refitted to the true law
    on the training box, it is within ``THRESHOLD`` of the law on the wide box (a mimic's optimum
    there does not extrapolate). A miss with the skeleton on its front is a constant gap (the
    network's error moved the constants off their exact values), one without it a structure gap."""
    import numpy as np
    from symfx.engines import snap

    X = recovery.sample_box(law.box, 1000, np.random.default_rng(seed + 4))
    truth = recovery.law_values(law, X)
    env = snap.env_of(list(sympy.symbols(f"x0:{law.n_inputs}")), X)
    for expr in sorted(set(members), key=lambda e: (sympy.count_ops(e), str(e)))[:SKELETON_MEMBERS]:
        free = _free_constants(expr)
        floats = sorted(free.atoms(sympy.Float), key=str)
        if not floats or len(floats) > 10:
            continue
        template = snap._Template(free, env, truth, floats)
        theta = template.fit(template.theta.copy(), list(range(len(floats))), 100, math.inf)
        if judge(template.build({}, theta), law, seed) < THRESHOLD:
            return True
    return False


def classify(sm: Any, law: Law, seed: int, net_err: float) -> dict[str, Any]:
    seen = read_module(sm)
    row: dict[str, Any] = {"statuses": seen["statuses"], "skipped": seen["skipped"]}
    printed: list[sympy.Expr] = []
    if seen["applied"]:
        expr = seen["applied"][0]
        err = judge(expr, law, seed)
        row["outcome"] = "recovered" if err < THRESHOLD else "mimic"
        printed.append(expr)
    else:
        expr, err = _first_law(seen["reported"], law, seed)
        row["outcome"] = "found_not_applied" if err < THRESHOLD else "left_neural"
        if seen["reported"]:
            printed.append(seen["reported"][0])
    row["error_wide"] = err if math.isfinite(err) else None
    row["recovered_2eps"] = bool(seen["applied"]) and err < max(THRESHOLD, 2 * net_err)
    row["equation"] = str(printed[0]) if printed else None
    row["equation_rounded"] = str(recovery.round_expr(printed[0])) if printed else None
    row["unreadable"] = [c for e in printed for c in law_families.unreadable_constants(e)]
    # diagnostic: was the law anywhere on a front (search found it, selection did not keep it)?
    source = "public" if seen["front"] else ("private" if seen["private_front"] else None)
    members = seen["front"] or seen["private_front"]
    row["law_on_front"] = None if source is None else _first_law(members, law, seed)[1] < THRESHOLD
    row["front_source"] = source
    row["front_size"] = len(members)
    missed = row["outcome"] not in ("recovered", "found_not_applied")
    row["skeleton_on_front"] = skeleton_on_front(members, law, seed) if missed and members else None
    row.update(knee_check(sm, law, net_err))
    return row


def knee_check(sm: Any, law: Law, net_err: float) -> dict[str, Any]:
    """Would the knee rule pick the exact law over the member it chose, were the law on the front?

    The law's error vs the network is taken as the network's own error vs the law (``net_err``)
    and its size as the readable size of its shortest writing (as the engine sizes its members:
    ``forms.shortest_written_form``; ``(x0**2 + 2*x0)/x0`` is ``x0 + 2``); the chosen member's as
    the front reports them. False means a value gap, not a search or selection gap: on this network
    a shorter or closer member beats the law by the documented rule (``ln e + 0.2 s``), so no search
    can make it the answer.
    """
    from symfx.engines.base import knee_score, readable_size
    from symfx.engines.forms import shortest_written_form

    out: dict[str, Any] = {"law_size": readable_size(shortest_written_form(law.expr)), "chosen_nrmse": None, "chosen_size": None,
                           "knee_prefers_law": None}
    for d in getattr(sm, "distilled", None) or []:
        fronts, exprs = getattr(d, "front", None), getattr(d, "exprs", None)
        chosen = exprs[0] if exprs else None
        member = next((m for m in (list(fronts[0]) if fronts else []) if getattr(m, "expr", None) == chosen), None)
        error = getattr(member, "nrmse", None)
        if error is None or not math.isfinite(error):
            continue
        out["chosen_nrmse"], out["chosen_size"] = float(error), readable_size(member.expr)
        out["knee_prefers_law"] = knee_score(net_err, out["law_size"]) < knee_score(member.nrmse, out["chosen_size"])
        break
    return out


# ---------------------------------------------------------------------------------------------
# one law, end to end
# ---------------------------------------------------------------------------------------------

def run_law(family: str, index: int, seed: int, n_random: int, options: dict[str, Any],
            repeat: int = 0, tell_network_error: float = 0.0, accuracy: float | None = None) -> dict[str, Any]:
    """One law end to end. ``repeat`` > 0 keeps the law, its network and the judge's rows and changes
    only the compile (its calibration rows and the engine's seed): how much of an outcome is luck.
    ``tell_network_error`` > 0 passes the network's error on its training box (what a user reads as
    the validation error of a network trained on noise-free data), times that factor, as
    ``Config.network_error``. ``accuracy`` trains every network to that normalized RMSE instead of
    the law's own target from the spread (``laws.accuracy_target``): what the engine finds from
    networks that accurate, the same laws and seeds."""
    import torch

    torch.set_num_threads(1)  # the machine is small and shared; the engine gets the cores
    warnings.filterwarnings("ignore", message="symfx: no region was replaced")
    law = law_families.laws_of(family, seed, n_random)[index]
    target = accuracy if accuracy else law_families.accuracy_target(law.name)
    t = time.perf_counter()
    model, net_err = recovery.train_mlp(law, seed, width=WIDTH, iters=ITERS, target=target)
    train_s = time.perf_counter() - t
    net_wide = recovery.network_error(model, law, seed + 3, widen=law_families.JUDGE_WIDEN)
    if tell_network_error:
        options = {**options, "network_error": min(tell_network_error * net_err, 0.99)}
    sm, seconds = recovery.compile_law(model, law, options, seed + REPEAT_SEED_STEP * repeat)
    row = {
        "family": family, "law": law.name, "repeat": repeat, "truth": str(law.expr), "inputs": law.n_inputs,
        "box": [list(b) for b in law.box], "target_nrmse": target, "net_nrmse": net_err,
        "net_nrmse_wide": net_wide if math.isfinite(net_wide) else None,
        "seconds": round(seconds, 2), "train_or_load_seconds": round(train_s, 2),
    }
    row.update(classify(sm, law, seed, net_err))
    return row


def dominated(row: dict[str, Any]) -> bool:
    """A law not found whose exact form is dominated on this network: the member chosen is no larger
    (``readable_size``) and closer to the network than the law is (the network's own error vs the
    law). No selection rule that prefers shorter and more accurate equations reports the law from
    such a network, whatever the search finds: it bounds the law-found rate of the family. Read from
    the saved row (``knee_check``'s fields), so saved runs are recounted too."""
    return (row["outcome"] not in ("recovered", "found_not_applied") and row.get("chosen_size") is not None
            and row["chosen_size"] <= row["law_size"] and row["chosen_nrmse"] < row["net_nrmse"])


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    out: dict[str, Any] = {"n": n}
    for o in OUTCOMES:
        out[o] = sum(r["outcome"] == o for r in rows)
    # the discovery rate: the law was found, whether or not the rewrite applied it (a 3 %-network's
    # law is 3 % off that network, so at tolerance 1e-2 it is reported, correctly, "not applied")
    out["law_found"] = out["recovered"] + out["found_not_applied"]
    # ... and among the networks that learned their law (a network 65 % off it is not a network of
    # that law: no equation of the law can be within tolerance of it, nor found from it)
    learned = [r for r in rows if r["net_nrmse"] < FAILED_NETWORK]
    out["networks_failed"] = n - len(learned)
    out["law_found_learned"] = sum(r["outcome"] in ("recovered", "found_not_applied") for r in learned)
    out["recovered_2eps"] = sum(r["recovered_2eps"] for r in rows)
    known = [r for r in rows if r["law_on_front"] is not None]
    out["law_on_front"] = sum(bool(r["law_on_front"]) for r in known)
    out["median_seconds"] = statistics.median(r["seconds"] for r in rows) if rows else 0.0
    out["unreadable_constants"] = sum(len(r["unreadable"]) for r in rows)
    # misses whose front holds the law's structure with other constants (constant gaps)
    out["skeleton_gaps"] = sum(bool(r.get("skeleton_on_front")) for r in rows)
    # laws not found whose exact form would still lose the knee to the chosen member: value gaps
    out["value_gaps"] = sum(r["outcome"] not in ("recovered", "found_not_applied") and r.get("knee_prefers_law") is False
                            for r in rows)
    out["dominated"] = sum(dominated(r) for r in rows)
    # with --repeats, rows are (law, repeat) pairs and the shares above are averages over repeats;
    # these say how many laws were found in every repeat and in at least one
    found: dict[str, list[bool]] = {}
    for r in rows:
        found.setdefault(r["law"], []).append(r["outcome"] in ("recovered", "found_not_applied"))
    out["laws"] = len(found)
    out["found_every_repeat"] = sum(all(f) for f in found.values())
    out["found_some_repeat"] = sum(any(f) for f in found.values())
    return out


def table(summary: dict[str, dict[str, Any]]) -> str:
    head = (f"{'family':10s} {'n':>4s} {'found %':>8s} {'learned':>11s} {'recov %':>8s} {'found-NA %':>10s} {'mimic %':>8s} {'neural %':>8s}"
            f" {'rec<=2e %':>9s} {'on-front %':>10s} {'med s/out':>9s} {'unreadable':>10s} {'value gaps':>10s}"
            f" {'skeleton gaps':>13s} {'dominated':>9s} {'found every/some/laws':>21s}")
    lines = [head, "-" * len(head)]
    for fam, s in summary.items():
        pct = (lambda k: 100.0 * s[k] / s["n"]) if s["n"] else (lambda k: 0.0)
        learned = s["n"] - s["networks_failed"]
        found_learned = f"{100.0 * s['law_found_learned'] / learned:.0f} ({learned})" if learned else "-"
        lines.append(f"{fam:10s} {s['n']:4d} {pct('law_found'):8.0f} {found_learned:>11s} {pct('recovered'):8.0f} {pct('found_not_applied'):10.0f}"
                     f" {pct('mimic'):8.0f} {pct('left_neural'):8.0f} {pct('recovered_2eps'):9.0f}"
                     f" {pct('law_on_front'):10.0f} {s['median_seconds']:9.1f} {s['unreadable_constants']:10d}"
                     f" {s['value_gaps']:10d} {s.get('skeleton_gaps', 0):13d} {s.get('dominated', 0):9d}"
                     f" {s['found_every_repeat']:>11d}/{s['found_some_repeat']}/{s['laws']}")
    return "\n".join(lines)


#: network-error bands (normalized RMSE of the network vs its law on fresh rows) for the report by
#: network quality: the law found in most of the laws of the best networks and in far fewer of the
#: worst is the signature of selection among mimics of the network's own error, not of search alone
NET_BANDS = (0.0, 0.005, 0.015, 0.05, math.inf)


def by_network(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per network-error band: laws, laws found, and of the misses, those with the law on the front
    and those whose exact law would have won the knee (``knee_prefers_law``: a search gap)."""
    out = []
    for lo, hi in zip(NET_BANDS, NET_BANDS[1:]):
        band = [r for r in rows if lo <= r["net_nrmse"] < hi]
        missed = [r for r in band if r["outcome"] not in ("recovered", "found_not_applied")]
        out.append({"net_from": lo, "net_to": hi, "laws": len(band), "law_found": len(band) - len(missed),
                    "missed_law_on_front": sum(bool(r["law_on_front"]) for r in missed),
                    "missed_knee_prefers_law": sum(r.get("knee_prefers_law") is True for r in missed),
                    "missed_value_gap": sum(r.get("knee_prefers_law") is False for r in missed)})
    return out


def network_table(bands: list[dict[str, Any]]) -> str:
    head = (f"{'network error':>15s} {'laws':>5s} {'found':>6s} {'found %':>8s} {'missed':>7s} "
            f"{'of them: law would win the knee':>32s} {'value gap':>10s} {'law on front':>13s}")
    lines = [head, "-" * len(head)]
    for b in bands:
        hi = "" if math.isinf(b["net_to"]) else f"{100 * b['net_to']:g}"
        span = f"{100 * b['net_from']:g}-{hi} %" if hi else f">= {100 * b['net_from']:g} %"
        pct = f"{100.0 * b['law_found'] / b['laws']:.0f}" if b["laws"] else "-"
        lines.append(f"{span:>15s} {b['laws']:5d} {b['law_found']:6d} {pct:>8s} {b['laws'] - b['law_found']:7d} "
                     f"{b['missed_knee_prefers_law']:32d} {b['missed_value_gap']:10d} {b['missed_law_on_front']:13d}")
    return "\n".join(lines)


def strict_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A saved run's rows under today's rule for "found, not applied" (the region prints the law):
    runs before session 23 also counted a law that was only a member of the front. Such a row is
    recounted as ``left_neural`` when its printed equation is not within ``THRESHOLD`` of its law."""
    laws = {law.name: law for fam in ALL_FAMILIES
            for law in law_families.laws_of(fam, data["seed"], data.get("random_laws", 100))}
    out = []
    for row in data["laws"]:
        if row["outcome"] == "found_not_applied":
            expr = sympy.sympify(row["equation"]) if row["equation"] else None
            if expr is None or not judge(expr, laws[row["law"]], data["seed"]) < THRESHOLD:
                row = {**row, "outcome": "left_neural"}
        out.append(row)
    return out


def report(paths: list[str]) -> int:
    """The tables of saved results (``--out`` files): each file's per-family table, then all their
    laws by network error, recounted by today's "found" rule (:func:`strict_rows`)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        trained = f", every network trained to {data['accuracy']:g}" if data.get("accuracy") else ""
        print(f"{path} (seed {data['seed']}, budget {data['time_budget']:g} s{trained})")
        strict = strict_rows(data)
        families = list(dict.fromkeys(r["family"] for r in strict))
        summary = {fam: summarize([r for r in strict if r["family"] == fam]) for fam in families}
        summary["all"] = summarize(strict)
        print(table(summary))
        print()
        rows += strict
    print(f"all {len(rows)} laws of {len(paths)} file(s), by network error vs the law (fresh rows):")
    print(network_table(by_network(rows)))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", default=",".join(ALL_FAMILIES), help=f"comma list of {', '.join(ALL_FAMILIES)}")
    ap.add_argument("--limit", type=int, default=None, help="only the first N laws of each family")
    ap.add_argument("--only", help="comma-separated substrings of law names")
    ap.add_argument("--time-budget", type=float, default=20.0, help="SR seconds per output (Config's default: 20)")
    ap.add_argument("--seed", type=int, default=0, help="training, compile and random-law seed")
    ap.add_argument("--random-laws", type=int, default=100, help="how many random laws the seed generates")
    ap.add_argument("--repeats", type=int, default=1, help="compile every law this many times with different "
                    "engine seeds and calibration rows (same network): shares become averages over repeats")
    ap.add_argument("--workers", type=int, default=1, help="laws in parallel processes")
    ap.add_argument("--engine-options", default="{}", help="JSON dict passed as Config.engine_options")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "discovery.json"))
    ap.add_argument("--shared", action="store_true", help="note in the results that the machine was shared")
    ap.add_argument("--cache-dir", default="", help="fit cache (default: none). With one, a rerun reuses the "
                    "engine's fronts and re-judges only selection (times are then cache reads, not fits)")
    ap.add_argument("--tell-network-error", nargs="?", type=float, const=1.0, default=0.0, metavar="SCALE",
                    help="pass each network's error on its training box (times SCALE, default 1: how a "
                    "misjudged error does) as Config.network_error (the knee then floors errors at 0.8x it)")
    ap.add_argument("--accuracy", type=float, default=None, metavar="NRMSE",
                    help="train every network to this normalized RMSE vs its law (e.g. 0.001) instead of the "
                    "per-law spread of 0.1/0.3/1/3 %%: how much of a miss is the network's error")
    ap.add_argument("--report", nargs="+", metavar="FILE", help="print the tables of saved results (no run)")
    args = ap.parse_args(argv)
    if args.report:
        return report(args.report)

    families = [f.strip() for f in args.family.split(",") if f.strip()]
    jobs: list[tuple[str, int, Law]] = []  # then (family, index, law, repeat)
    for fam in families:
        laws = law_families.laws_of(fam, args.seed, args.random_laws)
        picked = [(fam, i, law) for i, law in enumerate(laws)]
        if args.only:
            keys = args.only.split(",")
            picked = [p for p in picked if any(k in p[2].name for k in keys)]
        jobs += picked[: args.limit] if args.limit is not None else picked
    jobs = [(fam, i, law, r) for r in range(args.repeats) for fam, i, law in jobs]
    options = {"time_budget": args.time_budget, "cache_dir": args.cache_dir,
               "engine_options": json.loads(args.engine_options)}
    machine = recovery.machine()
    print(f"{len(jobs) // args.repeats} laws x {args.repeats} repeat(s), budget {args.time_budget:g} s per output, {args.workers} worker(s), "
          f"load average {machine['load']}", flush=True)
    print(f"{'law':26s} {'outcome':17s} {'err':>8s} {'net':>7s} {'s':>5s}  equation", flush=True)

    def show(row: dict[str, Any]) -> None:
        err = row["error_wide"] if row["error_wide"] is not None else math.inf
        eq = row["equation_rounded"] or "(none)"
        name = row["law"] + (f" #{row['repeat']}" if row["repeat"] else "")
        print(f"{name:26s} {row['outcome']:17s} {err:8.1e} {row['net_nrmse']:7.1e} {row['seconds']:5.1f}  "
              f"{eq[:90]}", flush=True)

    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if args.workers <= 1:
        for fam, i, _, rep in jobs:
            rows.append(run_law(fam, i, args.seed, args.random_laws, options, rep, args.tell_network_error,
                                args.accuracy))
            show(rows[-1])
    else:
        import multiprocessing

        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_law, fam, i, args.seed, args.random_laws, options, rep, args.tell_network_error,
                                   args.accuracy)
                       for fam, i, _, rep in jobs]
            for fut in futures:
                rows.append(fut.result())
                show(rows[-1])
    wall = time.perf_counter() - t0

    summary = {fam: summarize([r for r in rows if r["family"] == fam]) for fam in families}
    summary["all"] = summarize(rows)
    print()
    print(table(summary))
    print()
    print(network_table(by_network(rows)))
    print(f"\nwall time {wall / 60:.1f} min; outcomes judged against the true law on the "
          f"{law_families.JUDGE_WIDEN}x box (nrmse < {THRESHOLD:g})")
    result = {
        "time_budget": args.time_budget, "seed": args.seed, "repeats": args.repeats, "families": families, "limit": args.limit,
        "only": args.only, "random_laws": args.random_laws, "workers": args.workers,
        "tell_network_error": args.tell_network_error, "accuracy": args.accuracy,
        "engine_options": options["engine_options"], "network": f"2x{WIDTH} SiLU, L-BFGS to a target, <= {ITERS} it",
        "threshold": THRESHOLD, "wall_seconds": round(wall, 1),
        "machine": {**machine, "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
                    "shared_with_other_jobs": bool(args.shared)},
        "summary": summary, "by_network": by_network(rows), "laws": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
