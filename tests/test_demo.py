"""The demos: physics simulators, the models' traceability, and recovery judged against the TRUE law.

Fast tests check the pieces and run the quick versions of the demos (less training, a small search
budget); the full-length demos run under ``-m slow``. Recovery is judged by extrapolation error
against the physical law on inputs outside the training range, never against the network.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from symfx.cli import main
from symfx.demos import heat, nbody
from symfx.demos.runner import CONSTANT_TOL, EXTRAPOLATION_TOL, heat_constants, run_heat, run_nbody

# ----------------------------------------------------------------------------- simulators and models


def test_spring_force_is_hooke() -> None:
    law = nbody.LAWS["springs"]
    # stretched to r = 2 along +x: pulled back (towards -x) with k (r - r0) = 2
    f = law.force(np.array([2.0]), np.array([0.0]), np.array([1.0]), np.array([1.0]))
    np.testing.assert_allclose(f, [[-2.0, 0.0]])
    # at rest length no force
    np.testing.assert_allclose(law.force(np.array([0.6]), np.array([0.8]), np.array([1.0]), np.array([3.0])), 0,
                               atol=1e-12)


def test_gravity_is_inverse_square_and_attractive() -> None:
    law = nbody.LAWS["gravity"]
    f1 = law.force(np.array([1.0]), np.array([0.0]), np.array([2.0]), np.array([3.0]))
    f2 = law.force(np.array([2.0]), np.array([0.0]), np.array([2.0]), np.array([3.0]))
    assert f1[0, 0] == pytest.approx(-6.0)  # G m1 m2 / r² towards the sender
    assert f2[0, 0] == pytest.approx(f1[0, 0] / 4)
    # messages carry F / m_dst for gravity
    np.testing.assert_allclose(law.message(np.array([1.0]), np.array([0.0]), np.array([2.0])), [[-2.0, 0.0]])


@pytest.mark.parametrize("kind", ["springs", "gravity"])
def test_simulation_obeys_newton(kind: str) -> None:
    law = nbody.LAWS[kind]
    pos, mass, acc = nbody.simulate(law, 50, 5, np.random.default_rng(0))
    assert pos.shape == (50, 5, 2) and mass.shape == (50, 5, 1) and acc.shape == (50, 5, 2)
    d = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=-1) + np.eye(5) * 1e9
    assert d.min() >= law.r_min  # close encounters were redrawn
    # internal forces cancel: total momentum change is zero
    np.testing.assert_allclose((mass * acc).sum(axis=1), 0, atol=1e-9)


def test_simulation_is_deterministic() -> None:
    a = nbody.simulate(nbody.LAWS["gravity"], 20, 4, np.random.default_rng(3))
    b = nbody.simulate(nbody.LAWS["gravity"], 20, 4, np.random.default_rng(3))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_gnn_traces_and_edge_inputs_match_numpy() -> None:
    model = nbody.NBodyGNN(4).eval()
    gm = torch.fx.symbolic_trace(model)
    pos, mass, _ = nbody.simulate(nbody.LAWS["springs"], 3, 4, np.random.default_rng(0))
    P, M = torch.tensor(pos, dtype=torch.float32), torch.tensor(mass, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(gm(P, M), model(P, M))
    # the numpy mirror of the edge inputs is what the edge MLP sees
    captured = {}
    handle = model.edge_mlp.register_forward_pre_hook(lambda mod, args: captured.setdefault("x", args[0]))
    with torch.no_grad():
        model(P, M)
    handle.remove()
    np.testing.assert_allclose(captured["x"].reshape(-1, 4).numpy(), nbody.edge_inputs(pos, mass), rtol=1e-5,
                               atol=1e-6)


def test_gnn_compiles_with_inductor() -> None:
    """The demos time the GNN under torch.compile: its aggregation (index_add into an expanded view of
    zeros) failed Inductor's CPU codegen, and every n-body speed line fell back to eager."""
    from symfx.demos.common import time_compiled

    model = nbody.NBodyGNN(5).eval()
    P, M = torch.randn(64, 5, 2), torch.rand(64, 5, 1) + 0.5
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model)(P, M), model(P, M))
    assert time_compiled(model, model, (P, M), repeats=1, inner=1).note == "torch.compile"


def test_pinn_traces_and_exact_solution_solves_heat_equation() -> None:
    gm = torch.fx.symbolic_trace(heat.HeatPINN())
    assert gm(torch.rand(5, 1), torch.rand(5, 1)).shape == (5, 1)
    x, t = sympy.symbols("x t")
    u = sympy.exp(-sympy.pi**2 * heat.ALPHA * t) * sympy.sin(sympy.pi * x)
    assert sympy.simplify(sympy.diff(u, t) - heat.ALPHA * sympy.diff(u, x, 2)) == 0
    assert heat.exact(np.array([0.5]), np.array([0.0]))[0] == pytest.approx(1.0)


