"""symfx.compile end to end on CPU: recovery, regions, switching, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch
import torch.nn as nn

import symfx
from symfx.lowering import evaluate_columns

from .conftest import heat_law


def test_heat_mlp_recovers_the_law_not_just_the_net(heat_mlp, heat_compiled):
    net, _ = heat_mlp
    sm = heat_compiled
    assert len(sm.distilled) == 1, sm.report()
    d = sm.distilled[0]
    assert d.variables == ("x0", "x1")
    assert d.nrmse <= 1e-2
    # judge the equation against the true law on fresh inputs
    gen = torch.Generator().manual_seed(1)
    X = torch.rand(4000, 2, generator=gen) * torch.tensor([1.0, 2.0])
    truth = heat_law(X).numpy()[:, 0]
    pred = evaluate_columns(d.exprs, sympy.symbols("x0 x1"), X.double().numpy())[:, 0]
    assert np.sqrt(np.mean((pred - truth) ** 2)) / truth.std() < 1e-2, d.equations()
    # and the rewritten module computes that equation
    with torch.no_grad():
        out = sm(X).numpy()[:, 0]
    np.testing.assert_allclose(out, pred, atol=1e-4)


class TwoArgs(nn.Module):
    """forward(x, t) around the heat MLP, as the heat demo's PINN takes its inputs."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, t], dim=1))


def test_two_argument_forward_with_tuple_batches_and_variable_names(heat_mlp):
    """The heat demo's call (its PINN training runs under -m slow): forward(x, t), a list of (x, t)
    batches as calibration, the region's inputs named through ``variable_names``."""
    net, X = heat_mlp
    model = TwoArgs(net)
    calibration = [(X[i:i + 512, :1], X[i:i + 512, 1:]) for i in range(0, len(X), 512)]
    sm = symfx.compile(model, calibration, variable_names={"net": ("x", "t")}, time_budget=4, progress=False,
                       cache_dir="", engine_options={"gp": False})
    assert [d.name for d in sm.distilled] == ["net"], sm.report()
    d = sm.distilled[0]
    assert d.variables == ("x", "t") and d.status == "symbolic"
    x, t = sympy.symbols("x t")
    assert d.exprs[0].free_symbols == {x, t}
    truth = heat_law(X).numpy()[:, 0]
    pred = evaluate_columns(d.exprs, (x, t), X.double().numpy())[:, 0]
    assert np.sqrt(np.mean((pred - truth) ** 2)) / truth.std() < 1e-2, d.equations()
    with torch.no_grad():
        np.testing.assert_allclose(sm(X[:, :1], X[:, 1:]).numpy()[:, 0], pred, atol=1e-4)


def test_use_neural_restores_original_outputs_bit_for_bit(heat_mlp, heat_compiled):
    net, X = heat_mlp
    sm = heat_compiled
    with torch.no_grad():
        ref = net(X)
        sm.use_neural()
        neural = sm(X)
        sm.use_symbolic()
        symbolic = sm(X)
    assert torch.equal(neural, ref)
    assert not torch.equal(symbolic, ref)
    assert torch.allclose(symbolic, ref, atol=0.05)


def test_rewritten_graph_has_only_aten_ops_and_runs_under_torch_compile(heat_mlp, heat_compiled):
    net, X = heat_mlp
    gm = heat_compiled.graph_modules()[""]
    calls = [n for n in gm.graph.nodes if n.op in ("call_function", "call_method", "call_module")]
    assert calls, gm.code
    for node in calls:
        assert node.op == "call_function", node.format_node()
        assert isinstance(node.target, torch._ops.OpOverload), node.format_node()
        assert node.target.namespace == "aten"
    compiled = torch.compile(heat_compiled)
    with torch.no_grad():
        torch.testing.assert_close(compiled(X), heat_compiled(X), rtol=1e-5, atol=1e-5)


def test_user_model_is_not_modified(heat_mlp, heat_compiled):
    net, X = heat_mlp
    assert isinstance(net, nn.Sequential) and not isinstance(net, symfx.SymbolicModule)
    assert all(isinstance(m, (nn.Linear, nn.Tanh)) for m in net)


