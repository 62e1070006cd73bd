"""A slice of the recovery benchmark (bench/recovery.py) as a regression guard.

Each case trains the benchmark's MLP on a law, distils it with symfx.compile and checks that the
distilled equation extrapolates like the true law on a box 1.5x wider than training.
The fast slice covers the distance laws every engine missed before derived variables, and one
noisy case; the whole suite runs with ``-m slow`` (or ``make recovery``).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("symfx_bench_recovery", ROOT / "bench" / "recovery.py")
recovery = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = recovery
_spec.loader.exec_module(recovery)

LAWS = {law.name: law for law in recovery.SUITE}
FAST_SLICE = ("hooke", "inverse_square", "kinetic_noisy")


def _distil(name: str, budget: float, iters: int = 1000):
    law = LAWS[name]
    model, mlp_err = recovery.train_mlp(law, seed=0, iters=iters)
    assert mlp_err < 1e-2, f"the benchmark network itself did not learn {name} ({mlp_err:.2g})"
    options = {"time_budget": budget, "cache_dir": "", "engine_options": {}}
    try:
        import symfx.api  # noqa: F401

        distil = recovery.distil_compile
    except ImportError:  # pragma: no cover - before symfx.compile existed
        distil = recovery.distil_engine
    expr, seconds, _ = distil(model, law, options, 0)
    return law, expr, seconds


@pytest.mark.parametrize("name", FAST_SLICE)
def test_recovers_law_from_trained_network(name):
    law, expr, seconds = _distil(name, budget=4.0, iters=300)  # a short guard, not the benchmark
    err = recovery.judge(expr, law, seed=0)
    assert err < 1e-2, f"{name}: distilled {expr} misses the law {law.expr} (wide-box nRMSE {err:.3g})"


def _slow_case(name: str) -> object:
    # a known miss must keep missing (strict): when it is recovered, move it out of KNOWN_MISSES
    if name in recovery.KNOWN_MISSES:
        return pytest.param(name, marks=pytest.mark.xfail(reason=f"{name}: bench/recovery.py KNOWN_MISSES",
                                                          strict=True))
    return name


@pytest.mark.slow
@pytest.mark.parametrize("name", [_slow_case(n) for n in LAWS if n not in FAST_SLICE])
def test_recovers_law_from_trained_network_slow(name):
    law, expr, seconds = _distil(name, budget=20.0)
    err = recovery.judge(expr, law, seed=0)
    assert err < 1e-2, f"{name}: distilled {expr} misses the law {law.expr} (wide-box nRMSE {err:.3g})"
