"""Saved equations: round trips, crafted files refused with a LoadError naming where, save -> load
gives the same outputs, and the loader fuzz target runs briefly."""
from __future__ import annotations

import copy
import io
import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import sympy
import torch
import torch.nn as nn

import symfx
from symfx import LoadError, serialize
from symfx.distilled import Distilled
from symfx.engines import Candidate
from symfx.lowering import complexity
from symfx.passes.fit import Fit, Projection
from symfx.passes.partition import Region
from symfx.pipeline import load_model
from symfx.serialize import Payload, dumps, parses

x0, x1, p0 = sympy.symbols("x0 x1 p0")
NAN = float("nan")


def member(expr: sympy.Expr, loss: float = NAN, nrmse: float = NAN, safe: bool = True) -> Candidate:
    return Candidate(expr, complexity(expr), loss, nrmse, safe)


FRONT = (  # a Pareto front: the chosen equation (complexity 6) and a simpler and a longer member
    member(x1, 0.4, 0.6, True),
    member(sympy.sin(x0) * x1 + sympy.Float(0.5), 1e-6, 1e-3, True),
    member(sympy.sin(x0) * x1 + sympy.Float(0.5) + x0**2 / 1000, 1e-7, 9e-4, False),
)


def equation(expr: sympy.Expr, nrmse: float = NAN, front: tuple[Candidate, ...] = ()) -> tuple[Any, ...]:
    """An output's equation, held-out error and front (the equation alone when no front is given)."""
    return expr, nrmse, front or (member(expr, NAN, nrmse),)


def region(name: str = "mlp", kind: str = "row", nodes: tuple[str, ...] = ("mlp_0", "mlp_1", "mlp_2", "mul"),
           inputs: tuple[str, ...] = ("x",), input_widths: tuple[int, ...] = (2,), output: str = "mul",
           out_features: int = 1, variables: tuple[str, ...] = ("x0", "x1"),
           module_paths: tuple[str, ...] = ("mlp.0", "mlp.1", "mlp.2"),
           outputs: tuple[Any, ...] = (), nrmse: float = 1e-3, active: bool = True,
           projection: Projection | None = None, unit: str = "") -> Distilled:
    outputs = outputs or (equation(sympy.sin(x0) * x1 + sympy.Float(0.5), 1e-3, FRONT),)
    chosen = tuple(next(i for i, m in enumerate(front) if m.expr == expr) for expr, _, front in outputs)
    fit = Fit(region=name, variables=variables, fronts=tuple(front for _, _, front in outputs), chosen=chosen,
              output_nrmse=tuple(n for _, n, _ in outputs), nrmse=nrmse, projection=projection, seconds=0.0)
    return Distilled(Region(name=name, unit=unit, kind=kind, nodes=nodes, inputs=inputs, input_widths=input_widths,
                            output=output, out_features=out_features, variables=variables,
                            module_paths=module_paths), fit, active)


def same(a: Any, b: Any) -> bool:
    """Equal, counting nan (an unknown error) as equal to nan."""
    return [x if x == x else "nan" for x in a] == [x if x == x else "nan" for x in b]


def payload() -> Payload:
    proj = Projection(in_mean=np.array([0.1, -0.2]), in_basis=np.array([[0.6], [0.8]]),
                      out_mean=np.array([1.0, 2.0, 3.0]), out_basis=np.arange(6.0).reshape(3, 2) / 7)
    return Payload(model="Net", regions=(
        region(),
        region(name="head", nodes=("head_0", "head_1", "head_2"), inputs=("mul",), output="head_2",
               input_widths=(2,), out_features=3, variables=("p0",), module_paths=(),
               outputs=(equation(sympy.tanh(p0) / 3 - sympy.pi * p0**2),
                        equation(sympy.Max(p0, sympy.Rational(1, 3)) + sympy.exp(-p0), 0.25)),
               projection=proj, active=False, nrmse=NAN),
        region(name="act", kind="elementwise", nodes=("relu",), inputs=("head_2",), input_widths=(1,),
               output="relu", variables=("x0",), outputs=(equation(sympy.Abs(x0) * 0.5 + x0 / 2),)),
    ))


def base_doc() -> dict[str, Any]:
    return json.loads(dumps(payload()))


# --------------------------------------------------------------------------- round trips