def test_compile_leaves_weights_buffers_hooks_and_training_mode_alone():
    """A model in training mode with BatchNorm (whose running stats a forward in training mode
    would change) and hooks: compile works on an eval copy and the user's object stays as it was."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1))
    model[3].eval()  # mixed modes must survive too
    calls: list[str] = []
    hooks = [model.register_forward_hook(lambda m, a, out: calls.append("fwd")),
             model[0].register_forward_pre_hook(lambda m, a: None)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    forward_hooks, pre_hooks = dict(model._forward_hooks), dict(model[0]._forward_pre_hooks)
    x = torch.rand(512, 2)
    sm = symfx.compile(model, x, time_budget=0.5, tolerance=0.5, progress=False, cache_dir="",
                       engine_options={"gp": False})
    assert sm.distilled, sm.report()
    state = model.state_dict()
    assert state.keys() == before.keys()
    assert all(torch.equal(state[k], v) for k, v in before.items())  # weights and BN running stats/counts
    assert [m.training for m in model.modules()] == modes
    assert dict(model._forward_hooks) == forward_hooks and dict(model[0]._forward_pre_hooks) == pre_hooks
    assert [type(m) for m in model] == [nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Linear]
    for h in hooks:
        h.remove()


def test_report_names_region_and_equation(heat_compiled):
    text = heat_compiled.report()
    d = heat_compiled.distilled[0]
    assert d.name in text and "exp" in text and "sin" in text


class TwoMLPs(nn.Module):
    """MLP → index_select → MLP: the gather is a boundary, so two regions."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
        self.decoder = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        return self.decoder(h.index_select(0, index))


def test_gather_splits_two_regions_with_readable_names():
    from symfx.passes.partition import partition, shape_propagate

    torch.manual_seed(0)
    model = TwoMLPs().eval()
    gm = torch.fx.symbolic_trace(model)
    x, idx = torch.rand(64, 2), torch.randint(0, 64, (100,))
    shape_propagate(gm, (x, idx))
    found = partition(gm)
    assert [r.name for r in found.regions] == ["encoder", "decoder"]
    assert found.regions[0].variables == ("x0", "x1")
    assert found.regions[1].inputs == ("index_select",)


def test_two_regions_compile_end_to_end():
    torch.manual_seed(0)
    model = TwoMLPs().eval()
    x, idx = torch.rand(512, 2), torch.randint(0, 512, (512,))
    # untrained MLPs hold no law: surrogates, picked as such ("simplest" within tolerance, not the knee)
    sm = symfx.compile(model, (x, idx), time_budget=2, tolerance=0.05, model_tolerance=0.1, progress=False,
                       cache_dir="", selection="simplest")
    assert [d.name for d in sm.distilled] == ["encoder", "decoder"], sm.report()
    assert sm.validation.accepted == ["encoder", "decoder"] and sm.validation.model_nrmse <= 0.1
    with torch.no_grad():
        out, ref = sm(x, idx), model(x, idx)
    # both equations are in the graph, and the whole model stays within model_tolerance
    targets = {str(n.target) for n in sm.graph_modules()[""].graph.nodes if n.op == "call_function"}
    assert not any("linear" in t or "addmm" in t for t in targets), targets
    assert not torch.equal(out, ref)
    err = float(torch.sqrt(torch.mean((out - ref) ** 2)) / ref.std())
    assert err <= 0.1, (err, sm.report())


def test_include_exclude_patterns_select_regions():
    torch.manual_seed(0)
    model = TwoMLPs().eval()
    x, idx = torch.rand(256, 2), torch.randint(0, 256, (256,))
    sm = symfx.compile(model, (x, idx), exclude=("decoder*",), time_budget=1, tolerance=0.5,
                       progress=False, cache_dir="", validate=False)
    assert all(d.name != "decoder" for d in sm.distilled)
    assert ("decoder", "matched by exclude=") in sm.skipped


def test_untraceable_model_descends_into_children():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow: not traceable as a whole
                return self.mlp(x)
            return -self.mlp(x)

    torch.manual_seed(0)
    model = Branchy().eval()
    x = torch.rand(512, 2)
    sm = symfx.compile(model, x, time_budget=1, tolerance=0.5, progress=False, cache_dir="")
    assert any(what == "<root>" for what, _ in sm.skipped) is False  # descended, not skipped
    assert [d.name for d in sm.distilled] == ["mlp"]
    with torch.no_grad():
        torch.testing.assert_close(sm.use_neural()(x), model(x), rtol=0, atol=0)


# --------------------------------------------------------------------------- bad input


