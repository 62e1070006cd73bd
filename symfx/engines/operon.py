"""The embedded default engine: a fast sparse-regression pass, then pyoperon, then snapping.

Per output, with work set by ``options.time_budget`` (no time limit unless ``deterministic=False``):

1. ``basis``: sparse linear regression over generated terms (including derived variables such as
   ``r = sqrt(x0**2 + x1**2)``) and log-space power laws — finds many laws in well under a second.
2. pyoperon (C++ NSGA-2 genetic programming) on the inputs plus the pairwise norms, for what the
   library cannot express. Derived columns are substituted back afterwards.
3. Every candidate gets its constants refitted in float64 and snapped to simple numbers
   (``snap``) while the loss stays within an allowance derived from ``options.tolerance``; then
   every constant left is written with the fewest significant digits (at most 4) that keep the
   loss within that allowance (``precision.precision``).

The merged candidates are reduced to one Pareto front per output (complexity = node count).
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import sympy

from ..errors import EngineUnavailableError
from ..lowering import SEARCH_OPS, complexity
from . import (additive, basis, derived, exact_sums, factored, families, forms, lattice, phases, precision, rationals,
               readable, refine, snap, transformed, triples)
from .base import KNEE_TOLERANCE_WINDOW, Candidate, Front, ProgressFn, pareto
from .nested import nested_terms, root_terms
from .operon_tree import names_by_hash, seed_population, tree_to_sympy

if TYPE_CHECKING:
    from ..config import Config

# Config's engine-neutral operator names → Operon's symbol names: Operon spells them alike
_OPERON_SYMBOLS = {name: name for name in SEARCH_OPS}

#: Defaults of the engine-specific options (override through ``Config.engine_options``).
DEFAULTS: dict[str, Any] = {
    "fast_pass": True,  # sparse regression over generated terms before GP
    "derived": True,  # pairwise norms (and differences for the fast pass) as extra columns
    "gp": True,  # run pyoperon at all
    "skip_gp_below": 0.0,  # skip GP when the fast pass is already this accurate (normalized RMSE)
    "snap": True,  # float64 refit + snapping of constants
    "max_terms": 4,  # terms of the sparse pass
    "beam": 8,
    # the few-node search's beam (<= 400 terms, so a wider beam is cheap): at 8 it missed
    # cos(x0*x1) + cos(x0 + x1) - 3*x0/x1 - 15/x1 + 3/4 behind 1/(x1*(1 + exp(-x0))) mimics
    "few_beam": 16,
    # fits of each term count that are snapped and offered to the front, most accurate first. A
    # network 3 % off its law ranks the law's terms below mimics of its error ({x0, cos(x1)} was 5th
    # of its size); snapping is least squares on <= 1000 rows, so all of the beam's are offered
    "snap_per_size": 8,
    # rows Operon sees. Its cost is linear in rows, and it only proposes structures: every member's
    # constants are refitted in float64 on 1000 rows afterwards. 250 rows and twice the generations
    # found more laws in less time (random laws: 60 -> 70 % and 65 -> 70 %, median 11.7 -> 7.8 s)
    "gp_rows": 250,
    "population_size": 1000,
    "generations_per_second": 8.0,  # deterministic generation cap = this * GP seconds
    "chunk_generations": 5,  # GP runs in warm-started chunks of this many generations ...
    "patience": 2,  # ... and stops after this many chunks without the front improving
    # where nothing the fast pass found is within tolerance, the GP is the search left: this population,
    # patience and multiple of the usual search's evaluations (its nominal time grows with it)
    "hard_population_size": 2000,
    "hard_patience": 4,
    "hard_effort": 2.0,
    # the fast pass's front (its smallest members first) seeded into the GP after its first chunk
    "gp_seeds": 32,
    "postprocess": 24,  # refit/snap up to this many GP members within 10x tolerance, smallest first
    "refine": 4,  # local structure search on this many of the members the knee rule weighs (0: none)
    # no time safety net: every stage ends on its counts, the same seed gives the same equations on any load
    "deterministic": True,
}


#: polishing's and the GP's time safety nets, as multiples of the budget and the GP's share (step 3, ``_gp``)
POLISH_SAFETY, GP_SAFETY = 2.0, 2.0
#: below this budget the GP does not run after the fast pass (decided by the budget alone, not by
#: the time the fast pass happened to take, so a busy machine does not switch it on or off)
SMALL_BUDGET_S = 4.0
#: with ``deterministic=False``, the time safety nets measure from at least this budget (a 1-input
#: fit's counts take ~4.5 s, so at a 1 s budget the nets bind even on an idle machine)
NET_FLOOR_S = 2.0


def _single_threaded_blas() -> Any:
    """Our numpy work is many small solves; multithreaded OpenBLAS makes each ~100x slower on a
    busy machine (threads spin-waiting), so it runs on one BLAS thread. Operon has its own pool."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn, a pyoperon dependency
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


