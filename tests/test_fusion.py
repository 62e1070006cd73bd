"""Fusion is verified, not assumed: Inductor's generated code for a distilled region is ONE kernel.

The rewrite lowers a region to ``select`` columns -> pointwise aten ops -> ``aten.stack(outs, -1)``.
Inductor turns the stack into a ConcatKernel whose inputs are written straight into
slices of one output buffer, and the scheduler fuses every output's pointwise chain into
a single loop over rows. These tests read the generated C++ (CPU) / Triton (GPU) source
and count kernels, so a change that splits a region into per-output-dim kernels (the
SymTorch design evaluates dims one by one) or leaves a Python loop in the wrapper fails here.

Most tests splice hand-written equations into a real partition (no symbolic regression,
so they take seconds); one checks the heat MLP that the pipeline really distilled.
"""
from __future__ import annotations

import re
import types

import pytest
import sympy
import torch
import torch.fx as fx
import torch.nn as nn

from symfx.passes import partition as partition_pass
from symfx.passes.rewrite import rewrite

# one generated kernel definition: C++ on CPU (cpp_fused_*), Triton on GPU (triton_poi_* / triton_per_*)
_KERNEL_DEF = re.compile(r"^(cpp_fused_\w+|triton_\w+) = async_compile\.\w+\(", re.M)


def _kernels(code: str) -> list[str]:
    return _KERNEL_DEF.findall(code)


def _wrapper_call(code: str) -> str:
    """The body of the generated wrapper's ``call`` (the Python that launches kernels)."""
    start = code.find("def call(")
    assert start >= 0, "no wrapper call() in Inductor output"
    end = code.find("\nrunner = ", start)
    return code[start:end if end > 0 else None]


def _compiled_code(module: nn.Module, x: torch.Tensor, options: dict | None = None) -> tuple[torch.Tensor, str]:
    from torch._inductor.utils import run_and_get_code

    torch._dynamo.reset()
    with torch.no_grad():
        out, codes = run_and_get_code(torch.compile(module, dynamic=False, options=options), x)
    return out, "\n".join(codes)


def _region_graph(k_in: int, k_out: int, exprs_of: types.FunctionType) -> tuple[fx.GraphModule, nn.Module, torch.Tensor]:
    """A k_in -> 32 -> k_out MLP, partitioned for real, with hand-written equations spliced in."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(k_in, 32), nn.Tanh(), nn.Linear(32, k_out)).eval()
    gm = fx.symbolic_trace(net)
    x = torch.randn(1000, k_in)
    partition_pass.shape_propagate(gm, (x,))
    found = partition_pass.partition(gm, unit="", max_inputs=8, pca_in=None, min_region_nodes=2, include=(),
                                     exclude=(), variable_names={}, default_name="mlp")
    assert len(found.regions) == 1, found
    region = found.regions[0]
    symbols = sympy.symbols(region.variables)
    fit = types.SimpleNamespace(variables=region.variables, exprs=exprs_of(symbols, k_out), projection=None)
    return rewrite(gm, [(region, fit)]), net, x


def _law(xs: tuple[sympy.Symbol, ...], k_out: int) -> list[sympy.Expr]:
    k = len(xs)
    return [sympy.sin(xs[j % k]) * sympy.exp(-xs[(j + 1) % k]) + sympy.Rational(1, 2) * xs[(j + 2) % k] ** 2
            for j in range(k_out)]


def _reference(x: torch.Tensor, k_out: int) -> torch.Tensor:
    k = x.shape[-1]
    return torch.stack([torch.sin(x[:, j % k]) * torch.exp(-x[:, (j + 1) % k]) + 0.5 * x[:, (j + 2) % k] ** 2
                        for j in range(k_out)], -1)


@pytest.mark.parametrize("k_out", [1, 6, 24])
def test_region_with_many_outputs_is_one_kernel(k_out):
    gm, net, x = _region_graph(8, k_out, _law)
    out, code = _compiled_code(gm, x)
    torch.testing.assert_close(out, _reference(x, k_out), rtol=1e-5, atol=1e-5)
    kernels = _kernels(code)
    assert len(kernels) == 1, f"{k_out} outputs became {len(kernels)} kernels: {kernels}"
    call = _wrapper_call(code)
    # one launch, no Python loop over output dims, no matmul left (the equations replaced the MLP)
    assert call.count(kernels[0] + "(") == 1
    assert not re.search(r"^\s+(for|while) ", call, re.M), "Python loop in the wrapper"
    assert "extern_kernels" not in call and "mm(" not in call
    # the kernel writes every output column itself (k_out stores in one loop body)
    body = code[code.find(kernels[0] + " = async_compile"):]
    body = body[:body.find("''')")]
    assert len(re.findall(r"\bout_ptr\d+\[|\.store\(", body)) >= k_out


def test_region_inside_a_larger_graph_stays_one_kernel():
    """A neural encoder and a row-mixing op (a boundary) before the region: the region adds one kernel."""

    class Sandwich(nn.Module):
        def __init__(self):
            super().__init__()
            self.encode = nn.Linear(16, 4)
            self.edge = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 3))

        def forward(self, x):
            h = torch.roll(self.encode(x), 1, 0)  # mixes rows: not part of any region
            return self.edge(h)

    torch.manual_seed(0)
    net = Sandwich().eval()
    gm = fx.symbolic_trace(net)
    x = torch.randn(1000, 16)
    partition_pass.shape_propagate(gm, (x,))
    found = partition_pass.partition(gm, unit="", max_inputs=8, pca_in=None, min_region_nodes=2, include=(),
                                     exclude=(), variable_names={}, default_name="sandwich")
    rows = [r for r in found.regions if r.kind == "row"]
    assert len(rows) == 1 and rows[0].in_features == 4, found
    region = rows[0]
    symbols = sympy.symbols(region.variables)
    fit = types.SimpleNamespace(variables=region.variables, exprs=_law(symbols, region.out_features), projection=None)
    new = rewrite(gm, [(region, fit)])
    out, code = _compiled_code(new, x)
    with torch.no_grad():
        torch.testing.assert_close(out, _reference(torch.roll(net.encode(x), 1, 0), region.out_features),
                                   rtol=1e-5, atol=1e-5)
    kernels = _kernels(code)
    region_kernels = [k for k in kernels if "sin" in k or "exp" in k]
    assert len(region_kernels) == 1, kernels
    call = _wrapper_call(code)
    assert call.count("extern_kernels.") <= 1, "only the neural encoder may stay a matmul"


def test_distilled_heat_mlp_compiles_to_one_kernel(heat_mlp, heat_compiled):
    """The pipeline's own output: the whole 2->64->64->1 MLP became one fused pointwise kernel."""
    assert heat_compiled.distilled, heat_compiled.report()
    _, X = heat_mlp
    out, code = _compiled_code(heat_compiled, X)
    with torch.no_grad():
        torch.testing.assert_close(out, heat_compiled(X), rtol=1e-5, atol=1e-5)
    kernels = _kernels(code)
    assert len(kernels) == 1, kernels
    call = _wrapper_call(code)
    assert "extern_kernels" not in call, "a matmul survived the rewrite"
    assert call.count(kernels[0] + "(") == 1


