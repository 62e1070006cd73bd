"""Safe, human-readable save and load of distilled equations.

A saved file is small JSON::

    {"format": "symfx-equations", "version": 1, "symfx_version": "0.1.0", "model": "Net",
     "regions": [{"name": "mlp", "unit": "", "kind": "row",
                  "nodes": [...], "inputs": [...], "input_widths": [2], "output": "linear_1",
                  "out_features": 1, "module_paths": ["mlp"], "variables": ["x0", "x1"],
                  "nrmse": 0.001, "active": true,
                  "outputs": [{"text": "sin(x0)*x1", "nrmse": 0.001, "complexity": 4,
                               "tree": ["mul", ["sin", {"var": "x0"}], {"var": "x1"}]}],
                  "projections": {"in_mean": [...], "in_basis": [[...]], ...}}]}

Equations are stored as expression trees in the lowering table's vocabulary
(:func:`symfx.tree.to_tree`). ``text`` is for people reading the file and
is never parsed. Reading uses only :mod:`json` (with guards on size, nesting,
number length, duplicate keys and NaN/Infinity) and
:func:`symfx.tree.from_tree`; there is no pickle, ``eval``, ``exec``,
``sympify`` or ``parse_expr`` anywhere on the path. Everything a file may hold
is bounded, and every defect is a :class:`symfx.LoadError` that names where it
is (``regions[0].outputs[1].tree: unknown operator 'system'``).

This module is the format only: it converts a region and its fit (:class:`Region`, :class:`Fit`,
the ``active`` flag) to JSON and back, in one place, without knowing the record type that holds
them; :mod:`symfx.serialize` wraps the pairs in :class:`~symfx.Distilled` records (so that
``Distilled.save`` can write through this module without an import cycle). Putting them into a
model is :func:`symfx.pipeline.load_model`'s job.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import sympy

from ._version import __version__
from .engines.base import Candidate
from .errors import LoadError, SymfxError
from .lowering import complexity
from .passes.fit import PROJECTION_KEYS, Fit, Projection
from .passes.partition import Region
from .store import write_atomic
from .tree import MAX_ABS_CONSTANT, MAX_TREE_DEPTH, brief_repr, from_tree, to_tree

if TYPE_CHECKING:  # the record type a Payload holds (symfx.serialize builds them)
    from .distilled import Distilled
Parts = tuple[Region, Fit, bool]  # one region as a file holds it: where it sits, its fit, whether it runs

FORMAT = "symfx-equations"
VERSION = 2  # 2: each output may carry its whole Pareto front ("front"); 1 had the chosen equation only
READ_VERSIONS = (1, 2)

MAX_FILE_BYTES = 4 * 2**20  # parsing the largest allowed file takes about a second
# tree depth plus the file's own structure ({} -> regions [] -> {} -> outputs [] -> {} -> tree)
MAX_JSON_DEPTH = MAX_TREE_DEPTH + 8
MAX_REGIONS = 4096
MAX_ITEMS = 100_000  # nodes, inputs, variables, outputs per region
MAX_NAME_CHARS = 256
MAX_PROJECTION_VALUES = 2_000_000
MAX_FILE_TREE_NODES = 200_000  # all equations together; bounds the sympy work a file can ask for
MAX_FRONT = 256  # Pareto-front members per output
KINDS = ("row", "elementwise")


@dataclass(frozen=True)
class Payload:
    """Everything a saved file holds, checked: the distilled regions and where they came from."""

    regions: tuple[Distilled, ...]
    symfx_version: str = field(default_factory=lambda: __version__)
    model: str = ""  # class name of the model it came from (informational)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None  # JSON has no inf/nan; unknown is null


class _Inline:
    """Values written compactly on one line, spliced into the indented document afterwards."""

    def __init__(self) -> None:
        self.nonce = os.urandom(8).hex()  # placeholders cannot collide with names in the file
        self.texts: list[str] = []

    def __call__(self, value: Any) -> str:
        self.texts.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
        return f"@@{self.nonce}-{len(self.texts) - 1}@@"

    def splice(self, text: str) -> str:
        return re.sub(rf'"@@{self.nonce}-(\d+)@@"', lambda m: self.texts[int(m.group(1))], text)


def _encode_region(d: Distilled, index: int, inline: _Inline) -> dict[str, Any]:
    where = f"regions[{index}] ({d.name!r})"
    region, fit = d.region, d.fit
    outputs = []
    for k, (expr, front) in enumerate(zip(fit.exprs, fit.fronts)):
        try:
            tree = to_tree(expr)
        except ValueError as exc:
            raise SymfxError(f"cannot save {where}.outputs[{k}]: {exc}") from None
        doc_out: dict[str, Any] = {
            "text": str(expr),
            "nrmse": _number(fit.output_nrmse[k]),
            "complexity": complexity(expr),
            "tree": inline(tree),
        }
        if front and not _is_bare(front, expr, fit.output_nrmse[k]):
            doc_out["front"] = []
            for member in front[:MAX_FRONT]:
                try:
                    member_tree = to_tree(member.expr)
                    same = sympy.srepr(from_tree(member_tree, fit.variables)) == sympy.srepr(member.expr)
                except ValueError:
                    same = False
                if not same:
                    continue  # a member the file cannot express exactly is left out (the chosen one must be)
                doc_out["front"].append({
                    "text": str(member.expr), "complexity": complexity(member.expr),
                    "loss": _number(member.loss), "nrmse": _number(member.nrmse), "safe": bool(member.safe),
                    "tree": inline(member_tree),
                })
        outputs.append(doc_out)
    doc: dict[str, Any] = {
        "name": region.name, "unit": region.unit, "kind": region.kind,
        "nodes": inline(list(region.nodes)), "inputs": inline(list(region.inputs)),
        "input_widths": inline([int(w) for w in region.input_widths]), "output": region.output,
        "out_features": int(region.out_features), "module_paths": inline(list(region.module_paths)),
        "variables": inline(list(fit.variables)), "nrmse": _number(fit.nrmse), "active": bool(d.active),
        "outputs": outputs,
    }
    if fit.reason:  # a law kept although it missed tolerance (symfx.distill): say so in the file
        doc["reason"] = "".join(c if c.isprintable() else " " for c in fit.reason)[:MAX_NAME_CHARS]
    proj = fit.projection
    if proj is not None:
        arrays = {k: getattr(proj, k) for k in PROJECTION_KEYS if getattr(proj, k) is not None}
        doc["projections"] = {}
        for key, value in arrays.items():
            a = _array(value)
            if not np.isfinite(a).all():
                raise SymfxError(f"cannot save {where}.projections.{key}: it holds NaN/Inf")
            doc["projections"][key] = inline(a.tolist())
    return doc


def _is_bare(front: Sequence[Candidate], expr: sympy.Expr, nrmse: float) -> bool:
    """A front that is the chosen equation alone, with nothing the reader would not rebuild
    (version-1 files, hand-made fits): it is left out of the file."""
    if len(front) != 1:
        return False
    m = front[0]
    return m.expr == expr and m.safe and m.loss != m.loss and (m.nrmse == nrmse or (m.nrmse != m.nrmse and nrmse != nrmse))


def dumps(payload: Payload) -> str:
    """The file text for ``payload``: indented JSON with each tree and matrix on one line.

    The text is parsed back before it is returned, so a file that :func:`parse_parts`
    would refuse is never written.
    """
    inline = _Inline()
    doc = {
        "format": FORMAT, "version": VERSION, "symfx_version": str(payload.symfx_version),
        "model": str(payload.model),
        "regions": [_encode_region(r, i, inline) for i, r in enumerate(payload.regions)],
    }
    # trees, name lists and matrices go on one line each: short files that read top to bottom
    text = inline.splice(json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False))
    try:
        parsed, _, _ = parse_parts(text)
    except LoadError as exc:
        raise SymfxError(f"refusing to write a file that could not be loaded back: {exc}") from None
    for i, (a, (_, fit, _)) in enumerate(zip(payload.regions, parsed)):
        for k, (ea, eb) in enumerate(zip(a.exprs, fit.exprs)):
            if sympy.srepr(ea) != sympy.srepr(eb):
                raise SymfxError(f"regions[{i}].outputs[{k}]: {ea} would load back as {eb}")
    return text + "\n"


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------

class _Invalid(Exception):
    """Raised inside the json hooks; turned into a LoadError by parse_parts()."""


_BRACKETS = np.frombuffer(b"[]{}", dtype=np.uint8)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: linear time


def _check_nesting(text: str) -> None:
    """Refuse deeply nested JSON before json.loads recurses into it (RecursionError, C stack)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return
    bare = _STRING.sub('""', text).encode("utf-8", "replace")
    codes = np.frombuffer(bare, dtype=np.uint8)
    codes = codes[np.isin(codes, _BRACKETS)]  # only brackets matter once strings are gone
    step = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int32)
    if step.size and int(np.cumsum(step).max()) > MAX_JSON_DEPTH:
        raise LoadError(f"the file nests deeper than {MAX_JSON_DEPTH} levels; a symfx equations file never does")


