"""OutputPruner: the schedule, the mask (exact zeros, in state_dict), training with it, bad input,
and symfx.compile on a pruned model (masked dims are 0, the report names them)."""
from __future__ import annotations

import copy

import pytest
import sympy
import torch
import torch.nn as nn

import symfx
from symfx.errors import CalibrationError, ConfigError, SymfxError
from symfx.pruning import MASK_BUFFER, OutputPruner


def _mlp(width: int = 8) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, width))


@pytest.mark.parametrize("schedule", ["exp", "linear", "cosine"])
def test_schedule_falls_to_target_by_the_end_step(schedule):
    pruner = OutputPruner(_mlp(8), target_dim=2, total_steps=100, end_fraction=0.5, schedule=schedule)
    counts = [pruner.target_at(s) for s in range(101)]
    assert counts[0] == 8 and all(a >= b for a, b in zip(counts, counts[1:]))
    assert counts[50] == 2 and set(counts[50:]) == {2}
    assert counts[25] < 8  # something is pruned before the end


def test_training_with_the_pruner_ends_with_target_dims_and_exact_zeros():
    """The low-variance outputs go; a loss that needs two outputs keeps those two."""
    model = _mlp(8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    X = torch.rand(256, 2) * 2 - 1
    target = torch.stack([torch.sin(2 * X[:, 0]), X[:, 0] * X[:, 1]], -1)
    pruner = None
    for step in range(160):
        if step == 100:  # prune after a warm-up, as one would in practice: untrained outputs are noise
            pruner = OutputPruner(model, target_dim=2, total_steps=60, end_fraction=0.5)
        out = model(X)
        # outputs 3 and 5 are asked to carry the two targets; the others only to be small
        loss = ((out[:, [3, 5]] - target) ** 2).mean() + 1e-2 * (out ** 2).mean()
        if pruner is not None:
            pruner.step(step - 100)  # after the forward pass, before backward: the mask is replaced, not edited
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert pruner.active_dims == [3, 5]
    assert pruner.pruned_dims == [0, 1, 2, 4, 6, 7]
    with torch.no_grad():
        out = model(torch.randn(100, 2) * 3)
    assert torch.equal(out[:, pruner.pruned_dims], torch.zeros(100, 6))
    assert (out[:, [3, 5]].abs() > 0).all()
    assert MASK_BUFFER in model.state_dict()


def test_mask_survives_state_dict_round_trip_and_deepcopy():
    model = _mlp(6)
    pruner = OutputPruner(model, target_dim=3, total_steps=4, end_fraction=1.0, schedule="linear")
    X = torch.rand(64, 2)
    for step in range(5):
        pruner.step(step, X)
    assert len(pruner.active_dims) == 3
    fresh = _mlp(6)
    OutputPruner(fresh, target_dim=3, total_steps=4)
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(X), model(X), rtol=0, atol=0)
        torch.testing.assert_close(copy.deepcopy(model)(X), model(X), rtol=0, atol=0)
    assert torch.equal(model(X)[:, pruner.pruned_dims], torch.zeros(64, 3))


def test_bad_input_is_a_clear_symfx_error():
    with pytest.raises(ConfigError, match=r"target_dim must be an integer in 1\.\.7"):
        OutputPruner(_mlp(8), target_dim=8, total_steps=10)
    with pytest.raises(ConfigError, match="target_dim"):
        OutputPruner(_mlp(8), target_dim=0, total_steps=10)
    with pytest.raises(ConfigError, match="schedule"):
        OutputPruner(_mlp(8), target_dim=2, total_steps=10, schedule="step")
    with pytest.raises(ConfigError, match="total_steps"):
        OutputPruner(_mlp(8), target_dim=2, total_steps=0)
    pruner = OutputPruner(_mlp(8), target_dim=2, total_steps=10)
    with pytest.raises(ConfigError, match="already has an OutputPruner"):
        OutputPruner(pruner.module, target_dim=2, total_steps=10)
    with pytest.raises(ConfigError, match="run the model forward once"):
        pruner.step(5)
    X = torch.rand(8, 2)
    X[0, 0] = float("nan")
    with pytest.raises(CalibrationError, match="NaN"):
        pruner.step(5, X)
    with pytest.raises(SymfxError, match="expected"):
        pruner.step(5, (torch.rand(8, 2), torch.rand(8, 2)))  # the MLP does not take two inputs
    assert pruner.active_dims == list(range(8))  # failed steps mask nothing


def test_compile_sees_masked_dims_as_zero_and_reports_them():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = _mlp(5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.mlp(x).sum(-1, keepdim=True)

    net = Net().eval()
    pruner = OutputPruner(net.mlp, target_dim=2, total_steps=2, end_fraction=1.0, schedule="linear")
    X = torch.rand(512, 2) * 2 - 1
    for step in range(3):
        pruner.step(step, X)
    sm = symfx.compile(net, X, time_budget=1.0, progress=False, cache_dir="", tolerance=0.05)
    [d] = sm.distilled
    for i in pruner.pruned_dims:
        assert d.exprs[i] == sympy.Integer(0) or d.exprs[i] == sympy.Float(0.0), d.exprs[i]
    assert f"outputs {pruner.pruned_dims} are masked to zero" in sm.report()
    assert sm.pruned == {"mlp": (pruner.active_dims, pruner.pruned_dims)}