def test_unknown_option_is_a_clear_error():
    with pytest.raises(symfx.ConfigError, match="tolerence.*did you mean 'tolerance'"):
        symfx.compile(nn.Linear(2, 1), torch.rand(4, 2), tolerence=0.1)


def test_calibration_not_matching_inputs():
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    with pytest.raises(symfx.CalibrationError, match="expects forward") as info:
        symfx.compile(model, torch.rand(16, 3), progress=False)
    assert isinstance(info.value, ValueError)


def test_all_nan_calibration():
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    with pytest.raises(symfx.CalibrationError, match="NaN"):
        symfx.compile(model, torch.full((16, 2), float("nan")), progress=False)


def test_nothing_traceable():
    class Opaque(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:
                return x * 2
            return x

    with pytest.raises(symfx.TraceError, match="nothing traceable"):
        symfx.compile(Opaque(), torch.rand(4, 2), progress=False)


def test_bad_calibration_type():
    with pytest.raises(symfx.CalibrationError, match="tensor"):
        symfx.compile(nn.Linear(2, 1), "not data", progress=False)


def test_nan_rows_are_dropped_and_counted():
    from symfx.passes.record import Reservoir

    res = Reservoir(capacity=10, seed=0)
    X = torch.rand(20, 2)
    X[3, 0] = float("nan")
    X[7, 1] = float("inf")
    res.add(X, X.sum(1, keepdim=True))
    assert res.rows_seen == 20 and res.rows_dropped == 2
    assert res.X.shape == (10, 2) and torch.isfinite(res.X).all()


def test_reservoir_samples_uniformly_over_the_stream():
    from symfx.passes.record import Reservoir

    res = Reservoir(capacity=1000, seed=0)
    for start in range(0, 100_000, 10_000):
        rows = torch.arange(start, start + 10_000, dtype=torch.float64)[:, None]
        res.add(rows, rows)
    assert res.X.shape[0] == 1000
    # a uniform sample of 0..99999 has mean ≈ 50000 (std of the mean ≈ 900)
    assert abs(res.X.mean().item() - 50_000) < 4_000


def test_reservoir_small_batches_keep_the_same_rows_as_one_batch():
    """Pending batches merge lazily; the sample (rows, order, domain) must not depend on batching,
    pending rows stay below capacity, and later in-place changes to a batch do not leak in."""
    from symfx.passes.record import Reservoir

    torch.manual_seed(0)
    X = torch.randn(5000, 3)
    Y = X.sum(1, keepdim=True)
    whole, batched = Reservoir(capacity=700, seed=3), Reservoir(capacity=700, seed=3)
    whole.add(X, Y)
    for start in range(0, 5000, 64):
        xb = X[start:start + 64].clone()
        batched.add(xb, xb.sum(1, keepdim=True))
        assert batched._pending_rows < 700
        xb.fill_(1e6)  # the model reusing its buffer must not change what was recorded
    # same keys in the same order: the generator is consumed row by row either way
    torch.testing.assert_close(batched.X, whole.X)
    torch.testing.assert_close(batched.Y, whole.Y)
    torch.testing.assert_close(batched.x_min, X.min(0).values)
    torch.testing.assert_close(batched.x_max, X.max(0).values)
    small = Reservoir(capacity=700, seed=3)
    small.add(X[:10], Y[:10])  # never reaches capacity: read-back merges the pending rows
    assert small.X.shape == (10, 3) and small.rows_seen == 10


def test_reservoir_deferred_checks_keep_the_same_sample():
    """Accelerators check batches for NaN/Inf once per merge instead of on arrival (no host read per
    batch); the kept rows, their order, the bounds and the dropped count must be the same."""
    from symfx.passes.record import Reservoir

    torch.manual_seed(1)
    X = torch.randn(6000, 3)
    X[[5, 900, 4000], 1] = float("nan")  # in small batches and in a batch larger than the capacity
    X[2500, 0] = float("inf")
    Y = X[:, :1] * 2
    sizes = [64] * 20 + [1500, 700] + [100] * 20 + [1000]  # 1500 > capacity: checked on arrival either way
    host, deferred = Reservoir(capacity=800, seed=5), Reservoir(capacity=800, seed=5, defer_checks=True)
    start = 0
    for n in sizes:
        for res in (host, deferred):
            res.add(X[start:start + n], Y[start:start + n])
        if start == 0:  # the first small batch waits unchecked in one, was checked on arrival in the other
            assert deferred._unchecked and not host._unchecked and not deferred._bounds and host._bounds
        start += n
    for name in ("X", "Y", "keys"):
        torch.testing.assert_close(getattr(deferred, name), getattr(host, name))
    seen = X[:start]
    finite = torch.isfinite(seen).all(1)
    assert deferred.rows_dropped == host.rows_dropped == int((~finite).sum()) == 4
    torch.testing.assert_close(deferred.x_min, seen[finite].amin(0))
    torch.testing.assert_close(deferred.x_max, seen[finite].amax(0))
    assert torch.isfinite(deferred.X).all() and deferred.X.shape == (800, 3)


def test_accurate_selection_and_drop_neural():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)).eval()
    X = torch.linspace(-1, 1, 512)[:, None]
    loose = dict(time_budget=1, tolerance=0.5, progress=False, cache_dir="", validate=False)
    simple = symfx.compile(net, X, **loose)
    accurate = symfx.compile(net, X, selection="accurate", **loose)
    d_simple, d_acc = simple.distilled[0], accurate.distilled[0]
    assert d_acc.output_nrmse[0] == min(e.nrmse for e in d_acc.front[0] if e.safe)
    assert d_acc.output_nrmse[0] <= d_simple.output_nrmse[0]
    n_params = sum(p.numel() for p in accurate.parameters())
    accurate.drop_neural()
    assert sum(p.numel() for p in accurate.parameters()) < n_params
    with torch.no_grad():
        accurate(X)
    with pytest.raises(symfx.StateError, match="drop_neural"):
        accurate.use_neural()


