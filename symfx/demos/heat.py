"""PINN demo: the 1-D heat equation as an inverse problem, then ``u(x, t)`` read back as an equation.

``u_t = α u_xx`` on ``x ∈ [0, 1], t ∈ [0, 1]`` with ``u(x, 0) = sin(πx)`` and ``u(0, t) = u(1, t) = 0``
has the solution ``u = exp(-π² α t) · sin(πx)``. The network ``u_θ(x, t)`` (3 hidden layers of 32,
tanh) is trained on the PDE residual, the initial and boundary conditions, and a few noiseless
observations of the true solution; ``α`` is a learnable parameter (started at 0.5, true 0.2).
The observations are what make ``α`` identifiable: the residual alone is satisfied by any α.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

ALPHA = 0.2
TRUE_LAW = f"u(x, t) = exp(-π²·α·t)·sin(π·x),  α = {ALPHA:g}  →  exp(-{math.pi ** 2 * ALPHA:.4f}·t)·sin({math.pi:.4f}·x)"


def exact(x: np.ndarray, t: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    return np.exp(-math.pi**2 * alpha * t) * np.sin(math.pi * x)


class HeatPINN(nn.Module):
    """``forward(x [B,1], t [B,1]) -> u [B,1]``; ``alpha`` is trained alongside (kept positive by exp)."""

    def __init__(self, hidden: int = 32, layers: int = 3, alpha0: float = 0.5) -> None:
        super().__init__()
        dims = [2] + [hidden] * layers
        body: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            body += [nn.Linear(a, b), nn.Tanh()]
        self.net = nn.Sequential(*body, nn.Linear(hidden, 1))
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha0)))

    @property
    def alpha(self) -> float:
        return float(self.log_alpha.detach().exp())

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, t], -1))


def pinn_loss(model: HeatPINN, g: torch.Generator, n_col: int = 512, n_obs: int = 64) -> torch.Tensor:
    """Residual + initial + boundary + data loss on freshly drawn points (a new draw per step)."""
    xc = torch.rand(n_col, 1, generator=g).requires_grad_(True)
    tc = torch.rand(n_col, 1, generator=g).requires_grad_(True)
    u = model(xc, tc)
    u_x, u_t = torch.autograd.grad(u.sum(), (xc, tc), create_graph=True)
    u_xx = torch.autograd.grad(u_x.sum(), xc, create_graph=True)[0]
    residual = u_t - model.log_alpha.exp() * u_xx

    x0 = torch.rand(128, 1, generator=g)
    initial = model(x0, torch.zeros_like(x0)) - torch.sin(math.pi * x0)
    tb = torch.rand(128, 1, generator=g)
    xb = (torch.rand(128, 1, generator=g) > 0.5).float()
    boundary = model(xb, tb)
    # observations of the true field: without them α is not identifiable from the residual
    xo = torch.rand(n_obs, 1, generator=g)
    to = torch.rand(n_obs, 1, generator=g)
    data = model(xo, to) - torch.exp(-math.pi**2 * ALPHA * to) * torch.sin(math.pi * xo)
    return residual.pow(2).mean() + initial.pow(2).mean() + boundary.pow(2).mean() + data.pow(2).mean()


def grid(n: int, t_lo: float = 0.0, t_hi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """An ``n × n`` grid over ``x ∈ [0, 1]``, ``t ∈ [t_lo, t_hi]``, flattened to column tensors."""
    xs, ts = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(t_lo, t_hi, n), indexing="ij")
    return xs.reshape(-1, 1), ts.reshape(-1, 1)