class OperonEngine:
    name = "operon"

    def __init__(self) -> None:
        import importlib.util

        # the GP stage's module (it pulls in scikit-learn, ~1.7 s) is imported when a GP runs
        if importlib.util.find_spec("pyoperon") is None:  # pragma: no cover - a hard dependency
            raise EngineUnavailableError("pyoperon is not installed; reinstall symfx or `pip install pyoperon`.")
        #: per-output timings and stage notes of the last fit (for benchmarks and reports)
        self.last_stats: list[dict[str, Any]] = []

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        variables: Sequence[str],
        options: "Config",
        progress: ProgressFn | None = None,
    ) -> list[Front]:
        X = np.ascontiguousarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
        settings = {**DEFAULTS, **dict(options.engine_options)}
        fronts = []
        self.last_stats = []
        for j in range(Y.shape[1]):
            stats: dict[str, Any] = {}
            with _single_threaded_blas():
                fronts.append(self._fit_one(X, Y[:, j], list(variables), options, settings, stats))
            self.last_stats.append(stats)
            if progress is not None:
                progress(j + 1, Y.shape[1])
        return fronts

    # ------------------------------------------------------------------
    def _fit_one(self, X, y, variables, options, settings, stats) -> Front:
        start = time.perf_counter()
        budget = float(options.time_budget)
        # the time safety nets measure from this (none when deterministic)
        net_budget = math.inf if settings["deterministic"] else max(budget, NET_FLOOR_S)
        symbols = [sympy.Symbol(v) for v in variables]
        env = snap.env_of(symbols, X)
        mean = float(np.mean(y))
        var = float(np.var(y))
        candidates = [Candidate(sympy.Float(mean), 1, var)]
        if np.std(y) <= 1e-12 * max(1.0, abs(mean)):
            return pareto(candidates)
        ops = frozenset(options.operators)
        tol = float(options.tolerance)
        rng = np.random.default_rng(options.seed)
        # rows for refitting and snapping: enough to pin constants, few enough to be quick
        sub = rng.choice(len(y), min(len(y), 1000), replace=False) if len(y) > 1000 else np.arange(len(y))
        env_sub = snap.env_of(symbols, X[sub])
        y_sub = y[sub]

        all_bases = derived.bases(X, variables) if settings["derived"] and X.shape[1] >= 2 else derived.bases(
            X, variables, norms=False, differences=False)
        exprs: list[sympy.Expr] = []  # GP results, to be refitted and snapped
        ready: list[sympy.Expr] = []  # fast-pass results: already float64 least squares + snapped

        # 1. fast pass ------------------------------------------------------
        if settings["fast_pass"]:
            # the fast pass may use up to 3/4 of the budget (GP and polishing share the rest)
            fast_deadline = start + 0.75 * net_budget
            snapped, rough = self._fast_pass(all_bases, y, ops, tol, var, settings, rng, fast_deadline, stats,
                                             snap_deadline=start + POLISH_SAFETY * net_budget)
            ready += snapped
            exprs += rough  # sums with one structured part: polished below
            exprs += families.power_laws(all_bases, y)  # one float constant each: polished below
            exprs += rationals.rational_fits(all_bases, y)
            # structure families that a sum of library terms can only mimic
            exprs += _rough_front(rationals.rational_nullspace(all_bases, y, deadline=start + 0.6 * net_budget),
                                  env_sub, y_sub)
            exprs += families.separable_products(all_bases, y, ops, seed=int(options.seed))
            exprs += families.pair_separable_products(all_bases, y, ops, seed=int(options.seed))
            exprs += phases.phase_laws(all_bases, y, ops, _knee_mse(var, tol))
        stats["fast_s"] = time.perf_counter() - start
        fast_losses = [(snap.mse_of(e, env_sub, y_sub), e) for e in ready + exprs]
        best_fast = min((loss for loss, _ in fast_losses), default=math.inf)
        stats["fast_nrmse"] = math.sqrt(best_fast / var) if math.isfinite(best_fast) else None

        # 2. genetic programming (its cap is nominal; the time left only widens its safety net)
        gp_time = max(1.0, budget - (time.perf_counter() - start) - 0.25 * budget)
        skip = settings["skip_gp_below"] > 0 and best_fast <= var * settings["skip_gp_below"] ** 2
        # (without the fast pass the GP is the whole search: it runs whenever its share is 1 s)
        room = budget >= SMALL_BUDGET_S if settings["fast_pass"] else 0.75 * budget >= 1.0
        if settings["gp"] and not skip and room:
            t_gp = time.perf_counter()
            # the generation cap comes from the budget, not the fast pass's time: same seed, same front
            nominal = 0.75 * budget  # the GP's share when the fast pass is quick (the rest is for polishing)
            if settings["fast_pass"] and best_fast > var * tol**2:  # the search left is the GP's
                hard, per_second = settings["hard_population_size"], settings["generations_per_second"]
                settings = {**settings, "population_size": hard, "patience": settings["hard_patience"],
                            "generations_per_second": per_second * settings["population_size"] / hard}
                nominal *= float(settings["hard_effort"])
            seeds = _rough_front([e for _, e in fast_losses], env_sub, y_sub, [loss for loss, _ in fast_losses])
            gp_exprs = self._gp(X, y, variables, all_bases, options, settings, gp_time, rng, stats, nominal,
                                seeds=seeds[:int(settings["gp_seeds"])])
            stats["gp_s"] = time.perf_counter() - t_gp
            stats["gp_front"] = len(gp_exprs)
            # every member within 10x tolerance is worth refitting and snapping, the smallest first
            # (the law is usually the small one; long mimics are slow to snap and rarely chosen)
            gp_exprs = [snap.tidy(forms.merge_constants(e)) for e in gp_exprs]
            cap = int(settings["postprocess"]) or len(gp_exprs)
            near = sorted((e for e in gp_exprs if snap.mse_of(e, env_sub, y_sub) <= var * (10 * tol) ** 2),
                          key=complexity)[:cap]
            exprs += near
            rest = [e for e in gp_exprs if e not in set(near)]
        else:
            rest = []
            stats["gp_s"] = 0.0

        # 3. refit + snap ---------------------------------------------------
        t_post = time.perf_counter()
        # bounded by count; the net is a budget's time at least from now (a GP slowed to 56 s left vlad-1 unsnapped)
        deadline = max(start + POLISH_SAFETY * net_budget, t_post + net_budget)
        seen: set[sympy.Expr] = set()
        forced = 0
        polished = [c for e in exprs for c in self._polish(e, env_sub, y_sub, var, tol, settings, deadline)]
        # the fast pass's sums are snapped already; unpolished GP members and the mean are not
        raw = [(e, None) for e in ready + rest + [sympy.Float(mean)]]
        # only the unrounded front (and the layer behind it, in case rounding costs a member more
        # than its neighbour) can reach the final front: round those alone. The precision step
        # costs ~40 ms a candidate; 32 inputs gave 75 candidates, 10 of them on the front.
        budgets: dict[sympy.Expr, Any] = {}
        for cand, budget in polished + raw:  # exp(u)/2 + exp(-u)/2 competes as cosh(u), at its size
            budgets.setdefault(forms.hyperbolic(cand), budget)
        unrounded = [Candidate(e, complexity(e), snap.mse_of(e, env_sub, y_sub)) for e in budgets]
        first = pareto(unrounded, written=True)
        second = pareto([c for c in unrounded if c.expr not in {m.expr for m in first}])
        candidates = []  # the mean comes back rounded, like every other candidate
        own = lambda m: snap.allowed_mse(m, var, tol)  # noqa: E731  (unsnapped: the allowance from its own loss)
        for member in list(first) + list(second):
            cand, budget = member.expr, budgets[member.expr]
            if settings["snap"]:  # the precision step: no constant printed with more digits than the data support
                cand, n = precision.precision(cand, env_sub, y_sub, own if budget is None else budget)
                cand = forms.shortest_written_form(forms.shortest_scale(cand))  # shortest scale, then writing
                forced += n
            else:
                cand = snap.tidy(cand)
            if cand in seen:
                continue
            seen.add(cand)
            loss = snap.mse_of(cand, env, y)
            if math.isfinite(loss):
                candidates.append(Candidate(cand, complexity(cand), loss))
        # 4. the knee-snapped form of every member the knee rule weighs (engines/readable.py), then
        # 5. a local structure search on the best of them, snapped forms included (engines/refine.py)
        front = pareto(candidates, written=True)

        def offer(exprs: Sequence[sympy.Expr]) -> None:
            for expr in exprs:
                cand = forms.shortest_written_form(forms.shortest_scale(precision.precision(expr, env_sub, y_sub, own)[0]))
                loss = snap.mse_of(cand, env, y)
                if cand not in seen and math.isfinite(loss) and not precision.large_whole(cand):  # offered to read better
                    seen.add(cand)
                    candidates.append(Candidate(cand, complexity(cand), loss))
        if settings["snap"]:
            t_knee = time.perf_counter()
            snapped, window = readable.knee_snapped_window(front, env_sub, y_sub, var, tol, deadline)
            offer(snapped)
            stats["knee_snap_s"] = time.perf_counter() - t_knee
            if settings["refine"]:  # the best members as fitted and as knee-snapped: either may hold the skeleton
                n = int(settings["refine"])
                members = list(dict.fromkeys(refine.best_weighed(front, var, tol, n) + refine.best_weighed(
                    pareto(candidates, written=True), var, tol, n)))
                offer(refine.refinements(members, env_sub, y_sub, var, ops, deadline=deadline))
                # their terms on an input subset replaced by one structured term (engines/additive.py)
                splits = additive.member_splits(all_bases, members, y, ops, seed=int(options.seed), deadline=deadline)
                offer([c for e in splits for c, _ in self._polish(e, env_sub, y_sub, var, tol, settings, deadline)])
                stats["refine_s"] = time.perf_counter() - t_knee - stats["knee_snap_s"]
                # what those two found, knee-snapped in turn; by count, not deadline (same seed, same laws)
                offer(readable.knee_snapped_window(pareto(candidates, written=True), env_sub, y_sub, var, tol,
                                                   skip=window)[0])
        stats.update(forced_digits=forced, post_s=time.perf_counter() - t_post, total_s=time.perf_counter() - start)
        return readable.beside(front, candidates)

    def _fast_pass(self, all_bases, y, ops, tol, var, settings, rng, deadline=math.inf, stats=None,
                   snap_deadline=math.inf) -> tuple[list[sympy.Expr], list[sympy.Expr]]:
        """Library + beam search, backward elimination over the polynomial, snapping of the best;
        returns those (snapped) and the sums with one structured part (``additive``, rough).

        The searches answer to ``deadline``: the library stops adding pair products at 30 % of the
        time left, the beam stops growing at 60 %, backward elimination cuts its set at 85 %.
        Snapping is bounded by count (``snap_per_size`` fits of each size, ~10 ms each), not by
        ``deadline``: a time cut there made the equations depend on how busy the machine was.
        ``snap_deadline`` is only a safety net (past it, the least-squares coefficients stay).
        """
        t0 = time.perf_counter()
        left = max(0.0, deadline - t0)
        n_in = sum(not b.derived for b in all_bases)
        library = basis.build_library(all_bases, ops, max_terms=basis.library_cap(n_in), deadline=t0 + 0.3 * left)
        t1 = time.perf_counter()
        beam_seed = int(rng.integers(1 << 30))
        subsets = basis.beam_search(
            library, y, max_terms=int(settings["max_terms"]), beam=int(settings["beam"]),
            seed=beam_seed, deadline=t0 + 0.6 * left)
        fits = [basis.fit_subset(library, s, y) for s in subsets]
        # the few-node terms searched apart (their fits ranked apart too: see basis.few_node_search),
        # with the nested terms, which join the library only here (indices past the library's)
        nested = nested_terms(all_bases, ops, library)
        terms = list(library) + nested
        few_terms = basis.few_node_terms(library) + [len(library) + i for i in basis.few_node_terms(nested)]
        few_subsets = sorted(set(basis.few_node_search(
            terms, y, max_terms=int(settings["max_terms"]), beam=int(settings["few_beam"]),
            seed=beam_seed, deadline=t0 + 0.65 * left, few=few_terms)) - set(subsets))
        # every sum of three small few-node terms, then swaps with all terms (engines/triples.py)
        if n_in <= triples.MAX_INPUTS:
            few_subsets += triples.triple_sums(terms, y, few_terms, seed=beam_seed, deadline=t0 + 0.7 * left)
        few = [basis.fit_subset(terms, s, y) for s in few_subsets]
        t2 = time.perf_counter()
        poly = basis.polynomial_terms(all_bases)
        # the polynomial's fits are ranked apart too: a network's own error lets many 2-3 term
        # library mimics fit it better than the polynomial law (x0**2 + 3*x0/2 - 4 from a 0.6 %
        # network ranked below 8 two-term mimics, so it was never snapped)
        poly_subsets = [s for s in basis.backward_subsets(poly, y, deadline=t0 + 0.85 * left) if len(s) <= 8]
        polys = [basis.fit_subset(poly, s, y) for s in poly_subsets]
        exact = families.exact_polynomials(poly, y, _knee_mse(var, tol)) + lattice.integer_polynomials(
            all_bases, y, _knee_mse(var, tol), deadline=t0 + 0.85 * left)  # collinear monomials: engines/lattice.py
        transformed_polys = families.transformed_polynomials(poly, y, _knee_mse(var, tol), operators=ops, bases=all_bases)
        factored_laws = factored.factored_polynomials(all_bases, y, _knee_mse(var, tol), ops)
        # sums whose coefficients round to exact values, grown from the searches' subsets above
        # (the polynomial's terms appended to the library: their indices shifted)
        seeds = subsets + few_subsets + [tuple(len(terms) + i for i in s) for s in poly_subsets]
        sums = exact_sums.exact_sums(terms + poly, y, _knee_mse(var, tol), seeds=seeds,
                                 max_terms=int(settings["max_terms"]), beam=int(settings["beam"]),
                                 seed=beam_seed, deadline=t0 + 0.9 * left, few=few_terms)
        # P0 + u*P1, exact; bounded by a count of decodings, not by time, so it runs after the
        # deadline-bound sums above: before them it took their time (a CI machine lost a 4-term sum)
        exact += factored.modulated_polynomials(all_bases, y, _knee_mse(var, tol), ops)
        t3 = time.perf_counter()
        if stats is not None:
            stats.update(library_s=t1 - t0, library_terms=len(library), nested_terms=len(nested), beam_s=t2 - t1,
                         backward_s=t3 - t2, poly_terms=len(poly), exact_polynomials=len(exact),
                         transformed=len(transformed_polys), factored=len(factored_laws), exact_sums=len(sums))
        t4 = time.perf_counter()
        rough = additive.structured_sums(all_bases, terms, few_terms, y, ops,
                                         max_terms=int(settings["max_terms"]), seed=beam_seed, deadline=deadline)
        t5 = time.perf_counter()
        # few-node terms only (a transformed law's inner sum is short): all 6 000 of 5 inputs took 6 s.
        # Up to 3 inputs, the nested terms and the roots of pairs apart (sqrt(x1/x0) in sin() is 7
        # nodes): in one pool with the few-node terms they led the 6-wide beam off (x0 + 3/2)*sin(x1)
        sums_after = transformed.transformed_sums([terms[i] for i in few_terms], y, seed=beam_seed, deadline=deadline,
                                                  operators=ops)
        if nested:
            sums_after += transformed.transformed_sums(nested + root_terms(all_bases, ops, terms), y, seed=beam_seed,
                                                       deadline=deadline, operators=ops)
        if stats is not None:
            stats.update(additive_s=t5 - t4, additive=len(rough), transformed_sums_s=time.perf_counter() - t5,
                         transformed_sums=len(sums_after))
        rough += sums_after
        chosen: list[basis.LinearFit] = []
        for source in (fits, few, polys):
            by_size: dict[int, list[basis.LinearFit]] = {}
            for fit in source:
                by_size.setdefault(len(fit.terms), []).append(fit)
            for size, group in sorted(by_size.items()):
                chosen += sorted(group, key=lambda f: f.mse)[:int(settings["snap_per_size"])]
        out: list[sympy.Expr] = [fit.expr() for fit in exact + sums] + transformed_polys + factored_laws  # rounded
        for fit in chosen:
            if settings["snap"] and time.perf_counter() < snap_deadline:  # the snapped form replaces the raw one
                # the coefficients rounded together, as far as the knee rule looks (5 x tolerance):
                # a network is often a few times tolerance off its law
                rounded = snap.round_jointly(fit, y, _knee_mse(var, tol))
                if rounded is not None:
                    out.append(rounded.expr())
                fit = snap.snap_linear(fit, y, snap.allowed_mse(fit.mse, var, tol),
                                       snap.named_window(math.sqrt(fit.mse / var)))
            out.append(fit.expr())
        return out, rough

    def _gp(self, X, y, variables, all_bases, options, settings, seconds, rng, stats=None,
            nominal_seconds: float | None = None, seeds: Sequence[sympy.Expr] = ()) -> list[sympy.Expr]:
        """Operon NSGA-2 in warm-started chunks while its front still improves.

        Stops after ``patience`` chunks without improvement, at the cap of ``generations_per_second
        * nominal_seconds`` generations (known before anything runs), or (unless ``deterministic``)
        past ``GP_SAFETY`` times the larger of ``seconds`` and ``nominal_seconds``: a net for a slow
        machine, twice and from the nominal time too, since a slow fast pass (8 s of 20 beside other
        work) once cut the GP at 45 of 60 generations. ``seeds`` (the fast pass's front) replace the
        weakest parents after the first chunk, for crossover to recombine.
        """
        t0 = time.perf_counter()
        seconds = math.inf if settings["deterministic"] else GP_SAFETY * max(seconds, nominal_seconds or 0.0)
        # Operon sees the inputs plus the pairwise norms (not the differences: sub is one node away)
        cols = [b for b in all_bases if not b.derived or b.nonlinear]
        names = [str(b.symbol) for b in cols]
        Xg = np.column_stack([b.values for b in cols])
        rows = int(settings["gp_rows"])
        if len(y) > rows:
            idx = rng.choice(len(y), rows, replace=False)
            Xg, yg = Xg[idx], y[idx]
        else:
            yg = y
        allowed = list(options.operators)
        if "sin" in allowed and "cos" not in allowed:
            allowed.append("cos")  # one family: a cos the search must build as sin(x + 1.571) is unreadable
        ops = ",".join(_OPERON_SYMBOLS[o] for o in allowed if o in _OPERON_SYMBOLS)
        cap = max(1, int(settings["generations_per_second"] * (nominal_seconds or seconds)))
        chunk = max(1, min(int(settings["chunk_generations"]), cap))
        gp_settings: dict[str, Any] = dict(
            allowed_symbols=ops + ",constant,variable",
            objectives=["r2", "length"],
            population_size=int(settings["population_size"]),
            max_length=int(options.max_complexity),
            optimizer_iterations=10,
            offspring_generator="basic",
            n_threads=options.threads,
            random_state=int(options.seed),
            generations=chunk,
            max_evaluations=10**12,
            max_time=_whole_seconds(seconds),
            warm_start=True,
        )
        passthrough = {k: v for k, v in settings.items() if k not in DEFAULTS}
        gp_settings.update(passthrough)
        try:
            from pyoperon.sklearn import SymbolicRegressor
        except ImportError as exc:  # pragma: no cover - pyoperon is a hard dependency
            raise EngineUnavailableError(
                f"pyoperon could not be imported ({exc}); reinstall symfx or `pip install pyoperon`."
            ) from exc
        reg = SymbolicRegressor(**gp_settings)
        var = float(np.var(yg)) or 1.0
        done, stale, best_score, stop = 0, 0, math.inf, "cap"
        seeded = 0
        while done < cap:
            t_chunk = time.perf_counter()
            reg.fit(Xg, yg)
            if done == 0 and seeds:  # after the first chunk: a warm start re-evaluates what it restores
                seeded = seed_population(reg, seeds, names_by_hash(reg, names), allowed,
                                         int(options.max_complexity), int(gp_settings["population_size"]))
            done += chunk
            score = _front_score(reg.pareto_front_, var, int(options.max_complexity))
            stale = 0 if score < best_score - 0.01 else stale + 1
            best_score = min(best_score, score)
            if stale >= int(settings["patience"]):
                stop = "converged"
                break
            left = seconds - (time.perf_counter() - t0)
            if left <= 0.5 * (time.perf_counter() - t_chunk):
                stop = "time"  # a safety net for a machine much slower than the cap assumes
                break
            reg.set_params(max_time=_whole_seconds(left))
        if stats is not None:
            stats.update(gp_generations=done, gp_stop=stop, gp_population=gp_settings["population_size"],
                         gp_seeded=seeded)
        symbols = {n: sympy.Symbol(n) for n in names}
        hash_to_name = names_by_hash(reg, names)
        out = []
        for member in reg.pareto_front_:
            try:
                expr = tree_to_sympy(member["tree"], hash_to_name, symbols)
            except ValueError:
                continue
            out.append(derived.substitute(expr, cols))
        return out

    def _polish(self, expr, env, y, var, tol, settings, deadline) -> list[tuple[sympy.Expr, float | None]]:
        """The float64-refitted, snapped form of ``expr`` (one candidate, replacing the raw one),
        with the MSE allowance it was snapped within (the precision step spends what is left of it;
        None: not snapped, the allowance comes from its own loss).

        A snapped form usually has the same node count as the raw one and a hair more loss, so
        offering both would let the Pareto filter drop the snapped one; it replaces it instead.
        """
        if not settings["snap"] or time.perf_counter() > deadline:
            return [(expr, None)]
        expr = snap.tidy(forms.merge_constants(expr))
        raw_mse = snap.mse_of(expr, env, y)
        fitted = snap.refit(expr, env, y, deadline=deadline)
        mse = snap.mse_of(fitted, env, y)
        if not math.isfinite(mse) or mse > raw_mse:
            fitted, mse = expr, raw_mse
        if not math.isfinite(mse) or math.sqrt(mse / var) > 10 * tol:
            return [(fitted, None)]
        budget = snap.allowed_mse(mse, var, tol)
        snapped = snap.snap(fitted, env, y, budget, deadline=deadline,
                            rel_named=snap.named_window(math.sqrt(mse / var)))
        return [(forms.simplest_form(snap.tidy(snapped)), budget)]


