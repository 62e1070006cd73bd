"""torch.compile(model, backend="symfx"): calibration, fitting, switching, the compile cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import numpy as np
import pytest
import sympy
import torch
import torch.fx as fx
import torch.nn as nn

import symfx
from symfx.errors import ConfigError
from symfx.lowering import evaluate, evaluate_columns

from .conftest import train_lbfgs

import symfx.dynamo as symfx_backend_module
from symfx.store import JsonStore

# The sparse pass finds sin(2*x0) alone; the GP stage would add ~7 s a fit and is tested in test_engines.
OPTIONS = {"time_budget": 2.0, "calibration_steps": 3, "progress": False, "engine_options": {"gp": False}}
# Tests of caching and graph handling run the switched graphs eagerly: a cold Inductor compile costs
# 7-9 s each on 2 cores, and the Inductor path is tested end to end by the `compiled` fixture and below.
EAGER = {**OPTIONS, "inductor": False}
BATCH = 64


def law(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(2 * x)


def make_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    X = torch.rand(512, 1) * 2 - 1
    return train_lbfgs(net, X, law(X), iters=300)


def inputs(seed: int, n: int = BATCH) -> torch.Tensor:
    return torch.rand(n, 1, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    return make_net()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("symfx_cache"))


@pytest.fixture(scope="module")
def compiled(trained, cache_dir):
    """The trained MLP under torch.compile(backend="symfx"), calibrated and switched (no_grad, one batch size)."""
    import torch._dynamo

    torch._dynamo.reset()
    symfx_backend_module.clear()
    f = torch.compile(trained, backend="symfx", options={**OPTIONS, "cache_dir": cache_dir})
    with torch.no_grad():
        for step in range(OPTIONS["calibration_steps"] + 1):
            f(inputs(step))
    return f, symfx_backend_module.reports()


def _the_report(reports):
    done = [r for r in reports if r.status == "symbolic"]
    assert done, reports
    return done[-1]


def test_backend_is_registered_and_listed():
    import torch._dynamo

    assert "symfx" in torch._dynamo.list_backends()
    from torch._dynamo.backends.registry import lookup_backend

    assert lookup_backend("symfx") is symfx_backend_module.symfx_backend


def test_backend_factory_and_option_errors(trained):
    import torch._dynamo

    torch._dynamo.reset()
    symfx_backend_module.clear()
    fn = symfx.backend(time_budget=1.0, calibration_steps=2, inductor=False, progress=False, cache_dir="",
                       engine_options={"gp": False})
    f = torch.compile(trained, backend=fn)
    with torch.no_grad():
        f(inputs(0))
        assert [r.status for r in symfx_backend_module.reports()] == ["calibrating"]
        f(inputs(1))  # calibration_steps=2: fitted after the second call
        [report] = symfx_backend_module.reports()
        assert report.status == "symbolic" and report.fitted and report.cache == "off", report
        x = inputs(2)
        out = f(x)
    [(expr,)] = report.exprs.values()
    np.testing.assert_allclose(out.numpy()[:, 0], evaluate_columns([expr], [sympy.Symbol("x0")],
                                                                   x.double().numpy())[:, 0], atol=1e-4)
    with pytest.raises(ConfigError, match="did you mean 'time_budget'"):
        symfx.backend(time_budge=1.0)
    with pytest.raises(ConfigError, match="calibration_steps"):
        symfx.backend(calibration_steps=0)


def test_compiled_mlp_gives_the_law_and_matching_outputs(trained, compiled):
    f, reports = compiled
    report = _the_report(reports)
    assert report.fitted and report.cache == "miss", report
    assert os.path.exists(report.cache_path)
    [(name, exprs)] = report.exprs.items()
    (expr,) = exprs
    x0 = sympy.Symbol("x0")
    assert expr.free_symbols == {x0}
    X = inputs(100, 4000).double()
    truth = law(X).numpy()[:, 0]
    pred = evaluate_columns([expr], [x0], X.numpy())[:, 0]
    assert np.sqrt(np.mean((pred - truth) ** 2)) / truth.std() < 1e-2, report.equations
    x = inputs(7)
    with torch.no_grad():
        out = f(x)
        ref = trained(x)
    # the compiled model runs the equation, not the network ...
    np.testing.assert_allclose(out.numpy()[:, 0], evaluate_columns([expr], [x0], x.double().numpy())[:, 0],
                               atol=1e-4)
    assert not torch.equal(out, ref)
    # ... and stays within tolerance of the network
    assert torch.allclose(out, ref, atol=0.02)


def test_batch_size_change_does_not_refit(compiled):
    f, reports = compiled
    first = _the_report(reports)
    before = len(symfx_backend_module.reports())
    with torch.no_grad():
        x = inputs(8, 37)
        out = f(x)
    assert out.shape == (37, 1)
    new = symfx_backend_module.reports()[before:]
    # Dynamo recompiles for the new size; the recompile shares the calibration: same key, no fit
    assert new, "no recompile for a new batch size: the test no longer exercises the shared path"
    assert all(r.key == first.key and r.cache == "shared" and not r.fitted and r.status == "symbolic"
               for r in new), new
    [(expr,)] = first.exprs.values()
    np.testing.assert_allclose(out.numpy()[:, 0], evaluate_columns([expr], [sympy.Symbol("x0")],
                                                                   x.double().numpy())[:, 0], atol=1e-4)


def test_gradients_flow_through_the_equation(compiled):
    f, reports = compiled
    expr = _the_report(reports).exprs
    (expr,) = next(iter(expr.values()))
    x = inputs(9).requires_grad_(True)
    f(x).sum().backward()
    xr = x.detach().double().requires_grad_(True)
    evaluate(expr, {sympy.Symbol("x0"): xr[:, 0]}, backend="torch").sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad.double(), xr.grad, rtol=1e-4, atol=1e-4)
    assert not any(r.fitted for r in symfx_backend_module.reports()[len(reports):])


def test_second_process_uses_the_cache_and_does_no_fitting(trained, compiled, cache_dir, tmp_path):
    _, reports = compiled
    first = _the_report(reports)
    weights = tmp_path / "net.pt"
    torch.save(trained.state_dict(), weights)
    script = textwrap.dedent(f"""
        import json, torch, torch.nn as nn
        import symfx.dynamo as B
        net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
        net.load_state_dict(torch.load({str(weights)!r}, weights_only=True))
        net.eval()
        f = torch.compile(net, backend="symfx", options={EAGER!r})
        with torch.no_grad():
            f(torch.rand({BATCH}, 1) * 2 - 1)
        print(json.dumps([dict(cache=r.cache, fitted=r.fitted, status=r.status, key=r.key,
                               equations=r.equations) for r in B.reports()]))
    """)
    env = {**os.environ, "SYMFX_CACHE_DIR": cache_dir}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [second] = json.loads(done.stdout.strip().splitlines()[-1])
    assert second["cache"] == "hit" and not second["fitted"], second
    assert second["status"] == "symbolic" and second["key"] == first.key
    assert second["equations"] == first.equations


def test_corrupt_or_stale_cache_entries_are_ignored_with_a_warning(compiled, tmp_path):
    _, reports = compiled
    report = _the_report(reports)
    store = JsonStore(str(tmp_path), "compile", "compile-cache")
    path = store.path(report.key)
    path.parent.mkdir(parents=True)
    with open(report.cache_path, encoding="utf-8") as fh:
        good = fh.read()
    job = symfx_backend_module._JOBS[report.key]
    assert store.read(report.key, lambda text: symfx_backend_module._parse_entry(text, report.key, job.regions)) is None  # nothing there yet: no warning
    for text in ("{not json", good.replace(report.key, "0" * 64),
                 good.replace('\\"sin\\"', '\\"system\\"'), json.dumps({"format": "other"})):
        path.write_text(text, encoding="utf-8")
        with pytest.warns(UserWarning, match="ignoring stale or corrupt compile-cache entry"):
            assert store.read(report.key, lambda text: symfx_backend_module._parse_entry(text, report.key, job.regions)) is None
    path.write_text(good, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entry = store.read(report.key, lambda text: symfx_backend_module._parse_entry(text, report.key, job.regions))
    assert [str(e) for f in entry.fits.values() for e in f.exprs] == next(iter(report.equations.values()))


class Broken(nn.Module):
    """MLP → graph break → the same MLP on a rescaled input: two Dynamo graphs, two regions."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x)
        torch._dynamo.graph_break()
        return self.net(0.5 * h)


