"""Shared fixtures: trained models are expensive on 2 cores, so each is built once per session."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from symfx.demos.common import train_lbfgs  # noqa: F401  (re-exported for the tests)


def heat_law(X: torch.Tensor) -> torch.Tensor:
    return torch.exp(-X[:, 1:2]) * torch.sin(math.pi * X[:, 0:1])


@pytest.fixture(scope="session")
def heat_mlp() -> tuple[nn.Module, torch.Tensor]:
    """A 2→64→64→1 tanh MLP trained on exp(-x1)·sin(πx0), x0∈[0,1], x1∈[0,2]; and its calibration inputs."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    X = torch.rand(2048, 2) * torch.tensor([1.0, 2.0])
    train_lbfgs(net, X, heat_law(X))
    return net, X


@pytest.fixture(scope="session")
def heat_compiled(heat_mlp):
    import symfx

    net, X = heat_mlp
    # the sparse pass finds exp(-x1)*sin(pi*x0) alone (2 s); the GP stage (+6 s) runs in test_recovery
    return symfx.compile(net, X, time_budget=6, progress=False, cache_dir="", engine_options={"gp": False})
