"""The promises the README makes, each checked by a test that fails when the promise breaks:
the error contract, drop_neural + save, the report after load, validation undoing a rewrite,
the domain check, PCA, dtypes, include / max_inputs / min_samples, Config range checks, the
default cache directory and the training mode of the returned module (issue #17)."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch
import torch.nn as nn

import symfx
from symfx import errors
from symfx.config import Config
from symfx.engines import Candidate
from symfx.lowering import evaluate_columns
from symfx.passes.fit import fit_region
from symfx.passes.partition import Region, partition, shape_propagate
from symfx.passes.record import Samples
from symfx.passes.validate import output_nrmse
from symfx.pipeline import load_model

from .conftest import train_lbfgs
from .test_serialize import Net, net_payload

#: fast fits: the deterministic sparse pass only, a short budget, no cache, no bars
FAST = dict(time_budget=0.5, progress=False, cache_dir="", engine_options={"gp": False})


def _sine_net() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    X = torch.rand(512, 1) * 2 - 1
    return train_lbfgs(net, X, torch.sin(2 * X), iters=200), X


@pytest.fixture(scope="module")
def sine_net() -> tuple[nn.Module, torch.Tensor]:
    """1→16→1 tanh MLP trained on sin(2x), x∈[-1, 1]."""
    return _sine_net()


# --------------------------------------------------------------------------- the error contract

def test_error_classes_are_symfx_errors_with_their_builtin_base():
    for name, builtin in [("RegionError", KeyError), ("ChoiceError", ValueError), ("StateError", RuntimeError),
                          ("ConfigError", ValueError), ("LoadError", ValueError), ("CalibrationError", ValueError),
                          ("TraceError", RuntimeError), ("EngineUnavailableError", RuntimeError)]:
        cls = getattr(symfx, name)
        assert cls is getattr(errors, name) and name in symfx.__all__
        assert issubclass(cls, symfx.SymfxError) and issubclass(cls, builtin), name
    # a KeyError subclass that prints its message, not the message in quotes
    assert str(symfx.RegionError("no region 'x'")) == "no region 'x'"


def test_misuse_of_the_module_raises_symfx_errors_naming_the_choices():
    sm = load_model(net_payload(), Net())
    with pytest.raises(symfx.RegionError, match=r"no distilled region named 'nope'; distilled regions: \['mlp'\]"):
        sm["nope"]
    with pytest.raises(symfx.RegionError, match=r"'nope'.*\['mlp'\]"):
        sm.use_neural("nope")
    with pytest.raises(symfx.RegionError, match=r"'nope'.*\['mlp'\]"):
        sm.use_symbolic(["mlp", "nope"])
    with pytest.raises(symfx.RegionError, match=r"\['mlp'\]"):
        sm.choose("nope", complexity=1)
    with pytest.raises(symfx.ChoiceError, match=r"no front member of complexity 4; available: \[1, 6, 11\]"):
        sm.choose("mlp", complexity=4)
    with pytest.raises(symfx.ChoiceError, match=r"no front member 3; valid: 0..2"):
        sm.choose("mlp", member=3)
    for both_or_neither in ({"complexity": 1, "member": 0}, {}):
        with pytest.raises(symfx.ChoiceError, match="give a complexity or a member"):
            sm.choose("mlp", **both_or_neither)
    for output in (3, 1, -1, "0", 0.0):  # a 1-output region: only output=0 (no silent negative indexing)
        with pytest.raises(symfx.ChoiceError, match=r"has 1 fitted output\(s\): output= takes \[0\]"):
            sm.choose("mlp", complexity=1, output=output)
    assert sm["mlp"].exprs == [sympy.sin(sympy.Symbol("x0")) * sympy.Symbol("x1") + sympy.Float(0.5)]  # unchanged


def test_drop_neural_then_switching_is_a_state_error_and_save_still_works(tmp_path: Path):
    torch.manual_seed(0)
    X = torch.rand(16, 2)
    sm = load_model(net_payload(), Net(), example_inputs=X[:4]).drop_neural()
    for call in (sm.use_neural, sm.use_symbolic, lambda: sm.choose("mlp", complexity=1)):
        with pytest.raises(symfx.StateError, match=r"drop_neural\(\) was called.*Fix: "):
            call()
    torch.testing.assert_close(sm(X), torch.sin(X[:, :1]) * X[:, 1:] + 0.5)  # still runs its equations
    sm.save(tmp_path / "eq.json")
    doc = json.loads((tmp_path / "eq.json").read_text())
    assert doc["model"] == "Net"
    loaded = symfx.load(tmp_path / "eq.json", Net(), example_inputs=X[:4])
    torch.testing.assert_close(loaded(X), sm(X), rtol=0, atol=0)


def test_drop_neural_then_save_names_the_compiled_model_class(tmp_path: Path, heat_mlp, heat_compiled):
    net, X = heat_mlp
    sm = copy.deepcopy(heat_compiled).drop_neural()
    sm.save(tmp_path / "heat.json")
    assert json.loads((tmp_path / "heat.json").read_text())["model"] == "Sequential"  # not "NoneType"
    loaded = symfx.load(tmp_path / "heat.json", net, example_inputs=X[:4])
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), heat_compiled(X), rtol=0, atol=0)


def test_report_after_load_says_the_whole_model_check_is_absent(tmp_path: Path, heat_mlp, heat_compiled):
    net, X = heat_mlp
    heat_compiled.save(tmp_path / "heat.json")
    loaded = symfx.load(tmp_path / "heat.json", net, example_inputs=X[:4])
    assert loaded.validation is None
    assert "whole-model output check: none for these equations (symfx.load does not rerun" in loaded.report()
    compiled_report = heat_compiled.report()
    assert "whole-model output nrmse with equations on" in compiled_report
    assert "whole-model output check: none" not in compiled_report


# --------------------------------------------------------------------------- validation undoes a rewrite

def test_validation_undoes_a_rewrite_that_breaks_model_tolerance(sine_net, tmp_path: Path):
    net, X = sine_net
    cached = {**FAST, "cache_dir": str(tmp_path), "tolerance": 0.05}
    ok = symfx.compile(net, X, **cached)  # the equation is accepted at the default model tolerance ...
    assert [d.name for d in ok.distilled] == ["sequential"], ok.report()
    with torch.no_grad():
        assert not torch.equal(ok(X), net(X))
    strict = symfx.compile(net, X, model_tolerance=1e-7, **cached)  # ... same fit (cache), stricter model check
    # the law stays reported (#13: sm.distilled lists every region with a law), refused and not running
    [refused] = strict.distilled
    assert refused.status == "not applied" and refused.note.startswith("refused by validation"), strict.report()
    [(name, reason)] = [s for s in strict.skipped if s[0] == "sequential"]
    assert reason.startswith("model output nrmse ") and "> tolerance 1e-07" in reason
    assert set(strict.validation.rejected) == {"sequential"} and strict.validation.accepted == []
    with torch.no_grad():  # undone: the module runs the network again, bit for bit
        torch.testing.assert_close(strict(X), net(X), rtol=0, atol=0)
    assert "model output nrmse" in strict.report()


def test_validation_ignores_entries_where_the_network_itself_is_not_finite():
    ref = [torch.tensor([[1.0], [float("nan")], [3.0], [float("inf")]])]
    assert output_nrmse(ref, [torch.tensor([[1.0], [5.0], [3.0], [7.0]])]) == 0.0
    assert output_nrmse(ref, [torch.tensor([[1.0], [5.0], [float("nan")], [7.0]])]) == math.inf
    assert output_nrmse(ref, [torch.tensor([[2.0], [5.0], [3.0], [7.0]])]) > 0


# --------------------------------------------------------------------------- domain check

def _samples(lo: float, hi: float, n: int = 400) -> Samples:
    g = torch.Generator().manual_seed(0)
    X = lo + (hi - lo) * torch.rand(n, 1, generator=g, dtype=torch.float64)
    return Samples("r", X[:300], X[:300].clone(), X[300:], X[300:].clone(), X.min(0).values, X.max(0).values, n, 0)


@pytest.mark.parametrize("unsafe", ["pole", "log", "sqrt"])
def test_a_member_with_a_pole_or_domain_limit_inside_the_widened_box_is_not_chosen(unsafe):
    """y = x on [0.2, 1]; the simplest member is within tolerance on the data but has a pole (or a
    log/sqrt limit) at 0.15, inside the box widened by domain_margin=0.1 ([0.12, 1.08]), outside it
    with domain_margin=0."""
    x0 = sympy.Symbol("x0")
    c = sympy.Float(0.15)
    bad = {"pole": x0 + sympy.Float(1e-4) / (x0 - c), "log": x0 + sympy.Float(1e-3) * sympy.log(x0 - c),
           "sqrt": x0 + sympy.Float(1e-3) * sympy.sqrt(x0 - c)}[unsafe]
    good = x0 + sympy.Float(1e-4) * x0**2
    front = [Candidate(bad, 3, 0.0), Candidate(good, 7, 0.0)]
    region = Region("r", "", "row", ("a", "b"), ("x",), (1,), "b", 1, ("x0",))
    samples = _samples(0.2, 1.0)
    widened = fit_region(region, samples, Config(domain_margin=0.1, selection="simplest"), lambda *a: [front])
    assert [e.safe for e in widened.fronts[0]] == [False, True]
    assert widened.exprs == (good,)
    assert widened.fronts[0][0].nrmse < 1e-2  # it was within tolerance: only the domain check refused it
    exact = fit_region(region, samples, Config(domain_margin=0.0, selection="simplest"), lambda *a: [front])
    assert exact.exprs == (bad,) and exact.fronts[0][0].safe


def test_a_law_written_with_a_removable_pole_is_chosen_without_it():
    """y = 1/(8*sin(x0)) on [0.5, 1.5]. A search wrote it as cos(x0)/(4*sin(2*x0)): the same function
    on the data, with a pole at pi/2 inside the widened box. It is chosen, written without the pole
    (trigonometric identities), over a finite mimic; a genuine pole (the test above) still is not."""
    x0 = sympy.Symbol("x0")
    written = sympy.cos(x0) / (4 * sympy.sin(2 * x0))
    mimic = sympy.Float(0.3) / x0 + sympy.Float(0.01)  # finite, but 3 % off
    front = [Candidate(mimic, 5, 0.0), Candidate(written, 9, 0.0)]
    region = Region("r", "", "row", ("a", "b"), ("x",), (1,), "b", 1, ("x0",))
    g = torch.Generator().manual_seed(0)
    X = 0.5 + torch.rand(400, 1, generator=g, dtype=torch.float64)
    Y = 1 / (8 * torch.sin(X))
    samples = Samples("r", X[:300], Y[:300], X[300:], Y[300:], X.min(0).values, X.max(0).values, 400, 0)
    fit = fit_region(region, samples, Config(domain_margin=0.1), lambda *a: [front])
    assert fit.exprs == (1 / (8 * sympy.sin(x0)),)
    assert all(e.safe for e in fit.fronts[0]) and fit.fronts[0][1].complexity < 9
    assert fit.fronts[0][1].nrmse < 1e-9 and fit.applied


# --------------------------------------------------------------------------- PCA through symfx.compile

def test_pca_in_and_pca_out_through_compile():
    """12 input features that span 2 directions, 6 outputs: fitted as equations in 2 input
    components for 2 output components, and the module computes exactly that."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 6)).eval()
    latent = torch.rand(1024, 2) * 2 - 1
    X = latent @ torch.randn(2, 12)
    sm = symfx.compile(net, X, pca_in=2, pca_out=2, selection="accurate", tolerance=0.2, model_tolerance=0.2, **FAST)
    [d] = sm.distilled
    assert d.projection.in_basis.shape == (12, 2) and d.projection.out_basis.shape == (6, 2)
    assert len(d.variables) == 2
    assert "pca_in=2, pca_out=2" in sm.report()
    p = d.projection
    Z = (X.double().numpy() - p.in_mean) @ p.in_basis
    want = evaluate_columns(d.exprs, sympy.symbols(d.variables), Z) @ p.out_basis.T + p.out_mean
    with torch.no_grad():
        got = sm(X).double().numpy()
        ref = net(X).double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.sqrt(np.mean((got - ref) ** 2)) / ref.std() <= 0.2