def test_graph_break_and_dynamic_shapes(trained):
    import torch._dynamo

    model = Broken(trained)
    symfx_backend_module.clear()
    f = torch.compile(model, backend="symfx", dynamic=True, options={**EAGER, "cache_dir": ""})
    with torch.no_grad():
        for step in range(OPTIONS["calibration_steps"] + 1):
            f(inputs(20 + step, 48 + 5 * step))  # a different batch size every call
        x = inputs(30, 21)
        out, ref = f(x), model(x)
    reports = symfx_backend_module.reports()
    symbolic = [r for r in reports if r.status == "symbolic"]
    assert len({r.key for r in symbolic}) == 2, reports  # each subgraph distilled on its own
    assert sum(r.fitted for r in reports) == 2 and all(r.cache == "off" for r in reports)
    assert not torch.equal(out, ref)
    assert torch.allclose(out, ref, atol=0.02)


def test_graphs_with_equations_compile_with_cpu_vectorisation_on(heat_mlp, heat_compiled):
    from symfx.inductor import inductor_options

    _, X = heat_mlp
    rewritten = heat_compiled.graph_modules()[""]
    assert inductor_options([rewritten]) == {"cpp.enable_tiling_heuristics": False}
    neural = torch.fx.symbolic_trace(heat_mlp[0])
    assert inductor_options([neural]) == {}


