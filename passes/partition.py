"""Partition pass: find the subgraphs that symbolic regression can replace.

Shape-propagates a GraphModule, classifies every node as row-local
("each output row depends only on the same input row") and/or elementwise,
and groups supported nodes into maximal convex regions with torch.fx's
CapabilityBasedPartitioner. Gathers, scatters, reductions across rows,
convolutions and attention are simply unsupported, so they become boundaries.
"""
from __future__ import annotations

import fnmatch
import operator
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase
from torch.fx.passes.shape_prop import ShapeProp

from symfx.errors import ConfigError

__all__ = ["Region", "Skipped", "Partition", "shape_propagate", "partition"]


@dataclass(frozen=True)
class Region:
    """A replaceable subgraph of one traced unit (plain data: nodes by name)."""

    name: str  # readable, from module paths ("edge_mlp"), prefixed by the unit path
    unit: str  # module path of the traced unit that holds it ("" for the root)
    kind: str  # "row" or "elementwise"
    nodes: tuple[str, ...]  # covered FX node names, in graph order
    inputs: tuple[str, ...]  # FX nodes read from outside (tensors varying per row)
    input_widths: tuple[int, ...]  # features each input contributes (1 per operand if elementwise)
    output: str  # the one FX node whose value leaves the region
    out_features: int
    variables: tuple[str, ...]
    module_paths: tuple[str, ...] = ()

    @property
    def in_features(self) -> int:
        return sum(self.input_widths)


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass
class Partition:
    regions: list[Region] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# --- which ops are which ----------------------------------------------------------------

_ELEMENTWISE_MODULES = (
    nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.ELU, nn.LeakyReLU, nn.Mish,
    nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.SELU, nn.CELU, nn.Softsign, nn.Tanhshrink,
    nn.ReLU6, nn.LogSigmoid, nn.Identity, nn.Dropout,
)
_UNARY_FUNCTIONS = {
    torch.tanh, torch.sigmoid, torch.relu, torch.exp, torch.sin, torch.cos, torch.log, torch.sqrt,
    torch.rsqrt, torch.abs, torch.neg, torch.square, torch.erf, torch.log1p, torch.expm1,
    torch.reciprocal, torch.atan, torch.sinh, torch.cosh, torch.clamp, torch.nn.functional.relu,
    F.gelu, F.silu, F.softplus, F.elu, F.leaky_relu, F.mish, F.hardtanh, F.tanh, F.sigmoid,
    F.hardswish, F.hardsigmoid, F.selu, F.celu, F.softsign, F.relu6, F.logsigmoid, F.dropout,
    operator.neg, operator.pos, torch.special.expit, torch.special.erf,
}
_UNARY_METHODS = {
    "tanh", "sigmoid", "relu", "exp", "sin", "cos", "log", "sqrt", "rsqrt", "abs", "neg", "square",
    "erf", "log1p", "expm1", "reciprocal", "clamp", "atan", "sinh", "cosh",
}
_BINARY_FUNCTIONS = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.pow, torch.add, torch.sub,
    torch.mul, torch.div, torch.pow, torch.maximum, torch.minimum, torch.true_divide,
}
_BINARY_METHODS = {"add", "sub", "mul", "div", "pow", "true_divide", "maximum", "minimum"}
_CAT_FUNCTIONS = {torch.cat, torch.concat, torch.concatenate}
_MATMUL_FUNCTIONS = {torch.matmul, operator.matmul, torch.mm}


def _meta(node: Any) -> Any:
    return node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None


def _shape(node: Any) -> tuple[int, ...] | None:
    meta = _meta(node)
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _tensor_args(node: fx.Node) -> list[fx.Node]:
    return [a for a in node.all_input_nodes]


