"""torch.compile(model, backend="symfx"): calibration, fitting, switching, the compile cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import sympy
import torch
import torch.nn as nn

import symfx
from symfx.errors import ConfigError
from symfx.lowering import evaluate, evaluate_columns

from .conftest import train_lbfgs

import symfx.dynamo as symfx_backend_module
from symfx.store import JsonStore

OPTIONS = {"time_budget": 2.0, "calibration_steps": 3, "progress": False}
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


def test_backend_factory_and_option_errors():
    fn = symfx.backend(time_budget=1.0, calibration_steps=2)
    assert callable(fn)
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
    f, _ = compiled
    before = len(symfx_backend_module.reports())
    with torch.no_grad():
        out = f(inputs(8, 37))
    assert out.shape == (37, 1)
    new = symfx_backend_module.reports()[before:]
    assert all(not r.fitted and r.status in ("symbolic", "plain") for r in new), new


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
        f = torch.compile(net, backend="symfx", options={OPTIONS!r})
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
    f = torch.compile(model, backend="symfx", dynamic=True, options={**OPTIONS, "cache_dir": ""})
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
        f = torch.compile(Head(trained, scale), backend="symfx", options={**OPTIONS, "cache_dir": str(tmp_path)})
        with torch.no_grad():
            for step in range(OPTIONS["calibration_steps"] + 1):
                f(inputs(step))
        [report] = [r for r in symfx_backend_module.reports() if r.status == "symbolic"]
        keys.setdefault(scale, []).append((report.key, report.cache, report.fitted))
    (k2, cache2, fitted2), (k2_again, cache2_again, fitted2_again) = keys[2.0]
    [(k3, cache3, fitted3)] = keys[3.0]
    assert k3 != k2 and cache3 == "miss" and fitted3
    assert k2_again == k2 and cache2_again == "hit" and not fitted2_again