def test_dumps_parses_round_trip() -> None:
    original = payload()
    text = dumps(original)
    back = parses(text)
    assert back.model == "Net" and back.symfx_version == symfx.__version__
    for a, b in zip(original.regions, back.regions):
        assert [sympy.srepr(e) for e in a.exprs] == [sympy.srepr(e) for e in b.exprs]
        assert a.region == b.region
        assert same((a.nrmse, a.active), (b.nrmse, b.active))
        assert same(a.output_nrmse, b.output_nrmse)
        for fa, fb in zip(a.front, b.front):
            assert [(sympy.srepr(m.expr), m.safe) for m in fa] == [(sympy.srepr(m.expr), m.safe) for m in fb]
            assert same([m.loss for m in fa] + [m.nrmse for m in fa], [m.loss for m in fb] + [m.nrmse for m in fb])
    assert len(back.regions[0].front[0]) == 3
    proj = back.regions[1].projection
    for key in serialize.PROJECTION_KEYS:
        np.testing.assert_array_equal(getattr(proj, key), getattr(original.regions[1].projection, key))
    assert dumps(back) == text  # stable: loading and saving again changes nothing


def test_file_is_small_readable_json() -> None:
    text = dumps(payload())
    doc = json.loads(text)
    assert doc["format"] == "symfx-equations" and doc["version"] == 2
    assert [m["complexity"] for m in doc["regions"][0]["outputs"][0]["front"]] == [1, 6, 11]
    out = doc["regions"][0]["outputs"][0]
    assert out["text"] == "x1*sin(x0) + 0.5" and out["tree"][0] == "add"
    assert '"tree": ["add",' in text  # each tree on one line
    assert len(text.splitlines()) < 120


def test_text_field_is_never_parsed() -> None:
    doc = base_doc()
    doc["regions"][0]["outputs"][0]["text"] = "__import__('os').system('echo pwned')"
    back = parses(json.dumps(doc))
    assert back.regions[0].exprs[0] == sympy.sin(x0) * x1 + sympy.Float(0.5)


def test_read_write_files(tmp_path: Path) -> None:
    path = tmp_path / "eq.json"
    serialize.write(payload(), path)
    assert serialize.read(path).regions[2].kind == "elementwise"
    assert not list(tmp_path.glob("*.tmp*"))


def test_dumps_refuses_unwritable_equations() -> None:
    bad = Payload(regions=(region(outputs=(equation(sympy.zoo * x0),)),))
    with pytest.raises(symfx.SymfxError, match=r"regions\[0\] \('mlp'\)\.outputs\[0\]"):
        dumps(bad)


# --------------------------------------------------------------------------- crafted files

def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return edit


