"""Rewrite pass: splice lowered equations into a copy of the graph in place of their regions.

The copy shares parameters with the original GraphModule, which stays
untouched (it is the neural path that ``use_neural()`` returns to).
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Sequence

import numpy as np
import sympy
import torch
import torch.fx as fx

from symfx.lowering import emit_exprs

if TYPE_CHECKING:  # the contracts of the partition and fit passes (types only)
    from .fit import Fit, Projection
    from .partition import Region

__all__ = ["rewrite", "BROADCAST_OUT_MAX"]

aten = torch.ops.aten


def _buffer(gm: fx.GraphModule, graph: fx.Graph, name: str, array: np.ndarray, dtype: torch.dtype,
            device: torch.device | None) -> fx.Node:
    gm.register_buffer(name, torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device))
    return graph.get_attr(name)


def rewrite(gm: fx.GraphModule, replacements: Sequence[tuple[Region, Fit]]) -> fx.GraphModule:
    """Return a new GraphModule where each (region, fit) pair's nodes compute ``fit.exprs``."""
    graph = copy.deepcopy(gm.graph)
    new = fx.GraphModule(gm, graph, class_name=type(gm).__name__)
    nodes = {n.name: n for n in graph.nodes}
    for index, (region, fit) in enumerate(replacements):
        out_node = nodes[region.output]
        meta = out_node.meta.get("tensor_meta")
        dtype = getattr(meta, "dtype", None) or _dtype_of(gm)
        device = _device_of(gm)
        fast_tanh = _full_precision(dtype)
        before = set(graph.nodes)
        with graph.inserting_before(out_node):
            inputs = [nodes[name] for name in region.inputs]
            symbols = [sympy.Symbol(v) for v in fit.variables]
            proj = fit.projection
            if region.kind == "elementwise":
                env = dict(zip(symbols, inputs))
                result = emit_exprs(graph, list(fit.exprs), env, fast_tanh=fast_tanh)[0]
            else:
                if proj is not None and proj.in_basis is not None:
                    x = inputs[0] if len(inputs) == 1 else graph.call_function(aten.cat.default, (inputs, -1))
                    z = _project_in(new, graph, index, x, proj, dtype, device)
                    columns = [graph.call_function(aten.select.int, (z, -1, j)) for j in range(len(symbols))]
                else:
                    columns = [
                        graph.call_function(aten.select.int, (inp, -1, j))
                        for inp, width in zip(inputs, region.input_widths)
                        for j in range(width)
                    ]
                env = dict(zip(symbols, columns))
                outs = emit_exprs(graph, list(fit.exprs), env, fast_tanh=fast_tanh)
                result = graph.call_function(aten.stack.default, (outs, -1))
                if proj is not None and proj.out_basis is not None:
                    result = _project_out(new, graph, index, result, proj, dtype, device)
        for node in set(graph.nodes) - before:
            node.meta["symfx_region"] = region.name
        out_node.replace_all_uses_with(result)
        for name in reversed(region.nodes):
            node = nodes[name]
            if not node.users:
                graph.erase_node(node)
    graph.eliminate_dead_code()
    graph.lint()
    new.delete_all_unused_submodules()
    new.recompile()
    return new


def _project_in(gm: fx.GraphModule, graph: fx.Graph, index: int, x: fx.Node, proj: Projection, dtype: torch.dtype,
                device: torch.device | None) -> fx.Node:
    """z = (x - in_mean) @ in_basis, as the cheapest graph for the dtype.

    The basis is stored transposed ([k, features], contiguous) and used through a transposed
    view: BLAS reads it as one row per component, ~2x faster than a [features, k] operand for
    the small k of a PCA. In float32/64 the centring folds into a [k] offset added after the
    matmul (Inductor fuses that add into the equations' kernel), which saves a pass over the
    input. 16-bit inputs keep the explicit subtraction: their rounding after a large mean would
    cost more than the pass.
    """
    basis_t = _buffer(gm, graph, f"_symfx{index}_in_basis_t", proj.in_basis.T, dtype, device)
    weight = graph.call_function(aten.permute.default, (basis_t, [1, 0]))
    if _full_precision(dtype):
        offset = -(np.asarray(proj.in_mean, dtype=np.float64) @ np.asarray(proj.in_basis, dtype=np.float64))
        offset_node = _buffer(gm, graph, f"_symfx{index}_in_offset", offset, dtype, device)
        return graph.call_function(aten.add.Tensor, (graph.call_function(aten.matmul.default, (x, weight)), offset_node))
    mean = _buffer(gm, graph, f"_symfx{index}_in_mean", proj.in_mean, dtype, device)
    return graph.call_function(aten.matmul.default, (graph.call_function(aten.sub.Tensor, (x, mean)), weight))


def _full_precision(dtype: torch.dtype) -> bool:
    """float32/64: rewrites that reassociate (folded offsets, tanh via sigmoid) stay within a few ulp.
    16-bit dtypes round every intermediate, so they keep the literal form."""
    return dtype in (torch.float32, torch.float64)


#: widest pca_out expanded by broadcast multiply-adds instead of a matmul
BROADCAST_OUT_MAX = 8


def _project_out(gm: fx.GraphModule, graph: fx.Graph, index: int, z_out: fx.Node, proj: Projection, dtype: torch.dtype,
                 device: torch.device | None) -> fx.Node:
    """y = z_out @ out_basis.T + out_mean, from the stacked equations ``z_out`` [..., k].

    For k ≤ BROADCAST_OUT_MAX it is written as ``out_mean + sum_j z_out[..., j:j+1] * row_j``:
    Inductor makes that one write-bound kernel over the output, where a BLAS call with an inner
    dimension of 2-8 is not (1.4-1.8x faster for k = 2-8, 64-576 outputs, ``bench/kernels.py``).
    The stack before it is realised once, so the equations are not recomputed per output column.
    """
    basis_t = _buffer(gm, graph, f"_symfx{index}_out_basis_t", proj.out_basis.T, dtype, device)
    mean = _buffer(gm, graph, f"_symfx{index}_out_mean", proj.out_mean, dtype, device)
    k = proj.out_basis.shape[1]
    if k > BROADCAST_OUT_MAX:
        return graph.call_function(aten.add.Tensor, (graph.call_function(aten.matmul.default, (z_out, basis_t)), mean))
    out = mean
    for j in range(k):
        column = graph.call_function(aten.slice.Tensor, (z_out, -1, j, j + 1))
        row = graph.call_function(aten.select.int, (basis_t, 0, j))
        out = graph.call_function(aten.add.Tensor, (out, graph.call_function(aten.mul.Tensor, (column, row))))
    return out


def _device_of(gm: torch.nn.Module) -> torch.device | None:
    for tensor in list(gm.parameters()) + list(gm.buffers()):
        return tensor.device
    return None


def _dtype_of(gm: torch.nn.Module) -> torch.dtype:
    # without shape metadata (e.g. after symfx.load), projections follow the weights' dtype
    for tensor in gm.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()