class Head(nn.Module):
    """The trained MLP followed by an op outside its region."""

    def __init__(self, net: nn.Module, scale: float):
        super().__init__()
        self.net, self.scale = net, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale


def test_cache_key_covers_ops_outside_the_regions(trained, tmp_path):
    """Same region, same weights, a different op after it: a cache entry of one must not serve the
    other (it was validated against the other graph's output)."""
    import torch._dynamo

    keys = {}
    for scale in (2.0, 3.0, 2.0):
        torch._dynamo.reset()
        symfx_backend_module.clear()
        f = torch.compile(Head(trained, scale), backend="symfx", options={**EAGER, "cache_dir": str(tmp_path)})
        with torch.no_grad():
            for step in range(OPTIONS["calibration_steps"] + 1):
                f(inputs(step))
        [report] = [r for r in symfx_backend_module.reports() if r.status == "symbolic"]
        keys.setdefault(scale, []).append((report.key, report.cache, report.fitted))
    (k2, cache2, fitted2), (k2_again, cache2_again, fitted2_again) = keys[2.0]
    [(k3, cache3, fitted3)] = keys[3.0]
    assert k3 != k2 and cache3 == "miss" and fitted3
    assert k2_again == k2 and cache2_again == "hit" and not fitted2_again


# --------------------------------------------------------------------------- backend options, validation, fallback

FAST = {"progress": False, "cache_dir": "", "time_budget": 1.0, "engine_options": {"gp": False}}


@pytest.fixture
def inductor_calls(monkeypatch):
    """compile_fx replaced by a recorder that runs the graph eagerly: what the backend hands to
    Inductor and with which config patches, without Inductor's compile time."""
    import torch._inductor.compile_fx as compile_fx_module

    calls: list[tuple[fx.GraphModule, dict]] = []

    def fake_compile_fx(gm, example_inputs, config_patches=None, **kwargs):
        calls.append((gm, dict(config_patches or {})))
        return gm.forward

    monkeypatch.setattr(compile_fx_module, "compile_fx", fake_compile_fx)
    return calls


