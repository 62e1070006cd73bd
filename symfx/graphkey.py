"""Facts about a graph Dynamo hands the backend: its weight placeholders, readable module
paths, concrete example inputs, and the compile-cache key.

The key hashes the regions' structure, the graph's other ops, every weight, the options that
decide the result (``Config.key_fields("pipeline")``) and the symfx and torch versions. Batch
size, node names and dynamic-shape placeholders are not in it, so a recompile of the same model
(another batch size, ``dynamic=True``) finds the same entry.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

import torch
import torch.fx as fx

from .config import Config
from .passes.partition import Region
from .store import key_of

__all__ = ["CACHE_FORMAT", "CACHE_VERSION", "constant_placeholders", "readable_module_paths", "concrete",
           "compile_key"]

CACHE_FORMAT = "symfx-compile-cache"
CACHE_VERSION = 3  # 2: the key covers the ops outside the regions; 3: options by Config.key_fields


def constant_placeholders(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> set[str]:
    """Placeholders that hold parameters or buffers (Dynamo lifts them to graph inputs)."""
    names = set()
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for node, value in zip(placeholders, example_inputs):
        if isinstance(value, torch.nn.Parameter):
            names.add(node.name)
            continue
        source = getattr(node.meta.get("grapharg"), "source", None)
        text = _source_name(source)
        if text and ("_buffers" in text or "_parameters" in text):
            names.add(node.name)
    return names


_SOURCE_PREFIX = re.compile(r"^[A-Z]\['[^']*'\]\.?")
_MODULES_ITEM = re.compile(r"\.?_modules\['([^']*)'\]")


def readable_module_paths(gm: fx.GraphModule) -> None:
    """Key Dynamo's ``nn_module_stack`` by module path (``mlp.0``), not by object id.

    Region names come from these paths, and they must not change from one process to the next.
    """
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        if not stack:
            continue
        clean = {}
        for value in stack.values():
            path = value[0] if isinstance(value, tuple) and value and isinstance(value[0], str) else ""
            path = _MODULES_ITEM.sub(lambda m: "." + m.group(1), _SOURCE_PREFIX.sub("", path)).lstrip(".")
            if path:
                clean[path] = value
        if clean:
            node.meta["nn_module_stack"] = clean
        else:
            del node.meta["nn_module_stack"]


def _source_name(source: Any) -> str:
    if source is None:
        return ""
    name = getattr(source, "name", "")
    try:
        return str(name() if callable(name) else name)
    except Exception:
        return repr(source)


def concrete(value: Any) -> Any:
    if isinstance(value, torch.SymInt):
        node = value.node
        hint = getattr(node, "hint", None)
        return int(hint) if hint is not None else int(node.shape_env.size_hint(node.expr))
    if isinstance(value, torch.SymFloat):
        return float(value.node.hint)
    return value


def _describe(arg: Any, local: dict[str, str], unknown: str = "?", ints: bool = True) -> Any:
    """``arg`` with nodes renamed by ``local`` (others become ``unknown``); ``ints=False`` hides
    integer values, which a dynamic recompile turns into shape symbols."""
    if isinstance(arg, fx.Node):
        return local.get(arg.name, unknown)
    if isinstance(arg, (list, tuple)):
        return [_describe(a, local, unknown, ints) for a in arg]
    if isinstance(arg, dict):
        return {str(k): _describe(v, local, unknown, ints) for k, v in sorted(arg.items())}
    if isinstance(arg, int) and not isinstance(arg, bool) and not ints:
        return "int"
    if isinstance(arg, (int, float, bool, str)) or arg is None:
        return arg
    return repr(arg)


def _target(node: fx.Node) -> str:
    t = node.target
    if isinstance(t, str):
        return f"{node.op}:{t}"
    return f"{node.op}:{getattr(t, '__module__', '')}.{getattr(t, '__qualname__', getattr(t, '__name__', repr(t)))}"


def compile_key(gm: fx.GraphModule, regions: Sequence[Region], constants: set[str],
                example_inputs: Sequence[Any], cfg: Config) -> str:
    """Hash of the regions' structure, the graph's other ops, every weight, the options and the versions.

    Batch size, node names and dynamic-shape placeholders are not in it, so a
    recompile of the same model (another batch size, ``dynamic=True``) finds it.
    """
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    local: dict[str, str] = {}
    weights: list[torch.Tensor] = []
    for node, value in zip(placeholders, example_inputs):
        if node.name in constants and isinstance(value, torch.Tensor):
            local[node.name] = f"w{len(weights)}"
            weights.append(value)
    weights += [value for _, value in sorted(list(gm.named_parameters()) + list(gm.named_buffers()))]
    structure = []
    for region in regions:
        names = dict(local)
        names.update({n: f"in{i}" for i, n in enumerate(region.inputs)})
        names.update({n: f"n{i}" for i, n in enumerate(region.nodes)})
        node_of = {n.name: n for n in gm.graph.nodes}
        ops = [[_target(node_of[n]), _describe(node_of[n].args, names), _describe(node_of[n].kwargs, names)]
               for n in region.nodes]
        structure.append({"name": region.name, "kind": region.kind, "widths": list(region.input_widths),
                          "out": region.out_features, "output": names[region.output],
                          "variables": list(region.variables), "ops": ops})
    meta = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "torch": torch.__version__,
            "weights": [f"{w.dtype}{tuple(w.shape)}" for w in weights],  # numpy has no bfloat16: dtypes here
            "config": cfg.key_fields("pipeline"), "regions": structure, "graph": _graph_signature(gm)}
    return key_of(meta, (_as_numpy(w) for w in weights))


def _graph_signature(gm: fx.GraphModule) -> list[Any]:
    """The whole graph's tensor ops and how they connect, without names, sizes or shape symbols.

    A cached entry was validated against the whole graph's output, so an edit outside the
    regions (another activation after the MLP, a changed float constant) must miss the cache.
    A recompile of the same model must still hit: node names, integer arguments (sizes, which a
    dynamic recompile turns into symbols) and the shape-symbol nodes themselves are left out.
    """
    index: dict[str, str] = {}
    ops: list[Any] = []

    def describe(arg: Any) -> Any:
        return _describe(arg, index, unknown="sym", ints=False)

    for node in gm.graph.nodes:
        value = node.meta.get("example_value", node.meta.get("val"))
        if value is not None and not isinstance(value, (torch.Tensor, list, tuple)):
            continue  # a shape symbol (SymInt) or a Python scalar
        if node.op == "placeholder":
            index[node.name] = f"p{len(index)}"
            continue
        if node.op == "output":
            ops.append(["output", describe(node.args)])
            continue
        index[node.name] = f"t{len(index)}"
        ops.append([_target(node), describe(node.args), describe(node.kwargs)])
    return ops


def _as_numpy(value: torch.Tensor) -> Any:
    t = value.detach().cpu().contiguous()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