# --------------------------------------------------------------------------- model dtypes

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 0.02), (torch.bfloat16, 0.1)])
def test_float64_and_bfloat16_models_compile_and_run_in_their_dtype(sine_net, dtype, tol):
    net, X = sine_net
    model, Xd = copy.deepcopy(net).to(dtype), X.to(dtype)
    sm = symfx.compile(model, Xd, tolerance=tol, **FAST)
    assert [d.name for d in sm.distilled] == ["sequential"], sm.report()
    assert all(p.dtype == dtype for p in sm.parameters())
    with torch.no_grad():
        out, ref = sm(Xd), model(Xd)
    assert out.dtype == dtype and not torch.equal(out, ref)
    assert output_nrmse([ref], [out]) <= tol


# --------------------------------------------------------------------------- which regions

class TwoMLPs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
        self.decoder = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x).index_select(0, index))


def test_include_keeps_only_matching_regions():
    torch.manual_seed(0)
    model = TwoMLPs().eval()
    x, idx = torch.rand(256, 2), torch.randint(0, 256, (256,))
    sm = symfx.compile(model, (x, idx), include=("enc*",), tolerance=0.1, **FAST)
    assert [d.name for d in sm.distilled] == ["encoder"], sm.report()
    assert ("decoder", "not matched by include=") in sm.skipped


class WideGelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(12, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.out(h * torch.sigmoid(1.702 * h))


def test_a_row_region_wider_than_max_inputs_falls_back_to_its_elementwise_chain():
    torch.manual_seed(0)
    model = WideGelu().eval()
    x = torch.randn(512, 12)
    gm = torch.fx.symbolic_trace(model)
    shape_propagate(gm, (x,))
    wide = partition(gm, max_inputs=8).regions
    assert [(r.kind, r.variables) for r in wide] == [("elementwise", ("x0",))]
    assert [r.kind for r in partition(gm, max_inputs=12).regions] == ["row"]  # fits directly when allowed
    sm = symfx.compile(model, x, tolerance=0.05, operators=("add", "mul", "div", "exp", "sub"), **FAST)
    [d] = sm.distilled
    assert d.kind == "elementwise" and d.variables == ("x0",)
    h = torch.linspace(-3, 3, 101, dtype=torch.float64)
    pred = evaluate_columns(d.exprs, [sympy.Symbol("x0")], h[:, None].numpy())[:, 0]
    truth = (h * torch.sigmoid(1.702 * h)).numpy()
    assert np.sqrt(np.mean((pred - truth) ** 2)) / truth.std() < 0.05, d.equations()


def test_min_samples_skips_a_region_with_too_few_rows():
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).eval()
    with pytest.warns(UserWarning, match="no region was replaced"):
        sm = symfx.compile(model, torch.rand(40, 2), min_samples=64, **FAST)
    assert sm.distilled == []
    [(name, reason)] = sm.skipped
    assert name == "sequential" and "only 40 usable rows recorded (need min_samples=64" in reason


