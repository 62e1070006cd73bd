"""symfx.explain (SLIME): a local law around one point, its fidelity next to LIME's linear surrogate,
on a function and on a region of a compiled model; bad input is a clear SymfxError."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import symfx
from symfx.errors import ConfigError, FunctionError

FAST = dict(time_budget=2.0, progress=False, cache_dir="")


def _wavy(X):
    return np.sin(3 * X[:, 0]) * np.exp(X[:, 1]) + 0.1 * np.cos(7 * X[:, 0] * X[:, 1])


def test_local_law_is_faithful_near_the_point_and_beats_the_linear_surrogate():
    # at x0 = 0.5, 3*x0 = 1.5 is near the top of the sine: the function curves there, a slope cannot follow
    d = symfx.explain(_wavy, np.array([0.5, 0.2]), **FAST)
    assert d.local is not None and d.local.n_synthetic == 100 and d.local.point == (0.5, 0.2)
    assert d.local.nrmse < 0.05, d.report()
    assert d.local.nrmse < d.local.linear_nrmse / 5, d.local
    assert "linear surrogate" in d.report()
    X = np.array([0.5, 0.2]) + np.array([0.05, 0.02]) * np.random.default_rng(9).standard_normal((50, 2))
    assert np.abs(d(X) - _wavy(X)).max() < 0.05 * (_wavy(X).max() - _wavy(X).min()) + 1e-3


def test_neighbours_come_from_reference_data_and_scale_follows_its_spread():
    ref = np.random.default_rng(1).uniform(-1, 1, size=(500, 2))
    d = symfx.explain(_wavy, [0.1, -0.3], reference=ref, n_neighbors=10, **FAST)
    assert d.local.n_neighbors == 10
    np.testing.assert_allclose(d.local.scale, 0.1 * ref.std(axis=0))
    assert d.local.nrmse < 0.05


def test_a_region_of_a_compiled_model(heat_mlp, heat_compiled):
    net, X = heat_mlp
    name = heat_compiled.distilled[0].name
    point = X[7]
    d = symfx.explain(heat_compiled, point, region=name, **FAST)
    assert d.local.nrmse < 0.05, d.report()
    with torch.no_grad():  # the local law computes what the network computes near the point
        near = point + 0.01 * torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(d(near.double()).float(), net(near)[:, 0], atol=0.02, rtol=0)
    same = symfx.explain(net, point, region=name, example_inputs=X[:8], **FAST)  # a plain model, traced here
    assert same.local.nrmse < 0.05


def test_bad_input_is_a_clear_symfx_error(heat_mlp, heat_compiled):
    net, X = heat_mlp
    name = heat_compiled.distilled[0].name
    with pytest.raises(ConfigError, match="x has 3 values but region"):
        symfx.explain(heat_compiled, [0.1, 0.2, 0.3], region=name, **FAST)
    with pytest.raises(ConfigError, match="NaN"):
        symfx.explain(_wavy, [float("nan"), 0.2], **FAST)
    with pytest.raises(ConfigError, match=r"reference must be \[n, 2\]"):
        symfx.explain(_wavy, [0.1, 0.2], reference=np.ones((10, 3)), **FAST)
    with pytest.raises(ConfigError, match="below min_samples"):
        symfx.explain(_wavy, [0.1, 0.2], n_synthetic=10, **FAST)
    with pytest.raises(ConfigError, match="no region named"):
        symfx.explain(heat_compiled, [0.1, 0.2], region="nope", **FAST)
    with pytest.raises(ConfigError, match="needs example_inputs"):
        symfx.explain(net, [0.1, 0.2], region=name, **FAST)
    with pytest.raises(FunctionError):
        symfx.explain("not a function", [0.1, 0.2], **FAST)