def _run(model: nn.Module, steps: int = 3, backend: Any = "symfx", **compile_kwargs: Any):
    """Compile, call steps + 1 times (calibrate, then switch) and one more time on fresh inputs."""
    import torch._dynamo

    torch._dynamo.reset()
    symfx_backend_module.clear()
    f = torch.compile(model, backend=backend, **compile_kwargs)
    with torch.no_grad():
        for step in range(steps + 1):
            f(inputs(step))
        x = inputs(50)
        return f(x), model(x), symfx_backend_module.reports()


def _graph_calls(gm: fx.GraphModule) -> set[str]:
    return {str(n.target) for n in gm.graph.nodes if n.op == "call_function"}


def test_inductor_false_runs_eagerly_and_true_hands_both_graphs_to_inductor(trained, inductor_calls):
    out, ref, [report] = _run(trained, options={**FAST, "calibration_steps": 3, "inductor": False})
    assert report.status == "symbolic" and inductor_calls == []
    assert not torch.equal(out, ref) and torch.allclose(out, ref, atol=0.02)
    out, ref, [report] = _run(trained, options={**FAST, "calibration_steps": 3})
    assert report.status == "symbolic"
    recording, final = [gm for gm, _ in inductor_calls]
    assert any("aten.sin" in t for t in _graph_calls(final)), final.code  # the equation, not the network
    assert not any("aten.sin" in t for t in _graph_calls(recording))
    assert inductor_calls[-1][1] == {"cpp.enable_tiling_heuristics": False}  # symfx's CPU patch for sin


def test_inductor_options_take_precedence_over_symfx_and_mode(trained, inductor_calls):
    fn = symfx.backend(**FAST, calibration_steps=3,
                       inductor_options={"cpp.enable_tiling_heuristics": True, "max_autotune": False})
    _, _, [report] = _run(trained, backend=fn, mode="max-autotune")
    assert report.status == "symbolic"
    patches = inductor_calls[-1][1]
    assert patches["cpp.enable_tiling_heuristics"] is True  # the user's value, not symfx's False
    assert patches["max_autotune"] is False  # the user's value over the mode's
    from torch._inductor import list_mode_options

    mode_only = {k: v for k, v in list_mode_options("max-autotune").items() if k != "max_autotune"}
    assert mode_only and all(patches[k] == v for k, v in mode_only.items())  # the rest of the mode applies


def test_validation_in_the_backend_keeps_the_graph_neural(trained, inductor_calls):
    """config= carries the options; a model_tolerance no equation can meet: the rewrite is undone."""
    cfg = symfx.Config(tolerance=0.5, model_tolerance=1e-7, **FAST)
    out, ref, [report] = _run(trained, options={"config": cfg, "calibration_steps": 3, "inductor": False})
    assert report.fitted and report.status == "neural" and report.exprs == {}, report
    assert any(name == "graph" and "> tolerance 1e-07" in why for name, why in report.skipped), report.skipped
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-7)  # the network's graph, not an equation
    with pytest.raises(ConfigError, match="config= must be a symfx.Config"):
        symfx.backend(config={"tolerance": 0.5})


def test_fitting_failure_leaves_the_graph_neural_with_a_warning(trained, inductor_calls, monkeypatch):
    import symfx.pipeline

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(symfx.pipeline, "fit_regions", crash)
    with pytest.warns(UserWarning, match=r"fitting failed \(RuntimeError: engine crashed\); this graph stays neural"):
        out, ref, [report] = _run(trained, options={**FAST, "calibration_steps": 2, "inductor": False})
    assert report.status == "neural" and ("<graph>", "fitting failed: RuntimeError") in report.skipped
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-7)

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise symfx.EngineUnavailableError("no Julia here; use engine='operon'")

    monkeypatch.setattr(symfx.pipeline, "fit_regions", unavailable)
    with pytest.raises(symfx.EngineUnavailableError, match="no Julia"):  # a deliberate error is not swallowed
        _run(trained, options={**FAST, "calibration_steps": 2, "inductor": False})