TREE = ["regions", 0, "outputs", 1, "tree"]
CRAFTED = [
    (_set(TREE, ["system", {"var": "x0"}]), r"regions\[0\]\.outputs\[1\]\.tree: unknown operator 'system'"),
    (_set(["regions", 0, "outputs", 0, "tree"], ["sin", {"var": "x0"}, {"var": "x1"}]),
     r"regions\[0\]\.outputs\[0\]\.tree: operator 'sin' takes 1 arguments, got 2"),
    (_set(["regions", 0, "outputs", 0, "tree"], {"var": "__builtins__"}), "is not one of the variables"),
    (_set(["regions", 0, "outputs", 0, "tree"], ["exp", 1e300]), "not a finite real number"),
    (_set(["regions", 0, "outputs", 0, "tree"], ["pow", {"var": "x0"}, 1000]), "exponent 1000 is out of range"),
    (_set(["regions", 0, "outputs", 0, "tree"], 12345678901234567890), "too large"),
    (_set(["format"], "pickle"), r"file\.format: expected 'symfx-equations'"),
    (_set(["version"], 3), r"file\.version: .*version 3; upgrade symfx"),
    (_set(["version"], 1), None),  # version 1 files (no fronts) still load
    (_set(["regions", 0, "outputs", 0, "front", 0, "tree"], ["system", 1]), r"outputs\[0\]\.front\[0\]\.tree: unknown"),
    (_set(["regions", 0, "outputs", 0, "front", 0, "safe"], "yes"), r"front\[0\]\.safe: expected true or false"),
    (_set(["regions", 0, "outputs", 0, "front", 0, "loss"], -1), r"front\[0\]\.loss: expected a non-negative"),
    (_set(["regions", 0, "outputs", 0, "front", 0, "eval"], "x"), r"front\[0\]: unknown field\(s\) \['eval'\]"),
    (_set(["regions", 0, "outputs", 0, "front"], [{"tree": 1}] * 300), r"outputs\[0\]\.front: expected 0\.\.256"),
    (_set(["version"], "1"), r"file\.version"),
    (_delete(["regions"]), r"file: missing field\(s\) \['regions'\]"),
    (_set(["extra"], 1), r"file: unknown field\(s\) \['extra'\]"),
    (_set(["regions"], {}), r"file\.regions: expected a list, got a object"),
    (_set(["regions", 0, "kind"], "conv"), r"regions\[0\]\.kind: expected one of \['row', 'elementwise'\]"),
    (_delete(["regions", 0, "outputs", 0, "tree"]), r"regions\[0\]\.outputs\[0\]: missing field"),
    (_set(["regions", 0, "variables"], ["x0", "x0"]), r"regions\[0\]\.variables: names repeat"),
    (_set(["regions", 0, "variables"], ["x0", "os.system"]), r"regions\[0\]\.variables\[1\]: .* not an identifier"),
    (_set(["regions", 0, "variables"], ["x0", 1]), r"regions\[0\]\.variables\[1\]: expected a string"),
    (_set(["regions", 0, "input_widths"], [3]), r"regions\[0\]\.variables: 2 variables for 3 input features"),
    (_set(["regions", 0, "name"], "mlp\x1b[2J"), r"regions\[0\]\.name: .* non-printable"),
    (_set(["regions", 0, "name"], "a" * 1000), r"regions\[0\]\.name: expected 1\.\.256 characters"),
    (_set(["regions", 0, "nodes"], []), r"regions\[0\]\.nodes: expected 1\.\."),
    (_set(["regions", 0, "output"], "linear"), r"regions\[0\]\.output: 'linear' is not one of the region's nodes"),
    (_set(["regions", 0, "input_widths"], [2, 2]), r"regions\[0\]\.input_widths: has 2 entries for 1 inputs"),
    (_set(["regions", 0, "input_widths"], [True]), r"regions\[0\]\.input_widths\[0\]: expected an integer"),
    (_set(["regions", 0, "out_features"], 3), r"regions\[0\]\.outputs: 2 equations for 3 output features"),
    (_set(["regions", 0, "nrmse"], -1), r"regions\[0\]\.nrmse: expected a non-negative number"),
    (_set(["regions", 0, "active"], "yes"), r"regions\[0\]\.active: expected true or false"),
    (_set(["regions", 0, "outputs", 0, "tree"], ["add", {"var": "x0"}, {"var": "x1"}]), None),  # valid edit
    (_set(["regions", 1, "projections", "in_basis"], [[0.6, 1.0], [0.8]]), r"in_basis\[1\]: rows differ"),
    (_set(["regions", 1, "projections", "in_basis"], [[0.6, 0.1], [0.8, 0.2]]),
     r"regions\[1\]\.projections: in_basis must be \[2, 1\]"),
    (_set(["regions", 1, "projections", "out_mean"], ["1", 2, 3]), r"out_mean: expected numbers, found a string"),
    (_delete(["regions", 1, "projections", "out_mean"]), "out_mean and out_basis come together"),
    (_set(["regions", 2, "projections"], {}), r"regions\[2\]\.projections: an elementwise region has no"),
    (_set(["regions", 2, "name"], "mlp"), "two regions have the same name"),
    (_set(["regions", 2, "nodes"], ["mlp_0", "relu"]), "node 'mlp_0' also belongs to 'mlp'"),
]


def _doc_with_two_outputs() -> dict[str, Any]:
    # region 0 with two outputs, so that outputs[1] exists for the messages above
    doc = base_doc()
    doc["regions"][0]["outputs"].append(copy.deepcopy(doc["regions"][0]["outputs"][0]))
    doc["regions"][0]["out_features"] = 2
    return doc