def _parse_constant(name: str) -> Any:
    raise _Invalid(f"{name} is not a number a symfx file may hold")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Invalid(f"key {key[:60]!r} appears twice in one object")
        out[key] = value
    return out


def _decode(text: str) -> Any:
    if not isinstance(text, str):
        raise LoadError(f"expected the file's text (str), got {type(text).__name__}")
    if len(text) > MAX_FILE_BYTES:
        raise LoadError(f"the file is larger than {MAX_FILE_BYTES} bytes; a symfx equations file is small")
    _check_nesting(text)
    try:
        # ints and floats parse natively (fast): Python caps int digits, and every number is range
        # checked where it is used; only NaN/Infinity literals and duplicate keys need hooks
        return json.loads(text, parse_constant=_parse_constant, object_pairs_hook=_no_duplicates)
    except _Invalid as exc:
        raise LoadError(f"not a valid symfx equations file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise LoadError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # e.g. int digit limits; nesting is checked above
        raise LoadError(f"not a valid symfx equations file: {str(exc)[:200]}") from None


# -- small typed readers; each failure names the path of the offending field --------

def _fail(where: str, message: str) -> LoadError:
    return LoadError(f"{where}: {message}")


def _type_name(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _object(value: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"expected an object, got a {_type_name(value)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise _fail(where, f"missing field(s) {missing}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        shown = [k[:40] for k in unknown[:5]]
        raise _fail(where, f"unknown field(s) {shown}; this file is not symfx-equations version {VERSION}")
    return value


def _list(value: Any, where: str, max_len: int = MAX_ITEMS, min_len: int = 0) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, f"expected a list, got a {_type_name(value)}")
    if not min_len <= len(value) <= max_len:
        raise _fail(where, f"expected {min_len}..{max_len} items, got {len(value)}")
    return value


def _text(value: Any, where: str, *, identifier: bool = False, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got a {_type_name(value)}")
    if (not value and not allow_empty) or len(value) > MAX_NAME_CHARS:
        raise _fail(where, f"expected 1..{MAX_NAME_CHARS} characters, got {len(value)}")
    if not value.isprintable():  # no control characters or terminal escapes in reports
        raise _fail(where, f"{value[:40]!r} holds non-printable characters")
    if identifier and not value.isidentifier():
        raise _fail(where, f"{value[:40]!r} is not an identifier")
    return value


def _names(value: Any, where: str, *, identifier: bool = True, min_len: int = 0, unique: bool = True) -> tuple[str, ...]:
    items = _list(value, where, min_len=min_len)
    names = tuple(_text(v, f"{where}[{i}]", identifier=identifier) for i, v in enumerate(items))
    if unique and len(set(names)) != len(names):
        raise _fail(where, "names repeat")
    return names


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise _fail(where, f"expected an integer in {lo}..{hi}, got {brief_repr(value)}")
    return value


def _error_value(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 <= value <= 1e300:
        raise _fail(where, f"expected a non-negative number or null, got {brief_repr(value)}")
    return float(value)


def _tree_size(tree: Any) -> int:
    """Node count of a JSON tree (iterative; nesting is already bounded)."""
    count, stack = 0, [tree]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, list):
            stack.extend(node[1:])
    return count


def _matrix(value: Any, where: str, ndim: int, budget: list[int]) -> np.ndarray:
    rows = _list(value, where, min_len=1)
    if ndim == 2:
        width = len(_list(rows[0], f"{where}[0]", min_len=1))
        for i, row in enumerate(rows):
            if len(_list(row, f"{where}[{i}]")) != width:
                raise _fail(f"{where}[{i}]", f"rows differ in length ({len(row)} vs {width})")
        flat = [x for row in rows for x in row]
    else:
        flat = rows
    budget[0] -= len(flat)
    if budget[0] < 0:
        raise _fail(where, f"projections hold more than {MAX_PROJECTION_VALUES} numbers")
    if not all(type(x) in (int, float) for x in flat):
        bad = next(x for x in flat if type(x) not in (int, float))
        raise _fail(where, f"expected numbers, found a {_type_name(bad)}")
    a = np.asarray(flat, dtype=np.float64)
    if not np.isfinite(a).all() or (a.size and np.abs(a).max() > MAX_ABS_CONSTANT):
        raise _fail(where, "holds a number out of range")
    return a.reshape(len(rows), -1) if ndim == 2 else a


def _projection(value: Any, where: str, n_in: int, n_vars: int, n_out: int, n_exprs: int,
                budget: list[int]) -> Projection:
    doc = _object(value, where, (), PROJECTION_KEYS)
    arrays = {k: _matrix(doc[k], f"{where}.{k}", 2 if k.endswith("basis") else 1, budget)
              for k in PROJECTION_KEYS if k in doc}
    proj = Projection(**arrays)
    # both halves of a projection come as a pair, and shapes match the region they wrap
    for side, n_feat, n_sym, what in (("in", n_in, n_vars, "variables"), ("out", n_out, n_exprs, "outputs")):
        mean, basis = getattr(proj, f"{side}_mean"), getattr(proj, f"{side}_basis")
        if (mean is None) != (basis is None):
            raise _fail(where, f"{side}_mean and {side}_basis come together")
        if basis is not None and (basis.shape != (n_feat, n_sym) or mean.shape != (n_feat,)):
            raise _fail(where, f"{side}_basis must be [{n_feat}, {n_sym}] and {side}_mean [{n_feat}] "
                               f"(features x {what}), got {list(basis.shape)} and {list(mean.shape)}")
    return proj


_REGION_REQUIRED = ("name", "kind", "nodes", "inputs", "input_widths", "output", "out_features",
                    "variables", "outputs")
_REGION_OPTIONAL = ("unit", "module_paths", "nrmse", "active", "projections", "reason")


def _equation(tree: Any, where: str, variables: Sequence[str], budget: list[int]) -> sympy.Expr:
    budget[1] -= _tree_size(tree)
    if budget[1] < 0:
        raise _fail(where, f"the file's equations hold more than {MAX_FILE_TREE_NODES} nodes")
    try:
        return from_tree(tree, variables)
    except ValueError as exc:
        raise _fail(where, str(exc)) from None


def _error(value: Any, where: str) -> float:
    """An error field as a float; null (unknown) is nan."""
    checked = _error_value(value, where)
    return float("nan") if checked is None else checked


def _region(value: Any, where: str, budget: list[int]) -> Parts:
    doc = _object(value, where, _REGION_REQUIRED, _REGION_OPTIONAL)
    name = _text(doc["name"], f"{where}.name")
    kind = doc["kind"]
    if kind not in KINDS:
        raise _fail(f"{where}.kind", f"expected one of {list(KINDS)}, got {brief_repr(kind)}")
    unit = _text(doc.get("unit", ""), f"{where}.unit", allow_empty=True)
    nodes = _names(doc["nodes"], f"{where}.nodes", min_len=1)
    inputs = _names(doc["inputs"], f"{where}.inputs", min_len=1)
    widths = tuple(_int(w, f"{where}.input_widths[{i}]", 1, MAX_ITEMS)
                   for i, w in enumerate(_list(doc["input_widths"], f"{where}.input_widths")))
    if len(widths) != len(inputs):
        raise _fail(f"{where}.input_widths", f"has {len(widths)} entries for {len(inputs)} inputs")
    output = _text(doc["output"], f"{where}.output", identifier=True)
    if output not in nodes:
        raise _fail(f"{where}.output", f"{output!r} is not one of the region's nodes")
    if set(inputs) & set(nodes):
        raise _fail(f"{where}.inputs", "a region cannot read its own nodes")
    out_features = _int(doc["out_features"], f"{where}.out_features", 1, MAX_ITEMS)
    variables = _names(doc["variables"], f"{where}.variables", min_len=1)
    module_paths = _names(doc.get("module_paths", []), f"{where}.module_paths", identifier=False, unique=False)
    nrmse = _error_value(doc.get("nrmse"), f"{where}.nrmse")
    active = doc.get("active", True)
    if type(active) is not bool:
        raise _fail(f"{where}.active", f"expected true or false, got a {_type_name(active)}")
    reason = _text(doc["reason"], f"{where}.reason") if "reason" in doc else None

    outputs = []
    for k, item in enumerate(_list(doc["outputs"], f"{where}.outputs", min_len=1)):
        at = f"{where}.outputs[{k}]"
        out = _object(item, at, ("tree",), ("text", "nrmse", "complexity", "front"))
        # "text" and "complexity" are for readers only: never parsed, never trusted
        expr = _equation(out["tree"], f"{at}.tree", variables, budget)
        front = []
        for m, member in enumerate(_list(out.get("front", []), f"{at}.front", max_len=MAX_FRONT)):
            where_m = f"{at}.front[{m}]"
            doc_m = _object(member, where_m, ("tree",), ("text", "complexity", "loss", "nrmse", "safe"))
            safe = doc_m.get("safe", True)
            if type(safe) is not bool:
                raise _fail(f"{where_m}.safe", f"expected true or false, got a {_type_name(safe)}")
            # complexity is recomputed from the expression: the file's number is never trusted
            member_expr = _equation(doc_m["tree"], f"{where_m}.tree", variables, budget)
            front.append(Candidate(member_expr, complexity(member_expr), _error(doc_m.get("loss"), f"{where_m}.loss"),
                                   _error(doc_m.get("nrmse"), f"{where_m}.nrmse"), safe))
        out_nrmse = _error(out.get("nrmse"), f"{at}.nrmse")
        outputs.append((*_front_with(expr, out_nrmse, front), out_nrmse))

    projection = None
    if "projections" in doc:
        projection = _projection(doc["projections"], f"{where}.projections", sum(widths), len(variables),
                                 out_features, len(outputs), budget)
    has_in = projection is not None and projection.in_basis is not None
    has_out = projection is not None and projection.out_basis is not None
    if kind == "elementwise":
        if projection is not None:
            raise _fail(f"{where}.projections", "an elementwise region has no projections")
        if len(variables) != len(inputs) or len(outputs) != 1 or out_features != 1:
            raise _fail(where, "an elementwise region has one variable per input and exactly one output")
    else:
        if not has_in and len(variables) != sum(widths):
            raise _fail(f"{where}.variables", f"{len(variables)} variables for {sum(widths)} input features")
        if not has_out and len(outputs) != out_features:
            raise _fail(f"{where}.outputs", f"{len(outputs)} equations for {out_features} output features")
    region = Region(name=name, unit=unit, kind=kind, nodes=nodes, inputs=inputs, input_widths=widths,
                    output=output, out_features=out_features, variables=variables, module_paths=module_paths)
    fronts, chosen, output_nrmse = zip(*outputs)
    fit = Fit(region=name, variables=variables, fronts=fronts, chosen=chosen, output_nrmse=output_nrmse,
              nrmse=float("nan") if nrmse is None else nrmse, projection=projection, seconds=0.0, reason=reason,
              applied=reason is None)
    return region, fit, active


def _front_with(expr: sympy.Expr, nrmse: float, front: list[Candidate]) -> tuple[tuple[Candidate, ...], int]:
    """An output's front and the index of its chosen equation in it.

    A file without a front (version 1), or whose front lacks the chosen equation, gets the
    equation as a member, with the output's held-out error.
    """
    key = sympy.srepr(expr)
    for i, member in enumerate(front):
        if sympy.srepr(member.expr) == key:
            return tuple(front), i
    chosen = Candidate(expr, complexity(expr), float("nan"), nrmse, True)
    members = sorted([*front, chosen], key=lambda m: m.complexity)
    return tuple(members), next(i for i, m in enumerate(members) if m is chosen)


def parse_parts(text: str) -> tuple[tuple[Parts, ...], str, str]:
    """Parse and check the text of a saved file: (regions, symfx version, model); any defect is a
    :class:`LoadError` naming where."""
    doc = _object(_decode(text), "file", ("format", "version", "regions"), ("symfx_version", "model"))
    if doc["format"] != FORMAT:
        raise _fail("file.format", f"expected {FORMAT!r}, got {brief_repr(doc['format'])}")
    if type(doc["version"]) is not int or doc["version"] not in READ_VERSIONS:
        raise _fail("file.version", f"this symfx reads versions {list(READ_VERSIONS)}, the file is version "
                                    f"{brief_repr(doc['version'])}; upgrade symfx to read it")
    version = _text(doc.get("symfx_version", "unknown"), "file.symfx_version")
    model = _text(doc.get("model", ""), "file.model", allow_empty=True)
    budget = [MAX_PROJECTION_VALUES, MAX_FILE_TREE_NODES]
    regions = tuple(_region(r, f"regions[{i}]", budget)
                    for i, r in enumerate(_list(doc["regions"], "file.regions", max_len=MAX_REGIONS)))
    names = [r.name for r, _, _ in regions]
    if len(set(names)) != len(names):
        raise _fail("file.regions", "two regions have the same name")
    claimed: dict[tuple[str, str], str] = {}
    for r, _, _ in regions:
        for node in r.nodes:
            if claimed.setdefault((r.unit, node), r.name) != r.name:
                raise _fail(f"regions ({r.name!r})", f"node {node!r} also belongs to {claimed[(r.unit, node)]!r}")
    return regions, version, model


def read_text(path: str | os.PathLike[str]) -> str:
    """The text of a saved file, read within the size limit (parse it with :func:`parse_parts`)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # never read more than the limit
    except OSError as exc:
        raise LoadError(f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(f"{os.fspath(path)!r} is larger than {MAX_FILE_BYTES} bytes; a symfx equations file is small")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{os.fspath(path)!r} is not UTF-8 text (byte {exc.start})") from None
    return text


def write(payload: Payload, path: str | os.PathLike[str]) -> None:
    """Write ``payload`` to ``path`` atomically (a crash never leaves half a file)."""
    write_atomic(path, dumps(payload))
