"""A rewritten model as an artifact: torch.export, save/load, dtypes, determinism."""
from __future__ import annotations

import torch
import torch.nn as nn

import symfx


def test_torch_export_holds_the_equations_as_aten_ops(heat_mlp, heat_compiled):
    _, X = heat_mlp
    exported = torch.export.export(heat_compiled, (X[:8],), dynamic_shapes=(({0: torch.export.Dim("batch")},),))
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert any("aten.exp" in t for t in targets) and any("aten.sin" in t for t in targets), targets
    assert not any("addmm" in t or "linear" in t for t in targets), targets  # the MLP is gone
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(X), heat_compiled(X))


def test_save_load_round_trip_without_refitting(tmp_path, heat_mlp, heat_compiled):
    net, X = heat_mlp
    path = tmp_path / "heat.symfx.json"
    heat_compiled.save(str(path))
    text = path.read_text()
    assert '"exp"' in text and '"sin"' in text
    loaded = symfx.load(str(path), net, example_inputs=X[:4])
    assert [d.name for d in loaded.distilled] == [d.name for d in heat_compiled.distilled]
    assert loaded.distilled[0].exprs == heat_compiled.distilled[0].exprs
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), heat_compiled(X), rtol=0, atol=0)


def test_rewritten_graph_runs_in_the_model_dtype(heat_mlp, heat_compiled):
    _, X = heat_mlp
    gm = heat_compiled.graph_modules()[""]
    with torch.no_grad():
        ref = gm(X.double())
    # outputs are O(1); measured max errors: bfloat16 0.011, float16 0.0014 (inputs rounded too)
    for dtype, atol in ((torch.float64, 0.0), (torch.bfloat16, 0.03), (torch.float16, 0.005)):
        with torch.no_grad():
            out = gm(X.to(dtype))
        assert out.dtype == dtype
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out.double(), ref, atol=atol, rtol=0)


def test_same_seed_same_equations():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)).eval()
    X = torch.linspace(-1, 1, 512)[:, None]
    runs = [
        symfx.compile(net, X, time_budget=1, tolerance=0.05, progress=False, cache_dir="", seed=3)
        for _ in range(2)
    ]
    assert runs[0].distilled, runs[0].report()  # equal because something was distilled, not because nothing was
    assert [d.exprs for d in runs[0].distilled] == [d.exprs for d in runs[1].distilled]


def test_a_deterministic_fit_ignores_the_clock(monkeypatch):
    """``deterministic`` (the default) has no time net: the same seed gives the same front when
    every clock reading runs 50x fast, as on a machine 50x busier. On CI (2 workers, 2 cores) the
    nets of a 1 s budget bound a 1-input fit whose counts take ~4.5 s, and the same seed gave
    ``0.48*x0 - 0.084*cos(2*x0 - 13/3) - log(2)/4`` and ``-exp(tanh(x0))/7 + pi*sin(x0)/4``."""
    import time

    import numpy as np

    from symfx.config import Config
    from symfx.engines import get_engine

    X = np.linspace(-1, 1, 512)[:, None]
    y = np.tanh(2 * X[:, 0] - 0.3) - 0.4 * np.tanh(3 * X[:, 0] + 1)  # no short law: every stage works
    fronts = {}

    def fit(deterministic: bool) -> list[str]:
        cfg = Config(time_budget=1, tolerance=0.05, cache_dir="", progress=False, seed=3,
                     engine_options={"deterministic": deterministic})
        return [str(c.expr) for c in get_engine("operon").fit(X, y[:, None], ["x0"], cfg)[0]]

    fronts["idle"] = fit(True)
    real, t0 = time.perf_counter, time.perf_counter()
    monkeypatch.setattr(time, "perf_counter", lambda: t0 + 50 * (real() - t0))
    fronts["busy"], fronts["busy, with nets"] = fit(True), fit(False)
    assert fronts["busy"] == fronts["idle"], fronts
    assert fronts["busy, with nets"] != fronts["idle"], fronts  # the clock does matter to the nets