@pytest.mark.parametrize("edit, message", CRAFTED)
def test_crafted_file_is_refused_with_a_clear_message(edit: Callable[[dict[str, Any]], None], message: str | None) -> None:
    doc = _doc_with_two_outputs()
    edit(doc)
    text = json.dumps(doc)
    if message is None:
        parses(text)
        return
    with pytest.raises(LoadError, match=message):
        parses(text)


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nests deeper"),
    ('{"a": ' * 50_000 + "1" + "}" * 50_000, "nests deeper"),
    ('{"format": "symfx-equations", "version": 1, "regions": [' + "[" * 200 + "]" * 200 + "]}", "nests deeper"),
    ("1" * 5000, "4300 digits"),
    ('{"format": 1e999, "version": 1, "regions": []}', r"file\.format: expected 'symfx-equations', got inf"),
    ('{"format": NaN}', "NaN is not a number"),
    ('{"format": -Infinity}', "-Infinity is not a number"),
    ('{"format": "a", "format": "b"}', "key 'format' appears twice"),
    ('{"format": ', "not valid JSON"),
    ("", "not valid JSON"),
    ("null", "file: expected an object, got a null"),
    ('"[[[[["', r"file: expected an object, got a string"),
    (" " * (serialize.MAX_FILE_BYTES + 1), "larger than"),
])
def test_malicious_json_is_refused_before_it_can_hurt(text: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        parses(text)


def test_strings_with_brackets_do_not_count_as_nesting() -> None:
    doc = base_doc()
    doc["model"] = "[" * 150 + '\\"{' * 20
    assert parses(json.dumps(doc)).model == doc["model"]


def test_too_many_equation_nodes_in_one_file() -> None:
    doc = base_doc()
    big = ["add", *[["mul", 2, {"var": "x0"}, ["sin", {"var": "x1"}]]] * 250]  # ~1250 nodes each
    doc["regions"][0]["outputs"] = [{"tree": big}] * 200
    doc["regions"][0]["out_features"] = 200
    with pytest.raises(LoadError, match="more than 200000 nodes"):
        parses(json.dumps(doc))


def test_read_refuses_non_utf8_missing_and_huge_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(LoadError, match="not UTF-8"):
        serialize.read(bad)
    with pytest.raises(LoadError, match="cannot read"):
        serialize.read(tmp_path / "missing.json")
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (serialize.MAX_FILE_BYTES + 10))
    with pytest.raises(LoadError, match="larger than"):
        serialize.read(huge)
    bad.write_text(json.dumps({"format": "symfx-equations", "version": 1, "regions": [{"name": "a"}]}))
    with pytest.raises(LoadError, match=r"bad\.json: regions\[0\]: missing field"):
        serialize.read(bad)


CANARY = "symfx_canary_" + str(7731)  # built at run time: this file's own source never holds it


def forbid_code_from_text(monkeypatch: pytest.MonkeyPatch, end_to_end: bool = False) -> None:
    """Make pickle, parse_expr and sympify-of-a-string raise, and eval/exec too. ``end_to_end``:
    eval, exec and compile stay usable by the code around the loader (torch.fx compiles the
    Python it generates for every rewritten graph, dataclasses and imports generate code too),
    but raise on any source that holds :data:`CANARY`, which the test plants in the file's text."""
    import builtins
    import pickle

    import sympy.parsing.sympy_parser as sympy_parser

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the loader must not call this")

    def guard(real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(source: Any, *args: Any, **kwargs: Any) -> Any:
            text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
            if isinstance(text, str) and CANARY in text:
                raise AssertionError(f"text from the file reached {real.__name__}")
            return real(source, *args, **kwargs)
        return guarded

    sympify_module = sys.modules["sympy.core.sympify"]
    real_sympify = sympify_module.sympify

    def sympify_no_text(a: Any, *args: Any, **kwargs: Any) -> Any:
        assert not isinstance(a, str), "text reached sympify"
        return real_sympify(a, *args, **kwargs)

    for target, name in [(pickle, "loads"), (pickle, "load"), (sympy_parser, "parse_expr")]:
        monkeypatch.setattr(target, name, forbidden)
    for name in ("eval", "exec", "compile"):
        if end_to_end:
            monkeypatch.setattr(builtins, name, guard(getattr(builtins, name)))
        elif name != "compile":
            monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(sympify_module, "sympify", sympify_no_text)
    monkeypatch.setattr(sympy, "sympify", sympify_no_text)


def test_loading_never_evaluates_text(monkeypatch: pytest.MonkeyPatch) -> None:
    text = dumps(payload())
    forbid_code_from_text(monkeypatch)
    assert len(parses(text).regions) == 3


def test_load_and_apply_end_to_end_never_evaluate_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """symfx.load (read, trace, check, rewrite, first run), pipeline.load_model and choose() on a
    file whose every free-text field is a canary expression: the model must compute the trees."""
    doc = json.loads(dumps(net_payload()))
    doc["model"] = f"{CANARY}()"
    planted = 0

    def plant(node: Any) -> None:
        nonlocal planted
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    node[key] = f"{CANARY} + x0"
                    planted += 1
                else:
                    plant(value)
        elif isinstance(node, list):
            for value in node:
                plant(value)

    plant(doc)
    assert planted >= 4, "no text fields to plant the canary in"
    path = tmp_path / "eq.json"
    path.write_text(json.dumps(doc))
    X = torch.rand(16, 2)
    forbid_code_from_text(monkeypatch, end_to_end=True)
    sm = symfx.load(path, Net(), example_inputs=X[:4])
    torch.testing.assert_close(sm(X), torch.sin(X[:, :1]) * X[:, 1:] + 0.5)
    sm2 = load_model(serialize.read(path), Net())
    torch.testing.assert_close(sm2(X), sm(X))
    sm2.choose("mlp", complexity=1)  # rebuilding from the loaded front, too
    torch.testing.assert_close(sm2(X), X[:, 1:])
    sm2.report()


# --------------------------------------------------------------------------- SymbolicModule integration

class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x) * 2