def test_module_compile_vectorises_equations(heat_compiled):
    """``SymbolicModule.compile()`` turns Inductor's CPU tiling heuristic off, so the row region's
    kernel is SIMD code (at::vec) although it reads both columns of a [rows, 2] input strided."""
    import copy

    from torch._inductor.utils import run_and_get_code

    assert heat_compiled.distilled, heat_compiled.report()
    sm = copy.deepcopy(heat_compiled)  # compile() works in place; the fixture is shared
    sm.compile()
    x = torch.rand(4096, 2)
    torch._dynamo.reset()
    with torch.no_grad():
        out, codes = run_and_get_code(sm, x)
        torch.testing.assert_close(out, heat_compiled(x), rtol=1e-5, atol=1e-5)
    code = "\n".join(codes)
    kernels = _kernels(code)
    assert len(kernels) == 1, kernels
    assert "at::vec::Vectorized<float>" in code, "the equations' kernel is scalar code"


def _pca_region(dtype: torch.dtype, k_out: int = 2):
    """A 16 -> 32 -> 16 MLP whose row region gets a hand-made pca_in=3 / pca_out=2 fit."""
    import numpy as np

    from symfx.passes.fit import Projection

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 16)).eval().to(dtype)
    gm = fx.symbolic_trace(net)
    x = torch.randn(512, 16) + 3.0  # a mean far from zero: centring matters
    partition_pass.shape_propagate(gm, (x.to(dtype),))
    found = partition_pass.partition(gm, unit="", max_inputs=8, pca_in=3, min_region_nodes=2, include=(),
                                     exclude=(), variable_names={}, default_name="mlp")
    region = found.regions[0]
    rng = np.random.default_rng(0)
    proj = Projection(in_mean=rng.normal(size=16) + 3.0, in_basis=np.linalg.qr(rng.normal(size=(16, 3)))[0],
                      out_mean=rng.normal(size=16), out_basis=np.linalg.qr(rng.normal(size=(16, k_out)))[0])
    p = sympy.symbols("p0 p1 p2")
    exprs = [p[0] * p[1], sympy.sin(p[2])] + [p[j % 3] * (j + 1) for j in range(2, k_out)]
    fit = types.SimpleNamespace(variables=("p0", "p1", "p2"), exprs=exprs, projection=proj)
    new = rewrite(gm, [(region, fit)])
    z = (x.double().numpy() - proj.in_mean) @ proj.in_basis
    cols = [z[:, 0] * z[:, 1], np.sin(z[:, 2])] + [z[:, j % 3] * (j + 1) for j in range(2, k_out)]
    ref = np.stack(cols, -1) @ proj.out_basis.T + proj.out_mean
    return new, x.to(dtype), torch.from_numpy(ref)