def _whole_seconds(seconds: float) -> int:
    """Operon's ``max_time``: whole seconds, at least 1 (a deterministic fit's infinite net: ~4 months)."""
    return max(1, int(min(seconds, 1e7)))


def _knee_mse(var: float, tol: float) -> float:
    """The MSE as far out as the knee rule looks (``KNEE_TOLERANCE_WINDOW`` x ``tolerance``): the
    exact-coefficient families offer a law this far off the data, since a network is often a few
    times ``tolerance`` off its law."""
    return var * (KNEE_TOLERANCE_WINDOW * tol) ** 2


def _rough_front(exprs: Sequence[sympy.Expr], env, y: np.ndarray,
                 losses: Sequence[float] | None = None) -> list[sympy.Expr]:
    """The members that beat every smaller one by 1 % in loss, before refitting, smallest first: a
    family's long supports (up to 16 terms) that fit no better than a shorter one are slow to refit
    and never reach the front. ``losses``: the members' MSEs where known."""
    if losses is None:
        losses = [snap.mse_of(e, env, y) for e in exprs]
    scored = sorted(((complexity(e), losses[i], i) for i, e in enumerate(exprs)))
    out, best = [], math.inf
    for _, mse, i in scored:
        if math.isfinite(mse) and mse < 0.99 * best:
            out.append(exprs[i])
            best = mse
    return out


def _front_score(front: Sequence[dict], var: float, max_length: int) -> float:
    """Mean over sizes 1..max_length of log10 of the best normalized MSE at that size or below."""
    best = {}
    for m in front:
        size = int(m["length"])
        best[size] = min(best.get(size, math.inf), float(m["mean_squared_error"]) / var)
    total, running = 0.0, 1.0
    for size in range(1, max_length + 1):
        running = min(running, best.get(size, math.inf))
        total += math.log10(max(running, 1e-12))
    return total / max_length