class Wide(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.head(x))


def net_payload() -> Payload:
    return Payload(model="Net", regions=(region(),))


def wide_payload() -> Payload:
    proj = Projection(in_mean=np.array([0.1, -0.2]), in_basis=np.array([[0.6], [0.8]]),
                      out_mean=np.array([1.0, 2.0, 3.0]), out_basis=np.arange(6.0).reshape(3, 2) / 7)
    return Payload(model="Wide", regions=(region(
        name="head", nodes=("head_0", "head_1", "head_2"), inputs=("x",), output="head_2", out_features=3,
        variables=("p0",), module_paths=("head.0", "head.1", "head.2"),
        outputs=(equation(sympy.sin(p0)), equation(p0**2 - 1)), projection=proj),))


def test_apply_rewrites_the_model_with_the_saved_equations() -> None:
    torch.manual_seed(0)
    net, X = Net(), torch.rand(32, 2)
    before = copy.deepcopy(net.state_dict())
    sm = load_model(net_payload(), net, example_inputs=X[:4])
    want = torch.sin(X[:, :1]) * X[:, 1:] + 0.5
    torch.testing.assert_close(sm(X), want)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the user's model is untouched
    torch.testing.assert_close(sm.use_neural()(X), net(X))
    assert "x1*sin(x0)" in sm.report()


def test_save_load_gives_the_same_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net, X = Wide(), torch.randn(64, 2)
    sm = load_model(wide_payload(), net)
    z = (X.double() - torch.tensor([0.1, -0.2], dtype=torch.float64)) @ torch.tensor([[0.6], [0.8]], dtype=torch.float64)
    y = torch.cat([torch.sin(z), z**2 - 1], -1) @ (torch.arange(6.0, dtype=torch.float64).reshape(3, 2) / 7).T
    torch.testing.assert_close(sm(X), torch.relu(y + torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).float())
    path = tmp_path / "wide.json"
    sm.save(path)
    loaded = symfx.load(path, Wide(), example_inputs=X[:2])  # fresh weights: equations don't need them
    torch.testing.assert_close(loaded(X), sm(X), rtol=0, atol=0)
    assert [d.name for d in loaded.distilled] == ["head"]
    sm.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == path.read_text()


def test_inactive_regions_stay_neural_after_load(tmp_path: Path) -> None:
    net, X = Net(), torch.rand(8, 2)
    sm = load_model(net_payload(), net).use_neural("mlp")
    sm.save(tmp_path / "eq.json")
    loaded = symfx.load(tmp_path / "eq.json", net)
    torch.testing.assert_close(loaded(X), net(X))
    torch.testing.assert_close(loaded.use_symbolic()(X), torch.sin(X[:, :1]) * X[:, 1:] + 0.5)


