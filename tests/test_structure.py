"""The shape of the code (issue #12), checked so it stays: one installed package, no import cycles,
modules of bounded size, ``symfx.backend`` a plain function, the backend found without importing symfx."""
from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: installed module name -> source file; passes/ installs as symfx.passes
SOURCES = {
    **{".".join(("symfx", *p.relative_to(ROOT / "symfx").with_suffix("").parts)): p
       for p in (ROOT / "symfx").rglob("*.py")},
    **{".".join(("symfx", "passes", *p.relative_to(ROOT / "passes").with_suffix("").parts)): p
       for p in (ROOT / "passes").rglob("*.py")},
}
SOURCES = {name.removesuffix(".__init__"): path for name, path in SOURCES.items()}
MAX_LINES = 520  # "no module over ~500 lines"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str, path: Path) -> set[str]:
    """symfx modules imported anywhere in ``path`` (also inside functions), except under TYPE_CHECKING."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from . import serialize` names a module
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name in SOURCES and name != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return out


def test_no_import_cycles_among_symfx_modules():
    graph = {name: _imports(name, path) for name, path in SOURCES.items()}
    assert graph["symfx.pipeline"] >= {"symfx.passes.fit", "symfx.module"}  # the check sees real edges
    assert _cycles(graph) == []


def test_the_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_passes_import_only_the_core():
    core = {"symfx", "symfx.config", "symfx.lowering", "symfx.tree", "symfx.errors", "symfx.engines",
            "symfx.engines.base"}
    for name, path in SOURCES.items():
        if name.startswith("symfx.passes."):
            assert _imports(name, path) <= core, (name, _imports(name, path) - core)


def test_one_driver_runs_the_passes():
    """Only pipeline.py sequences passes; entry points call it (no copy of a pipeline step elsewhere)."""
    runs_passes = {name for name, path in SOURCES.items()
                   if {"symfx.passes.record", "symfx.passes.validate"} & _imports(name, path)}
    assert runs_passes == {"symfx.pipeline"}


def test_modules_stay_small():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in SOURCES.items()}
    assert max(sizes.values()) <= MAX_LINES, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_backend_is_a_plain_function():
    import symfx
    import symfx.dynamo

    assert inspect.isfunction(symfx.backend) and symfx.backend is symfx.dynamo.backend
    assert callable(symfx.backend(time_budget=1.0))


def test_installed_layout_and_backend_without_importing_symfx(tmp_path):
    """In a fresh interpreter outside the checkout: `import symfx.passes` works, a bare `passes` does
    not resolve, importing symfx imports neither torch nor sympy, and the entry point Dynamo reads
    names the backend without symfx being imported first; a fit job (what a pool or Dask
    worker runs) imports neither torch nor scikit-learn unless its GP stage runs."""
    script = """
import importlib.util, json, sys
out = {"bare_passes": importlib.util.find_spec("passes") is not None}
import symfx
out["heavy_at_import"] = sorted(m for m in ("torch", "sympy", "numpy") if m in sys.modules)
import numpy as np
from symfx.config import Config
from symfx.executors import FitJob, run_fit_job
X = np.linspace(-1, 1, 64).reshape(-1, 1)
config = Config(time_budget=5, engine_options={"gp": False})
result = run_fit_job(FitJob("r", 0, X, 3 * X[:, 0] ** 2, ("x0",), config))
out["job"] = [result.error, [str(c.expr) for c in result.front]]
out["heavy_in_job"] = sorted(m for m in ("torch", "sklearn") if m in sys.modules)
import symfx.passes.fit
out["passes_file"] = symfx.passes.fit.__file__
del sys.modules["symfx"]
for name in [m for m in sys.modules if m.startswith("symfx")]:
    del sys.modules[name]
# what torch._dynamo.backends.registry does for a name it does not know (importing Dynamo itself
# here would add 5 s; test_backend looks the name up through Dynamo in-process)
from importlib.metadata import entry_points
(entry,) = entry_points(group="torch_dynamo_backends", name="symfx")
fn = entry.load()
out["backend"] = f"{fn.__module__}.{fn.__name__}"
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["bare_passes"] is False
    assert out["heavy_at_import"] == []
    assert out["job"][0] is None and "3*x0**2" in out["job"][1] and out["heavy_in_job"] == []
    assert Path(out["passes_file"]).parent == ROOT / "passes"
    assert out["backend"] == "symfx.dynamo.symfx_backend"


@pytest.mark.parametrize("module", ["symfx._version", "symfx.errors"])
def test_leaf_modules_import_nothing_from_symfx(module):
    assert _imports(module, SOURCES[module]) == set()


def test_no_module_shadows_a_lazily_exported_name():
    """Importing ``symfx.x`` binds the package attribute ``x`` to the module: a module named like an
    exported function (``explain``, ``backend``) would replace the function after first use."""
    import symfx

    modules = {name.split(".")[1] for name in SOURCES if name.count(".") >= 1}
    assert not modules & set(symfx.__all__), modules & set(symfx.__all__)