def test_heat_constants_reads_the_form_and_rejects_others() -> None:
    x, t = sympy.symbols("x t")
    rate, freq = heat_constants(0.99 * sympy.exp(-1.97 * t) * sympy.sin(3.14 * x + 0.01) + 0.001, x, t)
    assert rate == pytest.approx(1.97) and freq == pytest.approx(3.14)
    assert heat_constants(sympy.exp(-1.97 * t) * x * (1 - x), x, t) is None


def test_cli_rejects_unknown_demo(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "pendulum"])
    assert exc.value.code != 0
    assert "invalid choice" in capsys.readouterr().err


# ----------------------------------------------------------------------------- recovery (quick)


def _quiet(_: str) -> None:
    pass


@pytest.mark.slow  # 85 s (3000 GNN training steps, then the fit): over make test's share; `make demo` runs it
def test_springs_quick_recovers_hooke() -> None:
    res = run_nbody("springs", seed=0, quick=True, progress=False, log=_quiet)
    assert res.checks["edge region found and distilled"], res.report
    # the recovered message equations, extrapolated to twice the training distance, match k(r - r0) r̂
    assert res.metrics["extrapolation_nrmse"] < EXTRAPOLATION_TOL, (res.recovered, res.report)
    assert res.metrics["messages_vs_law_r2"] > 0.99
    assert res.ok


@pytest.mark.slow  # 18 s, 9 of them training the PINN 3000 steps (at 2000 it is ~1 % off the solution and the
# decay rate snaps from 1.97 to 2, 5 % off on t in [1, 2]); `make demo` runs it, and
# test_pipeline checks its compile call (forward(x, t), tuple batches, variable_names) on a fast-trained MLP
def test_heat_quick_recovers_solution() -> None:
    res = run_heat(seed=0, quick=True, progress=False, log=_quiet)
    assert res.checks["u(x, t) distilled"], res.report
    assert res.metrics["extrapolation_nrmse"] < EXTRAPOLATION_TOL, (res.recovered, res.report)
    assert res.metrics["decay_rate_rel_err"] < CONSTANT_TOL, res.recovered
    assert res.metrics["frequency_rel_err"] < CONSTANT_TOL, res.recovered
    assert res.ok


# ----------------------------------------------------------------------------- full length (slow)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["springs", "gravity"])
def test_nbody_full_recovers_force_law(kind: str) -> None:
    res = run_nbody(kind, seed=0, quick=False, slow=True, progress=False, log=_quiet)
    assert res.ok, (res.checks, res.recovered, res.report)
    assert res.metrics["extrapolation_nrmse"] < EXTRAPOLATION_TOL


@pytest.mark.slow
@pytest.mark.xfail(reason="measured 2026-11-23: with L1=1e-2 the 16-dim messages keep only 89.5 % of their variance "
                          "in two components (94 % at L1=1e-1), so dropping the rest costs the model 0.148 > 0.05 "
                          "and validation keeps edge_mlp neural; needs stronger sparsity training", strict=True)
# strict: the miss is decided by seeded training (top-2 variance 89.5 % against the 95 % asserted),
# not by the time-capped search; it failed the same way on 2026-11-23 and again for issue #17
# (5.5 min at load 3). When sparsity training fixes it, the XPASS fails: then drop this mark.
def test_wide_messages_with_l1_and_pca_out_recover_springs() -> None:
    # 16-dim messages + L1: symfx fits their top two principal components (pca_out=2)
    res = run_nbody("springs", seed=0, quick=False, progress=False, log=_quiet, msg_dim=16)
    assert "pca_out=2" in res.report
    assert res.metrics["messages_top2_variance"] > 0.95
    assert res.ok, (res.checks, res.recovered, res.report)


@pytest.mark.slow
def test_heat_full_recovers_constants_within_two_percent() -> None:
    res = run_heat(seed=0, quick=False, slow=True, progress=False, log=_quiet)
    assert res.ok, (res.checks, res.recovered, res.report)
    assert abs(res.metrics["alpha_learned"] / heat.ALPHA - 1) < CONSTANT_TOL
    assert math.isfinite(res.metrics["extrapolation_nrmse"])


@pytest.mark.slow
def test_cli_demo_all_exits_zero() -> None:
    assert main(["demo", "all", "--no-progress"]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["springs", "gravity"])
def test_wide_messages_pruned_to_two_recover_the_law(kind: str) -> None:
    # 16-dim messages trained with OutputPruner(edge_mlp, target_dim=2): the two kept dims carry the force
    res = run_nbody(kind, seed=0, quick=False, progress=False, log=_quiet, msg_dim=16, prune=True)
    assert len(res.metrics["active_dims"]) == 2
    assert "masked to zero" in res.report
    assert res.ok, (res.checks, res.recovered, res.report)