def test_state_dict_round_trips_with_weights_only(tmp_path: Path) -> None:
    net, X = Wide(), torch.randn(8, 2)
    sm = load_model(wide_payload(), net)
    torch.save(sm.state_dict(), tmp_path / "sd.pt")
    other = load_model(wide_payload(), Wide())
    other.load_state_dict(torch.load(tmp_path / "sd.pt", weights_only=True))
    torch.testing.assert_close(other.use_neural()(X), net(X))
    torch.testing.assert_close(other.use_symbolic()(X), sm(X))


def test_load_into_a_different_architecture_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "eq.json"
    serialize.write(net_payload(), path)
    with pytest.raises(LoadError, match=r"regions\[0\] \('mlp'\): the model's graph has no node\(s\) \['mlp_0'"):
        symfx.load(path, Wide())
    sm = symfx.load(path, Wide(), strict=False)
    assert sm.distilled == [] and sm.skipped[0][0] == "mlp"


def test_load_checks_widths_against_example_inputs(tmp_path: Path) -> None:
    class Net3(Net):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))

    path = tmp_path / "eq.json"
    serialize.write(net_payload(), path)
    with pytest.raises(LoadError, match=r"inputs \['x'\] have \[3\] features, the file says \[2\]"):
        symfx.load(path, Net3(), example_inputs=torch.rand(4, 3))
    with pytest.raises(LoadError, match="failed on example_inputs"):
        symfx.load(path, Net(), example_inputs=torch.rand(4, 5))
    with pytest.raises(LoadError, match="needs the model"):
        symfx.load(path, "not a model")


# --------------------------------------------------------------------------- fuzz target, briefly

def test_fuzz_target_runs_briefly() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        import fuzz_load
    finally:
        sys.path.pop(0)
    stats = fuzz_load.fuzz(seconds=3.0, seed=0, out=io.StringIO())
    assert stats.cases > 50 and stats.failures == 0
    assert stats.accepted > 0 and stats.refused > 0


def test_float64_model_with_projections_loads_without_example_inputs() -> None:
    net, X = Wide().double(), torch.randn(4, 2, dtype=torch.float64)
    sm = load_model(wide_payload(), net)
    assert sm(X).dtype == torch.float64
    torch.testing.assert_close(sm(X), load_model(wide_payload(), net, example_inputs=X)(X))


def test_whole_front_is_saved_so_choose_works_after_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net, X = Net(), torch.rand(32, 2)
    sm = load_model(net_payload(), net, example_inputs=X[:4])
    assert [e.complexity for e in sm["mlp"].front[0]] == [1, 6, 11]
    sm.save(tmp_path / "eq.json")
    loaded = symfx.load(tmp_path / "eq.json", Net(), example_inputs=X[:4])
    assert [sympy.srepr(e.expr) for e in loaded["mlp"].front[0]] == [sympy.srepr(m.expr) for m in FRONT]
    assert [e.safe for e in loaded["mlp"].front[0]] == [True, True, False]
    torch.testing.assert_close(loaded(X), torch.sin(X[:, :1]) * X[:, 1:] + 0.5)
    d = loaded.choose("mlp", complexity=1)
    assert d.exprs == [x1] and d.output_nrmse == (0.6,)
    torch.testing.assert_close(loaded(X), X[:, 1:])
    loaded.choose("mlp", complexity=11)
    torch.testing.assert_close(loaded(X), torch.sin(X[:, :1]) * X[:, 1:] + 0.5 + X[:, :1] ** 2 / 1000)
    with pytest.raises(symfx.ChoiceError, match="no front member of complexity 4"):
        loaded.choose("mlp", complexity=4)
    # the choice is what gets saved next
    loaded.choose("mlp", complexity=1)
    loaded.save(tmp_path / "simple.json")
    assert serialize.read(tmp_path / "simple.json").regions[0].exprs == [x1]


def test_version_1_file_loads_with_its_equation_as_the_front(tmp_path: Path) -> None:
    doc = json.loads(dumps(net_payload()))
    doc["version"] = 1
    del doc["regions"][0]["outputs"][0]["front"]
    (tmp_path / "v1.json").write_text(json.dumps(doc))
    X = torch.rand(8, 2)
    loaded = symfx.load(tmp_path / "v1.json", Net(), example_inputs=X[:4])
    assert [e.complexity for e in loaded["mlp"].front[0]] == [6]
    torch.testing.assert_close(loaded(X), torch.sin(X[:, :1]) * X[:, 1:] + 0.5)
