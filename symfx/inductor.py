"""Inductor options for compiled graphs that hold lowered equations.

The choice belongs to compilation: :meth:`symfx.SymbolicModule.compile` and the dynamo backend
both read the lowered graphs (nodes tagged ``symfx_region`` by the rewrite pass) and patch
Inductor's config accordingly. Measured in ``bench/`` (README "Performance").
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

aten = torch.ops.aten


#: aten ops that Inductor's CPU backend turns into Sleef calls: worth SIMD even with gathered loads
_TRANSCENDENTAL_ATEN = frozenset({
    aten.exp.default, aten.log.default, aten.sin.default, aten.cos.default, aten.tan.default,
    aten.tanh.default, aten.sinh.default, aten.cosh.default, aten.asin.default, aten.acos.default,
    aten.atan.default, aten.erf.default, aten.sigmoid.default, aten.pow.Tensor_Tensor, aten.pow.Scalar,
})


def inductor_options(graphs: Sequence[torch.fx.GraphModule], on_cpu: bool = True) -> dict[str, Any]:
    """Inductor config patches for graphs holding lowered equations (nodes tagged ``symfx_region``).

    Two CPU effects, measured with ``make bench`` and ``bench/`` micro-runs at 1e7 rows:

    * A row region reads columns of a ``[rows, k]`` input. Inductor's tiling heuristic counts
      those strided loads and emits scalar code. For equations with exp/sin/... the SIMD form
      (gathered loads, Sleef math) is 3.8-4.5x faster, so the heuristic is turned off; for pure
      arithmetic the gathers mostly cost more than they save (0.8x in most runs), so it stays on.
    * A region with several outputs is an ``aten.stack``; Inductor writes each output column in
      its own loop over the rows, which reads the input once per output. Horizontal fusion of
      those loops (``aggressive_fusion`` with no shared-bytes threshold) makes it one loop:
      1.5-1.75x faster for 2 polynomial outputs, 1.1-1.2x for 2 transcendental ones.

    These patches apply to the whole compiled graph. Off the CPU nothing is patched.
    """
    from torch._inductor import config as inductor_config

    if not on_cpu:
        return {}
    transcendental = multi_output = False
    for gm in graphs:
        for node in gm.graph.nodes:
            if "symfx_region" not in node.meta:
                continue
            if node.target in _TRANSCENDENTAL_ATEN:
                transcendental = True
            elif node.target is aten.pow.Tensor_Scalar and float(node.args[1]) != int(node.args[1]):
                transcendental = True
            elif node.target is aten.stack.default and len(node.args[0]) > 1:
                multi_output = True
    options: dict[str, Any] = {}
    if transcendental and hasattr(inductor_config.cpp, "enable_tiling_heuristics"):
        options["cpp.enable_tiling_heuristics"] = False
    if multi_output and hasattr(inductor_config, "score_fusion_memory_threshold"):
        options.update({"aggressive_fusion": True, "score_fusion_memory_threshold": 0})
    return options