def test_pca_projection_folds_centring_into_one_matmul():
    """float32: (x - mean) @ B becomes x @ B + offset, one BLAS call on the input and the offset
    fused into the equations' kernel; no pass over the input to centre it. The output expansion
    (k=2) is broadcast multiply-adds in the same generated code."""
    new, x, ref = _pca_region(torch.float32)
    subs = [n for n in new.graph.nodes if n.target is torch.ops.aten.sub.Tensor and n.args[0].op == "placeholder"]
    assert not subs, "the input is centred by a separate pass"
    with torch.no_grad():
        torch.testing.assert_close(new(x).double(), ref, rtol=1e-4, atol=1e-4)
        out, code = _compiled_code(new, x)
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)
    call = _wrapper_call(code)
    # one BLAS call projects the input; the equations and the broadcast expansion to 16 outputs
    # (pca_out=2 <= BROADCAST_OUT_MAX) are generated code, with no matmul for the expansion
    assert call.count("extern_kernels.") == 1, "expected one matmul (the input projection)"
    assert len(_kernels(code)) == 1, _kernels(code)
    assert "addmm" not in call.split("extern_kernels.", 1)[1].split("\n", 1)[1]


@pytest.mark.parametrize("k_out", [8, 9])
def test_pca_output_expansion_both_ways(k_out):
    """k ≤ BROADCAST_OUT_MAX (8): broadcast multiply-adds; above it, a matmul. Same values."""
    from symfx.passes.rewrite import BROADCAST_OUT_MAX

    new, x, ref = _pca_region(torch.float32, k_out)
    matmuls = [n for n in new.graph.nodes if n.target is torch.ops.aten.matmul.default]
    assert len(matmuls) == (1 if k_out <= BROADCAST_OUT_MAX else 2)
    with torch.no_grad():
        torch.testing.assert_close(new(x).double(), ref, rtol=1e-4, atol=1e-4)


def test_pca_projection_keeps_explicit_centring_in_bfloat16():
    new, x, ref = _pca_region(torch.bfloat16)
    subs = [n for n in new.graph.nodes if n.target is torch.ops.aten.sub.Tensor and n.args[0].op == "placeholder"]
    assert len(subs) == 1
    with torch.no_grad():
        out = new(x).double()
    # measured 1.3 % of the output's scale (bfloat16 keeps 8 bits): 3 % leaves room for rounding,
    # not for a wrong projection (the old bound, 10 %, did). The form (explicit centring) is pinned
    # by the assert on `subs` above, not by this bound: folded, this case measured 1.1 %.
    assert float((out - ref).abs().max()) < 0.03 * float(ref.abs().max())


def _polynomial(xs: tuple[sympy.Symbol, ...], k_out: int) -> list[sympy.Expr]:
    k = len(xs)
    return [xs[j % k] * xs[(j + 1) % k] + sympy.Rational(1, 2) * xs[(j + 2) % k] for j in range(k_out)]


def _disjoint(xs: tuple[sympy.Symbol, ...], k_out: int) -> list[sympy.Expr]:
    # output j reads only columns 2j and 2j+1: the outputs share no loads (as the GNN bench's do)
    return [sympy.sin(xs[2 * j]) * xs[2 * j + 1] for j in range(k_out)]


# one width: each case is two cold Inductor compiles (5 s); k_out=2 behaved the same (measured 2026-12-02)
@pytest.mark.parametrize("k_out", [4])
def test_inductor_options_make_a_multi_output_region_one_loop(k_out):
    """Inductor writes each output column of a region in its own loop over the rows when the
    outputs share no loads (reading the input k times); with symfx's options it is one loop."""
    import numpy as np

    from symfx.inductor import inductor_options

    gm, net, x = _region_graph(8, k_out, _disjoint)
    reference = torch.stack([torch.sin(x[:, 2 * j]) * x[:, 2 * j + 1] for j in range(k_out)], -1)
    row_loops = re.compile(r"for\(int64_t x0=")  # the loop over rows; tails are branches inside it
    _, plain = _compiled_code(gm, x, {"cpp.enable_tiling_heuristics": False})
    assert len(row_loops.findall(plain)) == k_out  # what the options fix (if torch fixes it, drop them)
    options = inductor_options([gm])
    assert options == {"cpp.enable_tiling_heuristics": False, "aggressive_fusion": True,
                       "score_fusion_memory_threshold": 0}
    out, code = _compiled_code(gm, x, options)
    np.testing.assert_allclose(out.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)
    assert len(_kernels(code)) == 1
    assert len(row_loops.findall(code)) == 1, f"{len(row_loops.findall(code))} loops over rows"


def test_inductor_options_keep_scalar_code_for_pure_arithmetic():
    """Gathered SIMD loads cost more than they save without exp/sin/...: the heuristic stays on."""
    from symfx.inductor import inductor_options

    gm, _, _ = _region_graph(8, 1, _polynomial)
    assert inductor_options([gm]) == {}
    gm2, _, _ = _region_graph(8, 3, _polynomial)
    assert inductor_options([gm2]) == {"aggressive_fusion": True, "score_fusion_memory_threshold": 0}
    assert inductor_options([gm2], on_cpu=False) == {}
    # a plain graph (nothing tagged as a region) gets nothing either
    assert inductor_options([fx.symbolic_trace(nn.Sequential(nn.Linear(2, 2), nn.Tanh()))]) == {}
