"""Fuzz target for the equations loader: mutated files either load as valid data or raise LoadError.

    python bench/fuzz_load.py --seconds 30 [--seed 0] [--crashes DIR]

Never anything else: no other exception, no hang (each case has a time limit),
and whatever loads must be valid (names, variables, equations that save and load
back unchanged). Mutations work on three levels: bytes of a valid file, values
inside its JSON document, and expression trees built from the lowering table's
vocabulary (including number bombs and deep or wide trees). Failing inputs are
written to ``--crashes`` for reproduction with ``symfx.serialize.parses``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np
import sympy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from symfx import LoadError, lowering, serialize  # noqa: E402
from symfx.serialize import Payload  # noqa: E402
from symfx.tree import to_tree  # noqa: E402

CASE_SECONDS = 5.0  # one parse taking longer than this counts as a hang
x0, x1, p0 = sympy.symbols("x0 x1 p0")


@dataclass
class Stats:
    cases: int = 0
    accepted: int = 0
    refused: int = 0
    failures: int = 0
    slowest: float = 0.0


def _region_doc(name: str, kind: str, nodes: list[str], inputs: list[str], widths: list[int], output: str,
                out_features: int, variables: list[str], outputs: list[Any], **extra: Any) -> dict[str, Any]:
    """A region as the file holds it; ``outputs`` items are an expression or (expression, nrmse, front)."""
    docs = []
    for item in outputs:
        expr, nrmse, front = item if isinstance(item, tuple) else (item, None, ())
        doc: dict[str, Any] = {"tree": to_tree(expr), "nrmse": nrmse}
        if front:
            doc["front"] = [{"tree": to_tree(e), "loss": loss, "nrmse": err, "safe": safe}
                            for e, loss, err, safe in front]
        docs.append(doc)
    return {"name": name, "kind": kind, "nodes": nodes, "inputs": inputs, "input_widths": widths, "output": output,
            "out_features": out_features, "variables": variables, "outputs": docs, **extra}


def seeds() -> list[str]:
    """Valid files to mutate (each parsed and written back by the library, so they are canonical)."""
    proj = {"in_mean": [0.1, -0.2], "in_basis": [[0.6], [0.8]], "out_mean": [1.0, 2.0, 3.0],
            "out_basis": (np.arange(6.0).reshape(3, 2) / 7).tolist()}
    chosen = sympy.sin(x0) * x1 + sympy.Float(0.25)
    row = _region_doc(
        "mlp", "row", ["mlp_0", "mlp_1", "mlp_2"], ["x"], [2], "mlp_2", 2, ["x0", "x1"],
        [(chosen, 0.01, [(x1, 0.5, 0.7, True), (chosen, 1e-4, 0.01, True),
                         (sympy.sin(x0) * x1 + sympy.cos(x1) / 100, 1e-5, 0.009, False)]),
         sympy.exp(-x0**2) / (1 + x1**2) - sympy.pi * sympy.Max(x0, x1)],
        module_paths=["mlp"], nrmse=0.01)
    pca = _region_doc("head", "row", ["head_0", "head_1"], ["mlp_2"], [2], "head_1", 3, ["p0"],
                      [sympy.tanh(p0), sympy.sqrt(p0**2 + 1) * sympy.Rational(2, 3)], projections=proj)
    act = _region_doc("act", "elementwise", ["relu"], ["head_1"], [1], "relu", 1, ["x0"],
                      [sympy.Abs(x0) / 2 + x0 / 2], active=False)

    def file(regions: list[dict[str, Any]], model: str = "") -> str:
        doc = {"format": serialize.FORMAT, "version": serialize.VERSION, "model": model, "regions": regions}
        return serialize.dumps(serialize.parses(json.dumps(doc)))

    return [file([row, pca, act], "Net"), file([row]), file([])]


# --------------------------------------------------------------------------- value generators

OP_NAMES = sorted(lowering.OPS) + ["div", "sub", "eval", "__import__", "Symbol", ""]
NASTY_NUMBERS = [0, -0.0, 1, -1, 2**53, 2**53 + 1, -(2**63), 10**30, 1e-320, 5e-324, 1e300, -1e300, 1.7976931348623157e308,
                 64, 65, -65, 0.5, 1e-9, float("nan"), float("inf"), True, False]


def random_tree(rng: random.Random, depth: int, variables: list[str]) -> Any:
    if depth <= 0 or rng.random() < 0.25:
        choice = rng.random()
        if choice < 0.4:
            return {"var": rng.choice(variables + ["y", "__class__", ""])}
        if choice < 0.75:
            return rng.choice(NASTY_NUMBERS)
        if choice < 0.85:
            return {"const": rng.choice(["pi", "E", "I", "oo"])}
        return ["div", rng.randint(-10**18, 10**18), rng.choice([0, 1, 3, 2**53, 2**53 - 1, -2])]
    name = rng.choice(OP_NAMES)
    arity = lowering.OPS[name].arity if name in lowering.OPS and rng.random() < 0.85 else rng.randint(0, 3)
    if arity == -1:
        arity = rng.choice([2, 2, 3, 5, 300] if rng.random() < 0.05 else [2, 2, 3, 5])
    return [name, *[random_tree(rng, depth - 1, variables) for _ in range(arity)]]


def _size(tree: Any) -> int:
    return 1 + sum(_size(a) for a in tree[1:]) if isinstance(tree, list) else 1


def number_bomb(rng: random.Random) -> Any:
    base: Any = rng.choice([10, 2**53 - 1, ["div", 2**53 - 1, 2**53], 1e300, ["div", 1, 3]])
    for _ in range(rng.randint(1, 8)):
        kind = rng.random()
        if kind < 0.5:
            base = ["pow", base, rng.choice([64, 63, -64, ["div", 1, 3], 2])]
        elif kind < 0.8:
            base = ["mul", *[base] * (rng.randint(2, 256) if _size(base) < 50 else rng.randint(2, 4))]
        else:
            base = [rng.choice(["exp", "sinh", "cosh", "max", "add"]), base] + ([base] if rng.random() < 0.5 else [])
    return ["add", {"var": "x0"}, base]


def random_value(rng: random.Random, variables: list[str]) -> Any:
    kind = rng.randrange(12)
    if kind == 0:
        return random_tree(rng, rng.randint(1, 8), variables)
    if kind == 1:
        return number_bomb(rng)
    if kind == 2:
        deep: Any = {"var": "x0"}
        for _ in range(rng.choice([60, 64, 65, 66, 100])):
            deep = [rng.choice(["sin", "exp", "abs"]), deep]
        return deep
    if kind == 3:
        return rng.choice(NASTY_NUMBERS)
    if kind == 4:
        return rng.choice(["", "x0", "row", "elementwise", "a" * 300, "\x1b[31m", "x0 + 1", "\ud800"[:0] + "é", "0x"])
    if kind == 5:
        return None
    if kind == 6:
        return {}
    if kind == 7:
        return []
    if kind == 8:
        return [rng.choice(NASTY_NUMBERS) for _ in range(rng.randint(0, 6))]
    if kind == 9:
        return [[rng.random() for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(1, 3))]
    if kind == 10:
        return {"var": "x0", "const": "pi"}
    return [rng.choice(variables) for _ in range(rng.randint(0, 3))]


# --------------------------------------------------------------------------- mutators

def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


def mutate_document(rng: random.Random, text: str) -> str:
    doc = json.loads(text)
    variables = ["x0", "x1", "p0"]
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.6:
            parent[path[-1]] = random_value(rng, variables)
        elif action < 0.75:
            del parent[path[-1]]
        elif action < 0.85 and isinstance(parent, dict):
            parent[rng.choice(["extra", "tree", "name", "__proto__", "text"])] = random_value(rng, variables)
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            small = len(text) < 20_000
            parent[path[-1]] = copy.deepcopy(doc) if small and rng.random() < 0.3 else random_value(rng, variables)
    return json.dumps(doc, allow_nan=True)


def mutate_bytes(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 8)):
        if not chars:
            chars = list("{}")
        i = rng.randrange(len(chars))
        action = rng.random()
        if action < 0.3:
            chars[i] = rng.choice('[]{}",:0123456789-eE.\\ntrufalsN\x00é')
        elif action < 0.5:
            del chars[i:i + rng.randint(1, 20)]
        elif action < 0.7:
            j = rng.randrange(len(chars))
            chars[i:i] = chars[j:j + rng.randint(1, 200)]
        elif action < 0.8:
            chars[i:i] = list(rng.choice(["9" * rng.randint(20, 6000), "1e99999", "NaN", "-Infinity", "[" * 5000,
                                          '{"a":' * 300, "\\u0000", "\\ud800", '"tree":', "1" * 4301]))
        else:
            chars[i:i] = list(rng.choice(['["system",{"var":"x0"}]', '["pow",["pow",10,64],64]', '{"var":"os"}']))
    return "".join(chars)


def mutate_tree(rng: random.Random, text: str) -> str:
    doc = json.loads(text)
    regions = doc.get("regions") or []
    if not regions:
        return mutate_document(rng, text)
    region = rng.choice(regions)
    out = rng.choice(region["outputs"])
    out["tree"] = number_bomb(rng) if rng.random() < 0.3 else random_tree(rng, rng.randint(1, 10), region["variables"])
    return json.dumps(doc, allow_nan=True)


MUTATORS: list[Callable[[random.Random, str], str]] = [mutate_document, mutate_bytes, mutate_tree]


# --------------------------------------------------------------------------- checks

class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang()


def check_payload(payload: Payload) -> None:
    """What the loader returns must be valid: names, symbols, and a stable save/load round trip."""
    assert isinstance(payload, Payload)
    for region in payload.regions:
        assert region.kind in serialize.KINDS and region.region.output in region.nodes
        names = set(region.variables)
        for expr in list(region.exprs) + [m.expr for front in region.front for m in front]:
            assert isinstance(expr, sympy.Expr)
            assert {s.name for s in expr.free_symbols} <= names
            assert not expr.has(sympy.I, sympy.zoo, sympy.nan, sympy.oo)
    again = serialize.parses(serialize.dumps(payload))
    for a, b in zip(payload.regions, again.regions):
        assert [sympy.srepr(e) for e in a.exprs] == [sympy.srepr(e) for e in b.exprs]


def run_case(text: str) -> tuple[str, float, str]:
    """("accepted" | "refused" | "failure", seconds, detail)."""
    use_alarm = hasattr(signal, "SIGALRM") and _main_thread()
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    start = time.perf_counter()
    try:
        payload = serialize.parses(text)
        check_payload(payload)
        return "accepted", time.perf_counter() - start, ""
    except LoadError as exc:
        message = str(exc)
        if not message or len(message) > 2000:
            return "failure", time.perf_counter() - start, f"LoadError with an unhelpful message ({len(message)} chars)"
        return "refused", time.perf_counter() - start, message
    except _Hang:
        return "failure", time.perf_counter() - start, f"hang: no answer within {CASE_SECONDS} s"
    except BaseException as exc:  # noqa: BLE001 - anything else is exactly what we hunt
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "failure", time.perf_counter() - start, f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def fuzz(seconds: float = 30.0, seed: int = 0, crashes: str | None = None, out: TextIO = sys.stdout) -> Stats:
    """Mutate valid files for ``seconds``; report failures (and write them to ``crashes``)."""
    rng = random.Random(seed)
    corpus = seeds()
    stats = Stats()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = rng.choice(corpus)
        for _ in range(rng.choice([1, 1, 2, 3])):
            if len(text) > 2 * 2**20:
                break  # big enough; the size limit itself is tested separately
            try:
                text = rng.choice(MUTATORS)(rng, text)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError):
                break  # a byte-level mutation broke the JSON: keep the text as it is
        verdict, elapsed, detail = run_case(text)
        stats.cases += 1
        if elapsed > stats.slowest:
            stats.slowest = elapsed
            if crashes and elapsed > 1.0:  # slow but not hung: keep it for profiling
                os.makedirs(crashes, exist_ok=True)
                Path(crashes, f"slow-{seed}.json").write_text(text, encoding="utf-8", errors="replace")
        if verdict == "accepted":
            stats.accepted += 1
            if len(corpus) < 64 and len(text) < 20_000:
                corpus.append(text)  # valid variants make good parents
        elif verdict == "refused":
            stats.refused += 1
        else:
            stats.failures += 1
            print(f"FAILURE {detail}\n  input ({len(text)} chars): {text[:300]!r}", file=out)
            if crashes:
                os.makedirs(crashes, exist_ok=True)
                Path(crashes, f"crash-{seed}-{stats.cases}.json").write_text(text, encoding="utf-8", errors="replace")
    print(f"fuzz_load: {stats.cases} cases in {seconds:.0f} s, {stats.accepted} loaded, {stats.refused} refused, "
          f"{stats.failures} failures, slowest {stats.slowest * 1000:.0f} ms", file=out)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crashes", default=None, help="folder for failing inputs")
    args = parser.parse_args(argv)
    stats = fuzz(args.seconds, args.seed, args.crashes)
    return 1 if stats.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
