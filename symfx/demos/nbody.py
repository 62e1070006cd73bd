"""GNN n-body demo (Cranmer et al. 2020): learn pairwise forces, read the law back from the messages.

Each sample is one 2-D system of ``n`` particles with positions and masses; the label is every
particle's acceleration under a pairwise force law. A message-passing network (edge MLP →
sum over incoming edges → node MLP) learns to predict the accelerations. With a message
bottleneck of 2 (the spatial dimension) the messages have no room for anything but the
pairwise force itself, so each message component is a linear combination of ``F_x`` and ``F_y``
(Cranmer's observation). symfx finds the edge MLP between the gather and the scatter on its
own and fits the message components in the edge inputs ``(dx, dy, r, m_src)``.

The edge MLP sees the sender's mass but not the receiver's; the node MLP sees the receiver's
mass and the summed messages. So for a force that does not depend on the receiver's mass
(springs) the message is the force itself and the node MLP divides by the mass; for gravity,
whose force is ``m_dst`` times the sender's field, the message is that field
``F / m_dst = -G m_src r̂ / r²`` (the receiver's mass cancels from its acceleration).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

#: Edge-MLP input names, in the order the model concatenates them (= the region's input order).
EDGE_VARIABLES: tuple[str, ...] = ("dx", "dy", "r", "m_src")


@dataclass(frozen=True)
class Law:
    """A pairwise central force on the receiver, ``F = magnitude(r, m_src, m_dst) * (dx, dy) / r``.

    ``dx, dy`` point from the sender to the receiver (``pos_dst - pos_src``).
    """

    name: str
    formula: str  # the true law, as printed next to the recovered one
    magnitude: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # signed, along +r̂
    r_min: float  # closest approach kept in the data (gravity's singularity is excluded)
    box: float  # particles start uniformly in [-box, box]^2
    message_formula: str  # what the messages should be a linear transform of
    per_receiver_mass: bool  # True: messages carry F / m_dst (the force is m_dst times a field)

    def force(self, dx: np.ndarray, dy: np.ndarray, m_src: np.ndarray, m_dst: np.ndarray) -> np.ndarray:
        """Force on the receiver, shape ``[..., 2]``."""
        r = np.sqrt(dx * dx + dy * dy)
        f = self.magnitude(r, m_src, m_dst) / r
        return np.stack([f * dx, f * dy], axis=-1)

    def message(self, dx: np.ndarray, dy: np.ndarray, m_src: np.ndarray) -> np.ndarray:
        """The quantity the messages should encode (up to a linear map): F, or F / m_dst. ``[..., 2]``."""
        # for per-receiver-mass laws the force is linear in m_dst, so evaluating at m_dst=1 gives F/m_dst
        return self.force(dx, dy, m_src, np.ones_like(m_src))


SPRING_K, SPRING_R0 = 2.0, 1.0
GRAVITY_G = 1.0

LAWS: dict[str, Law] = {
    # Hooke: pulled back towards rest length r0 (negative along r̂ when stretched)
    "springs": Law(
        "springs",
        f"F = -{SPRING_K:g}·(r - {SPRING_R0:g})·r̂   (k={SPRING_K:g}, r0={SPRING_R0:g}; r̂ = (dx, dy)/r)",
        lambda r, ms, md: -SPRING_K * (r - SPRING_R0),
        r_min=0.3,
        box=1.0,
        message_formula=f"F = -{SPRING_K:g}·(r - {SPRING_R0:g})·(dx, dy)/r",
        per_receiver_mass=False,
    ),
    # Newtonian attraction towards the sender
    "gravity": Law(
        "gravity",
        f"F = -{GRAVITY_G:g}·m_src·m_dst / r²·r̂   (attractive; r̂ = (dx, dy)/r)",
        lambda r, ms, md: -GRAVITY_G * ms * md / (r * r),
        r_min=0.5,
        box=2.5,
        message_formula=f"F/m_dst = -{GRAVITY_G:g}·m_src·(dx, dy)/r³",
        per_receiver_mass=True,
    ),
}


def edges(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fully connected directed graph without self loops: (src, dst) index arrays."""
    pairs = [(i, j) for i, j in itertools.permutations(range(n), 2)]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def simulate(
    law: Law, n_systems: int, n_particles: int, rng: np.random.Generator, mass_range: tuple[float, float] = (0.5, 2.0)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random configurations and their accelerations: ``pos [S,n,2]``, ``mass [S,n,1]``, ``acc [S,n,2]``.

    Configurations with a pair closer than ``law.r_min`` are redrawn (clips close encounters,
    where gravity's force diverges and float32 training would be dominated by a few pairs).
    """
    pos = np.empty((0, n_particles, 2))
    while len(pos) < n_systems:
        trial = rng.uniform(-law.box, law.box, size=(2 * n_systems, n_particles, 2))
        d = np.linalg.norm(trial[:, :, None] - trial[:, None], axis=-1)
        d[:, np.arange(n_particles), np.arange(n_particles)] = np.inf
        pos = np.concatenate([pos, trial[d.min(axis=(1, 2)) >= law.r_min]])
    pos = pos[:n_systems]
    mass = rng.uniform(*mass_range, size=(n_systems, n_particles, 1))
    src, dst = edges(n_particles)
    rel = pos[:, dst] - pos[:, src]
    f = law.force(rel[..., 0], rel[..., 1], mass[:, src, 0], mass[:, dst, 0])
    net = np.zeros_like(pos)
    np.add.at(net, (slice(None), dst), f)
    return pos, mass, net / mass


class NBodyGNN(nn.Module):
    """Edge MLP → sum aggregation → node MLP, on a fixed fully connected graph of ``n`` particles.

    ``forward(pos [B,n,2], mass [B,n,1]) -> acc [B,n,2]``. Traceable by ``torch.fx.symbolic_trace``:
    the graph is a constant buffer and all shapes come from tensor ops.
    """

    def __init__(self, n_particles: int, msg_dim: int = 2, hidden: int = 64) -> None:
        super().__init__()
        src, dst = edges(n_particles)
        self.register_buffer("src", torch.as_tensor(src), persistent=False)
        self.register_buffer("dst", torch.as_tensor(dst), persistent=False)
        self.msg_dim = msg_dim
        self.edge_mlp = nn.Sequential(
            nn.Linear(len(EDGE_VARIABLES), hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, msg_dim),
        )
        # two hidden layers: dividing the summed force by the mass is the node MLP's hardest job
        self.node_mlp = nn.Sequential(
            nn.Linear(msg_dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2),
        )

    def messages(self, pos: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
        """Per-edge messages ``[B, E, msg_dim]`` (the quantity the demo distils)."""
        rel = pos.index_select(1, self.dst) - pos.index_select(1, self.src)
        # r is an edge input of its own: with it, Hooke's law is a short sum of library terms
        r = torch.linalg.vector_norm(rel, dim=-1, keepdim=True)
        edge_in = torch.cat([rel, r, mass.index_select(1, self.src)], -1)
        return self.edge_mlp(edge_in)

    def forward(self, pos: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
        msg = self.messages(pos, mass)
        # sum of incoming messages per receiver; zeros shaped like the node set, one column per message dim.
        # Allocated, not an expanded view of zeros_like(mass): Inductor's CPU code for index_add into
        # the stride-0 view did not compile (torch 2.13, gcc: `__at_align__` undeclared), and the demos'
        # speed lines fell back to eager
        agg = mass.new_zeros(mass.shape[0], mass.shape[1], self.msg_dim).index_add(1, self.dst, msg)
        return self.node_mlp(torch.cat([agg, mass], -1))


def edge_inputs(pos: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """The edge MLP's inputs ``[S*E, 4]`` in ``EDGE_VARIABLES`` order (numpy mirror of the model)."""
    n = pos.shape[1]
    src, dst = edges(n)
    rel = pos[:, dst] - pos[:, src]
    r = np.linalg.norm(rel, axis=-1, keepdims=True)
    X = np.concatenate([rel, r, mass[:, src]], axis=-1)
    return X.reshape(-1, X.shape[-1])