def test_child_whose_trace_bakes_a_branch_is_left_alone():
    """symbolic_trace turns `if offset is None` into the not-None branch; such a unit must not be used."""

    class Embed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(2.0))

        def forward(self, x: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
            if offset is None:
                offset = torch.zeros_like(x)
            return x * self.scale + offset

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = Embed()
            self.mlp = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 1e9:  # untraceable root: the front end descends into the children
                return x
            return self.mlp(self.embed(x))

    torch.manual_seed(0)
    model = Model().eval()
    x = torch.rand(256, 2)
    sm = symfx.compile(model, x, time_budget=1, tolerance=0.5, progress=False, cache_dir="")
    assert any(what == "embed" for what, _ in sm.skipped), sm.skipped
    assert isinstance(sm.model.embed, Embed)  # the user's module, not a broken trace
    with torch.no_grad():
        torch.testing.assert_close(sm.use_neural()(x), model(x), rtol=0, atol=0)


def test_faithfulness_check_rejects_a_graph_that_differs():
    from symfx.frontend import trace_is_faithful
    from symfx.frontend import Unit

    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh()).eval()
    gm = torch.fx.symbolic_trace(model)
    x = torch.rand(8, 2)
    assert trace_is_faithful(Unit("", gm), model, (x,))
    other = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(2, 4), nn.Tanh()).eval())
    assert not trace_is_faithful(Unit("", other), model, (x,))


def test_choose_switches_to_another_front_member(heat_mlp, heat_compiled):
    """choose() rebuilds the graph with the picked member; the model computes that equation."""
    import copy

    from symfx.lowering import evaluate

    _, X = heat_mlp
    sm = copy.deepcopy(heat_compiled)
    d = sm.distilled[0]
    front = d.front[0]
    current = next(e for e in front if e.expr == d.exprs[0])
    others = [e for e in front if e.complexity != current.complexity]
    assert others, f"the heat fit's front has one member: {front}"
    pick = others[0]
    new = sm.choose(d.name, complexity=pick.complexity)
    assert new.exprs == [pick.expr] and sm[d.name].exprs == [pick.expr]
    assert new.output_nrmse == (pick.nrmse,)
    x0, x1 = sympy.symbols(d.variables)
    want = evaluate(pick.expr, {x0: X[:, 0].double().numpy(), x1: X[:, 1].double().numpy()})
    with torch.no_grad():
        got = sm(X)[:, 0].double().numpy()
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=1e-4, atol=1e-5)
    from symfx.lowering import round_expr

    report = sm.report()
    assert f"y = {round_expr(pick.expr)}" in report
    assert "choose()/use_neural() changed them since" in report  # the compile-time check no longer applies
    assert "changed them since" not in heat_compiled.report()
    # heat_compiled (shared by other tests) keeps its own choice
    assert heat_compiled.distilled[0].exprs == d.exprs
