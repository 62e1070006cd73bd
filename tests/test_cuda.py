"""The GPU path: recording on the model's device, the rewritten model on CUDA, Triton fusion, the backend.

Skipped where torch sees no CUDA device (CI and the 2-core dev machine). They ran on an H200
(torch 2.11, CUDA 13) through the device tool; the results are in ``bench/results/gpu/``.
"""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import sympy
import torch
import torch.nn as nn

import symfx
from symfx.lowering import evaluate_columns
from symfx.passes.record import Reservoir

from .conftest import heat_law, train_lbfgs
from .test_fusion import _compiled_code, _kernels, _law, _reference, _region_graph, _wrapper_call

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch sees none here)")

CUDA = torch.device("cuda")
_TRITON_DEF = re.compile(r"^triton_\w+ = async_compile\.triton\(", re.M)


def test_reservoir_keeps_rows_on_the_gpu():
    """Rows stay on the device (only what the fit needs is copied to the host later); the sample is
    a subset of the rows seen and the bounds cover every row, kept or not."""
    g = torch.Generator(device=CUDA).manual_seed(0)
    batches = [torch.rand(300, 3, generator=g, device=CUDA) for _ in range(7)]
    res = Reservoir(capacity=512, seed=1)
    for x in batches:
        res.add(x, x.sum(1, keepdim=True))
    assert res.X.device.type == "cuda" and res.Y.device.type == "cuda" and res.keys.device.type == "cuda"
    assert res.X.shape == (512, 3) and res.rows_seen == 2100
    every = torch.cat(batches)
    assert torch.equal(res.x_min, every.amin(0)) and torch.equal(res.x_max, every.amax(0))
    # each kept row is one of the rows seen, with its own output
    match = (res.X[:, None, :] == every[None, :, :]).all(-1).any(1)
    assert bool(match.all())
    torch.testing.assert_close(res.Y, res.X.sum(1, keepdim=True))


def test_reservoir_reads_nothing_back_per_batch_on_the_gpu():
    """Batches up to the capacity cost no host read on an accelerator (a read stalls the launch
    queue): CUDA's sync debug mode raises on any synchronizing call inside ``add``."""
    g = torch.Generator(device=CUDA).manual_seed(0)
    batches = [torch.rand(256, 4, generator=g, device=CUDA) for _ in range(6)]
    batches[2][7, 1] = float("nan")
    res = Reservoir(capacity=1200, seed=0)
    res.add(batches[0], batches[0][:, :1])  # the first call creates the generator (not a per-batch cost)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for x in batches[1:4]:  # 1024 rows in all: below the capacity, nothing merges yet
            res.add(x, x[:, :1])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for x in batches[4:]:
        res.add(x, x[:, :1])
    every = torch.cat(batches)
    finite = torch.isfinite(every).all(1)
    assert res.rows_dropped == 1 and res.X.shape == (1200, 4) and bool(torch.isfinite(res.X).all())
    assert torch.equal(res.x_min, every[finite].amin(0)) and torch.equal(res.x_max, every[finite].amax(0))


@pytest.fixture(scope="module")
def heat_on_cuda(heat_mlp):
    net, X = heat_mlp
    net_cuda = copy.deepcopy(net).to(CUDA)
    sm = symfx.compile(net_cuda, X.to(CUDA), time_budget=6, progress=False, cache_dir="",
                       engine_options={"gp": False})
    return net_cuda, X.to(CUDA), sm


def test_compile_on_a_cuda_model_finds_the_law_and_runs_on_cuda(heat_on_cuda):
    net, X, sm = heat_on_cuda
    [d] = sm.distilled
    assert d.status == "symbolic", sm.report()
    [expr] = d.exprs
    # the law, judged against the truth on a grid (not against the network the fit came from)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 2, 41)), -1).reshape(-1, 2)
    law = heat_law(torch.from_numpy(grid)).numpy()[:, 0]
    got = evaluate_columns([expr], [sympy.Symbol(v) for v in d.variables], grid)[:, 0]
    assert np.sqrt(np.mean((got - law) ** 2)) / np.std(law) < 1e-2, expr
    with torch.no_grad():
        out = sm(X)
        ref = net(X)
    assert out.device.type == "cuda"
    assert float((out - ref).pow(2).mean().sqrt() / ref.std()) < 1e-2
    # no parameter or buffer of the rewritten model was left on the host
    assert all(t.device.type == "cuda" for t in [*sm.parameters(), *sm.buffers()])


@pytest.mark.parametrize("k_out", [1, 24])
def test_region_with_many_outputs_is_one_triton_kernel(k_out):
    gm, _, x = _region_graph(8, k_out, _law)
    gm, x = gm.to(CUDA), x.to(CUDA)
    out, code = _compiled_code(gm, x)
    torch.testing.assert_close(out.cpu(), _reference(x.cpu(), k_out), rtol=1e-5, atol=1e-5)
    kernels = _kernels(code)
    assert len(kernels) == 1 and _TRITON_DEF.search(code), kernels
    call = _wrapper_call(code)
    assert len(re.findall(rf"\b{kernels[0]}\b", call)) == 1, "the kernel is launched more than once"
    assert not re.search(r"^\s+(for|while) ", call, re.M), "Python loop in the wrapper"
    assert "extern_kernels" not in call


def test_distilled_heat_mlp_is_one_triton_kernel_on_cuda(heat_compiled, heat_mlp):
    """A model distilled on the CPU, moved to the GPU: the whole MLP is one generated Triton kernel."""
    assert heat_compiled.distilled, heat_compiled.report()
    sm = copy.deepcopy(heat_compiled).to(CUDA)
    _, X = heat_mlp
    X = X.to(CUDA)
    out, code = _compiled_code(sm, X)
    with torch.no_grad():
        torch.testing.assert_close(out, sm(X), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out.cpu(), heat_compiled(X.cpu()), rtol=1e-5, atol=1e-5)
    kernels = _kernels(code)
    assert len(kernels) == 1 and _TRITON_DEF.search(code), kernels
    assert "extern_kernels" not in _wrapper_call(code), "a matmul survived the rewrite"


def test_backend_calibrates_and_switches_on_cuda():
    """torch.compile(model, backend="symfx") with a CUDA model: calibrated on device, fitted, switched."""
    import torch._dynamo

    import symfx.dynamo as backend

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    X = torch.rand(512, 1) * 2 - 1
    net = train_lbfgs(net, X, torch.sin(2 * X), iters=300).to(CUDA)
    torch._dynamo.reset()
    backend.clear()
    f = torch.compile(net, backend="symfx", options={"time_budget": 2.0, "calibration_steps": 2, "progress": False,
                                                    "cache_dir": "", "engine_options": {"gp": False}})
    g = torch.Generator(device=CUDA).manual_seed(0)
    with torch.no_grad():
        for _ in range(3):
            out = f(torch.rand(64, 1, generator=g, device=CUDA) * 2 - 1)
    done = [r for r in backend.reports() if r.status == "symbolic"]
    assert done, backend.reports()
    assert out.device.type == "cuda"
    x = torch.rand(64, 1, generator=g, device=CUDA) * 2 - 1
    with torch.no_grad():
        np.testing.assert_allclose(f(x).cpu().numpy(), torch.sin(2 * x).cpu().numpy(), atol=1e-2)