class _Classifier:
    """Decides, per node, whether it is row-local / elementwise, given which nodes are constants."""

    def __init__(self, gm: fx.GraphModule, constants: Iterable[str] = ()):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.constant_names = frozenset(constants)
        self.constant: set[fx.Node] = set()
        self.row: set[fx.Node] = set()
        self.elementwise: set[fx.Node] = set()
        for node in gm.graph.nodes:
            self._classify(node)

    def _is_const(self, arg: Any) -> bool:
        return not isinstance(arg, fx.Node) or arg in self.constant

    def _classify(self, node: fx.Node) -> None:
        if node.op == "get_attr" or (node.op == "placeholder" and node.name in self.constant_names):
            self.constant.add(node)  # weights: a get_attr, or a parameter Dynamo lifted to an input
            return
        if node.op not in ("call_module", "call_function", "call_method"):
            return
        inputs = _tensor_args(node)
        if inputs and all(n in self.constant for n in inputs) and node.op != "call_module":
            self.constant.add(node)  # computed from weights alone: folded into the equation
            return
        shape = _shape(node)
        if shape is None or not isinstance(_meta(node), torch.fx.passes.shape_prop.TensorMetadata):
            return
        if not _meta(node).dtype.is_floating_point:
            return
        varying = [n for n in inputs if n not in self.constant]
        same_shape = all(_shape(n) == shape for n in varying)
        if node.op == "call_module":
            mod = self.modules.get(node.target)
            if isinstance(mod, _ELEMENTWISE_MODULES) and same_shape:
                self.elementwise.add(node)
                if len(shape) >= 2:
                    self.row.add(node)
            elif isinstance(mod, nn.Linear) and len(shape) >= 2:
                self.row.add(node)
            elif isinstance(mod, nn.LayerNorm) and len(mod.normalized_shape) == 1 and len(shape) >= 2:
                self.row.add(node)
            return
        target = node.target
        is_unary = (node.op == "call_function" and target in _UNARY_FUNCTIONS) or (
            node.op == "call_method" and target in _UNARY_METHODS
        )
        is_binary = (node.op == "call_function" and target in _BINARY_FUNCTIONS) or (
            node.op == "call_method" and target in _BINARY_METHODS
        )
        if is_unary or is_binary:
            if len(varying) > (1 if is_unary else 2):
                return
            # elementwise: every operand is the same-shaped tensor or a scalar (0-d constants too)
            scalar_constants = all(_shape(n) in (None, ()) for n in inputs if n in self.constant)
            if same_shape and scalar_constants:
                self.elementwise.add(node)
            if len(shape) >= 2 and self._row_broadcast_ok(node, shape, varying):
                self.row.add(node)
            return
        if node.op == "call_function" and target is F.linear and len(shape) >= 2:
            if all(self._is_const(a) for a in list(node.args[1:]) + list(node.kwargs.values())):
                self.row.add(node)
            return
        if node.op == "call_function" and target in _MATMUL_FUNCTIONS and len(shape) >= 2:
            if len(node.args) == 2 and self._is_const(node.args[1]) and not self._is_const(node.args[0]):
                self.row.add(node)
            return
        if node.op == "call_function" and target in _CAT_FUNCTIONS and len(shape) >= 2:
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            if dim in (-1, len(shape) - 1) and all(
                _shape(n) is not None and _shape(n)[:-1] == shape[:-1] for n in varying
            ):
                self.row.add(node)
            return
        if node.op == "call_function" and target is operator.getitem and len(shape) >= 2:
            if self._is_last_dim_slice(node, shape):
                self.row.add(node)

    def _row_broadcast_ok(self, node: fx.Node, shape: tuple[int, ...], varying: list[fx.Node]) -> bool:
        lead = shape[:-1]
        for arg in varying:
            s = _shape(arg)
            if s is None or len(s) != len(shape) or s[:-1] != lead or s[-1] not in (1, shape[-1]):
                return False
        for arg in node.all_input_nodes:
            if arg in self.constant:
                s = _shape(arg)
                # constants may vary along the feature dim only
                if s is not None and any(d != 1 for d in s[:-1]):
                    return False
        return True

    def _is_last_dim_slice(self, node: fx.Node, shape: tuple[int, ...]) -> bool:
        source, index = node.args
        src_shape = _shape(source)
        if src_shape is None or len(src_shape) != len(shape) or src_shape[:-1] != shape[:-1]:
            return False
        if not isinstance(index, tuple):
            return False
        items = list(index)
        if items and items[0] is Ellipsis:
            items = items[1:]
            return len(items) == 1 and isinstance(items[0], slice)
        return (
            len(items) == len(shape)
            and all(isinstance(i, slice) and i == slice(None) for i in items[:-1])
            and isinstance(items[-1], slice)
        )


class _Support(OperatorSupportBase):
    def __init__(self, supported: set[fx.Node]):
        self.supported = supported

    def is_node_supported(self, submodules: Mapping[str, nn.Module], node: fx.Node) -> bool:
        return node in self.supported


def _module_path(node: fx.Node, gm: fx.GraphModule) -> str | None:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack")
    if stack:
        return list(stack.keys())[-1]
    return None


def _common_prefix(paths: Sequence[str]) -> str:
    if not paths:
        return ""
    parts = [p.split(".") for p in paths]
    prefix = []
    for group in zip(*parts):
        if all(g == group[0] for g in group):
            prefix.append(group[0])
        else:
            break
    # "mlp.0" alone names a layer; keep dropping trailing numeric parts only when several paths
    while len(paths) > 1 and prefix and prefix[-1].isdigit():
        prefix.pop()
    return ".".join(prefix)


def _matches(paths: Iterable[str], patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(p, pat) for p in paths for pat in patterns)


def shape_propagate(gm: fx.GraphModule, args: Sequence[Any]) -> None:
    """Annotate every node with ``meta['tensor_meta']`` by running ``args`` through ``gm``."""
    import contextlib
    import io

    # ShapeProp prints a traceback before re-raising; the caller reports the failure in one line
    with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
        ShapeProp(gm).propagate(*args)