# --------------------------------------------------------------------------- Config and the cache directory

@pytest.mark.parametrize("option,value,message", [
    ("tolerance", 0.0, "tolerance must be a positive number"),
    ("tolerance", math.inf, "tolerance must be a positive number"),
    ("model_tolerance", -1.0, "model_tolerance must be positive or None"),
    ("max_inputs", 0, "max_inputs must be >= 1"),
    ("max_samples", 0, "max_samples must be >= 1"),
    ("min_samples", 5000, r"min_samples \(5000\) exceeds max_samples \(4096\)"),
    ("max_complexity", 0, "max_complexity must be >= 1"),
    ("min_region_nodes", 0, "min_region_nodes must be >= 1"),
    ("holdout", 0.0, r"holdout must lie in \(0, 0.9\)"),
    ("holdout", 0.95, r"holdout must lie in \(0, 0.9\)"),
    ("time_budget", 0, "time_budget must be positive"),
    ("operators", ("add", "gamma"), r"unknown operators \['gamma'\]"),
    ("pca_in", 0, "pca_in must be a positive integer or None"),
    ("pca_out", -2, "pca_out must be a positive integer or None"),
    ("n_threads", -1, "n_threads must be >= 0"),
    ("domain_margin", -0.1, "domain_margin must be >= 0"),
    ("engine", "julia", "engine='julia' is not known"),
    ("selection", "best", "selection='best' is not known"),
    ("network_error", 1.5, r"network_error must lie in \[0, 1\)"),
    ("network_error", -0.01, r"network_error must lie in \[0, 1\)"),
])
def test_config_range_checks(option, value, message):
    with pytest.raises(symfx.ConfigError, match=message):
        Config(**{option: value})
    with pytest.raises(symfx.ConfigError, match=message):  # the same check through the entry point
        symfx.compile(nn.Linear(2, 1), torch.rand(4, 2), **{option: value})


def test_default_cache_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SYMFX_CACHE_DIR", raising=False)
    assert Config().resolved_cache_dir == str(tmp_path / "home" / ".cache" / "symfx")
    monkeypatch.setenv("SYMFX_CACHE_DIR", str(tmp_path / "env"))
    assert Config().resolved_cache_dir == str(tmp_path / "env")
    assert Config(cache_dir=str(tmp_path / "mine")).resolved_cache_dir == str(tmp_path / "mine")
    assert Config(cache_dir="").resolved_cache_dir is None
    monkeypatch.setenv("SYMFX_CACHE_DIR", "")
    assert Config().resolved_cache_dir is None


def test_compile_writes_its_fit_cache_under_home_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            sine_net):
    """And returns the module in the model's training mode (compile works on an eval copy)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SYMFX_CACHE_DIR", raising=False)
    net, X = sine_net
    model = copy.deepcopy(net).train()
    options = {k: v for k, v in FAST.items() if k != "cache_dir"}
    sm = symfx.compile(model, X, tolerance=0.05, **options)
    assert sm.distilled, sm.report()
    assert list((tmp_path / ".cache" / "symfx" / "fits").rglob("*.json")), "no fit-cache entry under ~/.cache/symfx"
    assert model.training and sm.training and all(m.training for m in sm.modules())
    sm_eval = symfx.compile(copy.deepcopy(net).eval(), X, tolerance=0.05, **options)
    assert not sm_eval.training and not any(m.training for m in sm_eval.modules())
    loaded_path = tmp_path / "eq.json"
    sm.save(loaded_path)
    assert symfx.load(loaded_path, model).training and not symfx.load(loaded_path, net.eval()).training
