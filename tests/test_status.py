"""Interpretation and rewriting apart (#13): a law found but not within tolerance is reported in
sm.distilled with status "not applied", the graph keeps the network, and naming it applies it."""
from __future__ import annotations

import pytest
import sympy
import torch
import torch.nn as nn

import symfx

from .conftest import train_lbfgs


@pytest.fixture(scope="module")
def product_net() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))
    X = torch.rand(1024, 2) + 0.5
    # 200 iterations: a network 0.17 % off its law (measured), as trained networks are
    train_lbfgs(net, X, X[:, :1] * X[:, 1:], iters=200)
    return net, X


def test_a_law_off_the_network_is_reported_not_applied_and_can_be_applied_by_name(tmp_path, product_net):
    net, X = product_net
    sm = symfx.compile(net, X, time_budget=2, tolerance=1e-7, progress=False, cache_dir="")
    [d] = sm.distilled
    assert d.status == "not applied" and not d.active
    assert "not applied" in d.note and "off the network" in d.note
    x0, x1 = sympy.symbols(d.variables)
    assert sympy.simplify(d.exprs[0] - x0 * x1) == 0, d.exprs  # the law itself is reported
    assert d.nrmse > 1e-7
    with torch.no_grad():
        torch.testing.assert_close(sm(X), net(X), rtol=0, atol=0)  # the graph still runs the network
        report = sm.report()
        assert "not applied" in report
        sm.use_symbolic()  # what symfx applied: nothing
        torch.testing.assert_close(sm(X), net(X), rtol=0, atol=0)
        sm.save(tmp_path / "none.json")  # a law symfx did not apply is not saved...
        assert symfx.load(tmp_path / "none.json", net).distilled == []
        sm.use_symbolic(d.name)  # ...unless the user applies it
        assert d.status == "symbolic"
        torch.testing.assert_close(sm(X), X[:, :1] * X[:, 1:], rtol=1e-5, atol=1e-5)
        sm.save(tmp_path / "forced.json")
        assert [e.name for e in symfx.load(tmp_path / "forced.json", net).distilled] == [d.name]


def test_the_same_law_within_tolerance_is_applied(product_net):
    net, X = product_net
    sm = symfx.compile(net, X, time_budget=2, tolerance=5e-2, progress=False, cache_dir="")
    [d] = sm.distilled
    assert d.status == "symbolic" and d.note is None
    x0, x1 = sympy.symbols(d.variables)
    assert sympy.simplify(d.exprs[0] - x0 * x1) == 0, d.exprs