def partition(
    gm: fx.GraphModule,
    *,
    unit: str = "",
    max_inputs: int = 8,
    pca_in: int | None = None,
    min_region_nodes: int = 2,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    variable_names: Mapping[str, Sequence[str]] | None = None,
    default_name: str = "model",
    constants: Iterable[str] = (),
) -> Partition:
    """Find regions in a shape-propagated ``gm`` (call :func:`shape_propagate` first).

    ``constants`` names placeholder nodes that hold weights rather than data (Dynamo lifts
    parameters and buffers to graph inputs); they are treated like ``get_attr`` nodes.
    """
    classes = _Classifier(gm, constants)
    result = Partition()
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    used_names: dict[str, int] = {}

    def name_for(nodes: list[fx.Node], output: fx.Node) -> tuple[str, tuple[str, ...]]:
        paths = [p for p in (_module_path(n, gm) for n in nodes) if p]
        base = _common_prefix(paths) if paths else ""
        if not base:
            base = unit or (output.name if not paths else default_name)
        elif unit:
            base = f"{unit}.{base}"
        count = used_names.get(base, 0)
        used_names[base] = count + 1
        full_paths = tuple(sorted({f"{unit}.{p}" if unit else p for p in paths}))
        return (base if count == 0 else f"{base}_{count}"), full_paths

    def make_region(nodes: list[fx.Node], kind: str) -> Region | Skipped | None:
        nodes = sorted(nodes, key=order.__getitem__)
        inside = set(nodes)
        outputs = [n for n in nodes if any(u not in inside for u in n.users)]
        inputs: list[fx.Node] = []
        for n in nodes:
            for a in n.all_input_nodes:
                if a not in inside and a not in classes.constant and a not in inputs:
                    inputs.append(a)
        inputs.sort(key=order.__getitem__)
        computing = [n for n in nodes if n.op != "get_attr"]
        if len(computing) < min_region_nodes:
            return None
        if len(outputs) != 1:
            name, _ = name_for(nodes, outputs[-1] if outputs else nodes[-1])
            return Skipped(name, f"{len(outputs)} values leave the subgraph; symfx replaces single-output subgraphs")
        output = outputs[0]
        if not inputs:
            return None
        out_shape = _shape(output)
        if kind == "row":
            widths = tuple(int(_shape(n)[-1]) for n in inputs)
            out_features = int(out_shape[-1])
        else:
            widths = tuple(1 for _ in inputs)
            out_features = 1
        name, paths = name_for(nodes, output)
        if include and not (_matches(paths, include) or _matches([name], include)):
            return Skipped(name, "not matched by include=")
        if exclude and (_matches(paths, exclude) or _matches([name], exclude)):
            return Skipped(name, "matched by exclude=")
        names = (variable_names or {}).get(name)
        total = sum(widths)
        if names is not None:
            if len(names) != (pca_in if (pca_in and kind == "row" and total > max_inputs) else total):
                raise ConfigError(
                    f"variable_names[{name!r}] has {len(names)} names but the region reads {total} features."
                )
            variables = tuple(names)
        elif kind == "row" and pca_in and total > max_inputs:
            variables = tuple(f"p{i}" for i in range(pca_in))
        elif len(inputs) == 1 or kind == "elementwise":
            variables = tuple(f"x{i}" for i in range(total))
        else:
            variables = tuple(
                inp.name if w == 1 else f"{inp.name}_{j}" for inp, w in zip(inputs, widths) for j in range(w)
            )
        return Region(
            name=name, unit=unit, kind=kind, nodes=tuple(n.name for n in nodes),
            inputs=tuple(n.name for n in inputs), input_widths=widths, output=output.name,
            out_features=out_features, variables=variables, module_paths=paths,
        )

    def propose(supported: set[fx.Node]) -> list[list[fx.Node]]:
        if not supported:
            return []
        partitioner = CapabilityBasedPartitioner(gm, _Support(supported), allows_single_node_partition=True)
        return [list(p.nodes) for p in partitioner.propose_partitions()]

    for nodes in sorted(propose(classes.row), key=lambda ns: min(order[n] for n in ns)):
        inside = set(nodes)
        in_width = sum(
            int(_shape(a)[-1])
            for a in {a for n in nodes for a in n.all_input_nodes if a not in inside and a not in classes.constant}
        )
        if in_width <= max_inputs or pca_in:
            made = make_region(nodes, "row")
            if made is not None:
                (result.regions if isinstance(made, Region) else result.skipped).append(made)
            continue
        # too wide to fit in closed form: fall back to its elementwise chains
        sub = propose(classes.elementwise & inside)
        found = False
        for chain in sorted(sub, key=lambda ns: min(order[n] for n in ns)):
            made = make_region(chain, "elementwise")
            if isinstance(made, Region) and made.in_features <= max_inputs:
                result.regions.append(made)
                found = True
            elif isinstance(made, Skipped):
                result.skipped.append(made)
        if not found:
            name, _ = name_for(nodes, nodes[-1])
            result.skipped.append(
                Skipped(name, f"{in_width} input features > max_inputs={max_inputs} and no elementwise chain; "
                              "set pca_in=k to fit on k principal components")
            )
    position = {node.name: i for node, i in order.items()}
    result.regions.sort(key=lambda r: position[r.output])
    return result
