"""Turn the benchmark session's measurements into bench/results/perf.json, tables and a PNG plot.

Called by bench/conftest.py at the end of ``make bench``; run it by hand
(``.venv/bin/python bench/perf.py``) to reprint the tables and redraw the plot from
the last perf.json.

Ratios, not seconds: for each (model, rows) the three variants ran one after the other
in the same session, so their ratio is what survives a noisy or shared machine.
"""
from __future__ import annotations

import json
import os
from typing import Any

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")


def machine() -> dict[str, Any]:
    from bench_machine import machine as describe

    info: dict[str, Any] = describe()
    info.update(logical_cores=info["cores"], load_avg=info["load"])  # the keys perf.json has always used
    try:
        info["vec_isa"] = str(torch._inductor.cpu_vec_isa.pick_vec_isa())  # type: ignore[attr-defined]
    except Exception:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _ratios(speed: list[dict[str, Any]], key: str = "median_s") -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in speed:
        groups.setdefault((r["model"], r["rows"]), {})[r["variant"]] = r
    rows = []
    for (model, n), g in sorted(groups.items()):
        row: dict[str, Any] = {"model": model, "rows": n}
        sym = g.get("symfx")
        for base in ("eager", "compiled"):
            if sym and base in g:
                row[f"{base}_over_symfx"] = g[base][key] / sym[key]
        simd = g.get("symfx_simd")
        if simd and "compiled" in g:
            row["compiled_over_symfx_simd"] = g["compiled"][key] / simd[key]
        if "eager" in g and "compiled" in g:
            row["eager_over_compiled"] = g["eager"][key] / g["compiled"][key]
        if sym and "copy" in g:
            row["bytes"] = sym["bytes"]
            row["symfx_GBps"] = sym["bytes"] / sym[key] / 1e9
            row["copy_GBps"] = g["copy"]["bytes"] / g["copy"][key] / 1e9
            row["bandwidth_fraction"] = g["copy"][key] / sym[key]
            if simd:
                row["bandwidth_fraction_simd"] = g["copy"][key] / simd[key]
        if sym and "clone" in g:
            # against a copy that allocates its output each call, as the forward does
            row["clone_GBps"] = g["clone"]["bytes"] / g["clone"][key] / 1e9
            row["bandwidth_fraction_alloc"] = g["clone"][key] / sym[key]
            if simd:
                row["bandwidth_fraction_alloc_simd"] = g["clone"][key] / simd[key]
        if sym and "nrmse_vs_model" in sym:
            row["nrmse_vs_model"] = sym["nrmse_vs_model"]
        rows.append(row)
    return rows


def write(results: dict[str, Any], out_dir: str = RESULTS_DIR) -> str:
    os.makedirs(out_dir, exist_ok=True)
    data = {k: v for k, v in results.items()}
    data["machine"] = machine()
    data["ratios"] = _ratios(results.get("speed", []))
    data["ratios_min"] = _ratios(results.get("speed", []), "min_s")
    dev = results.get("session", {}).get("device", "cpu")
    suffix = "" if dev == "cpu" else "_" + dev.split(":")[0]
    path = os.path.join(out_dir, f"perf{suffix}.json")
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, default=float)
    try:
        plot(data, os.path.join(out_dir, f"perf{suffix}.png"))
    except ImportError:  # matplotlib is in the dev extra; the JSON is the record
        pass
    return path


def load(path: str = os.path.join(RESULTS_DIR, "perf.json")) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def _fmt(x: Any, spec: str = ".2f") -> str:
    width = int(spec.split(".")[0] or 0)
    return "-".rjust(width) if x is None else format(x, spec)


def machine_line(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    s = data.get("session", {})
    load = s.get("load_start") or m.get("load_avg") or (0, 0, 0)
    end = s.get("load_end") or load
    thp = {True: ", THP allocator on", False: ", THP allocator off"}.get(s.get("thp_alloc"), "")
    return (f"{m.get('cpu', '?')}, {m.get('usable_cores', '?')} cores usable, torch {m.get('torch', '?')}, "
            f"device {s.get('device', 'cpu')}, {s.get('threads', '?')} thread(s){thp}, "
            f"load avg {load[0]:.1f} at start / {end[0]:.1f} at end")


def tables(data: dict[str, Any]) -> str:
    out = ["", "symfx benchmark — " + machine_line(data), ""]
    rat = data.get("ratios", [])
    if rat:
        out.append("speed-up of symfx+torch.compile (median time ratios; >1 means symfx is faster)")
        out.append("symfx: torch.compile(sm); sm.compile: SymbolicModule.compile(), with the Inductor options symfx picks "
                   "(SIMD for exp/sin/..., one loop for several outputs; backend='symfx' picks the same)")
        out.append("GB/s: inputs read + outputs written per second; 'of copy': time of a torch copy of the same bytes "
                   "into an owned buffer / symfx time; 'of clone': the same against a copy that allocates its output")
        out.append(f"{'model':20s} {'rows':>6s} {'eager/symfx':>11s} {'compile/symfx':>13s} {'compile/sm.compile':>18s} "
                   f"{'symfx GB/s':>10s} {'copy GB/s':>9s} {'clone GB/s':>10s} {'of copy':>7s} {'of clone':>8s} "
                   f"{'sm.compile of copy':>18s} {'sm.compile of clone':>19s}")

        def pct(r: dict[str, Any], k: str, width: int) -> str:
            return f"{100 * r[k]:{width - 1}.0f}%" if k in r else "-".rjust(width)

        for r in rat:
            out.append(f"{r['model']:20s} {r['rows']:6.0e} {_fmt(r.get('eager_over_symfx'), '11.1f')} "
                       f"{_fmt(r.get('compiled_over_symfx'), '13.1f')} {_fmt(r.get('compiled_over_symfx_simd'), '18.1f')} "
                       f"{_fmt(r.get('symfx_GBps'), '10.2f')} {_fmt(r.get('copy_GBps'), '9.2f')} {_fmt(r.get('clone_GBps'), '10.2f')} "
                       f"{pct(r, 'bandwidth_fraction', 7)} {pct(r, 'bandwidth_fraction_alloc', 8)} "
                       f"{pct(r, 'bandwidth_fraction_simd', 18)} {pct(r, 'bandwidth_fraction_alloc_simd', 19)}")
    models = data.get("models", {})
    if models:
        out += ["", "distilled equations used above"]
        for name, m in models.items():
            eqs = "; ".join(m.get("equations", [])) or f"(none: {m.get('skipped')})"
            out.append(f"  {name}: {eqs[:150]}")
    dist = data.get("distill", [])
    if dist:
        out += ["", "distillation cost of symfx.compile (SR time_budget 1 s/output is a target: count-bounded "
                "families and polishing stop at their safety nets, 2 x max(budget, 2 s))",
                f"{'model':14s} {'inputs':>6s} {'outputs':>7s} {'rows kept':>9s} {'calib rows':>10s} {'total s':>8s} "
                f"{'s/output':>8s} {'SR budget':>9s} {'peak MiB':>9s}"]
        for d in dist:
            out.append(f"{d['model']:14s} {d['inputs']:6d} {d['outputs']:7d} {d['max_samples']:9d} {d['calibration_rows']:10d} "
                       f"{d['seconds']:8.1f} {d['seconds_per_output']:8.1f} {d['sr_budget_s']:9.1f} {d['peak_rss_mib']:9.0f}")
    rec = data.get("record", [])
    if rec:
        out += ["", "recording overhead: RecordingInterpreter pass / plain forward (same batches)",
                f"{'model':14s} {'batch rows':>10s} {'NaN checks':>10s} {'plain ms':>9s} {'fx.Interp ms':>12s} "
                f"{'record ms':>10s} {'overhead':>9s}"]
        for r in rec:
            out.append(f"{r['model']:14s} {r['batch_rows']:10d} {r.get('checks', 'arrival'):>10s} {1e3 * r['plain_s']:9.2f} "
                       f"{1e3 * r['interpreter_s']:12.2f} {1e3 * r['record_s']:10.2f} {r['overhead']:8.2f}x")
    return "\n".join(out)


def plot(data: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed = data.get("speed", [])
    models = sorted({r["model"] for r in speed})
    if not models:
        return
    # top row: one panel per model (times); bottom row: speed-ups and bandwidth, each half wide
    cols = max(2, len(models) + len(models) % 2)
    fig = plt.figure(figsize=(4.2 * cols, 8.4))
    grid = fig.add_gridspec(2, cols)
    axes = [fig.add_subplot(grid[0, i]) for i in range(len(models))]
    axes += [fig.add_subplot(grid[1, : cols // 2]), fig.add_subplot(grid[1, cols // 2:])]
    styles = {"eager": ("tab:gray", "o"), "compiled": ("tab:blue", "s"), "symfx": ("tab:red", "^"), "symfx_simd": ("tab:orange", "v"),
              "copy": ("black", ""), "clone": ("dimgray", "")}
    for ax, model in zip(axes, models):
        for variant, (color, marker) in styles.items():
            pts = sorted((r["rows"], r["median_s"]) for r in speed if r["model"] == model and r["variant"] == variant)
            if pts:
                label = {"compiled": "torch.compile", "symfx": "symfx, torch.compile(sm)",
                         "copy": "copy, same bytes", "clone": "clone (allocates), same bytes",
                         "symfx_simd": "symfx, sm.compile()"}.get(variant, variant)
                ax.loglog([p[0] for p in pts], [p[1] * 1e3 for p in pts], marker=marker or None, color=color,
                          linestyle={"copy": "--", "clone": ":"}.get(variant, "-"), label=label)
        ax.set_title(model)
        ax.set_xlabel("rows")
        ax.set_ylabel("ms per call (median)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    colors = dict(zip(models, ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]))
    ratios = data.get("ratios", [])

    def series(model: str, key: str) -> tuple[list[int], list[float]]:
        pts = sorted((r["rows"], r[key]) for r in ratios if r["model"] == model and key in r)
        return [p[0] for p in pts], [p[1] for p in pts]

    ax = axes[-2]
    for model in models:
        for key, style in (("compiled_over_symfx", ":"), ("compiled_over_symfx_simd", "-")):
            xs, ys = series(model, key)
            if xs:
                ax.semilogx(xs, ys, marker="o", linestyle=style, color=colors[model],
                            label=model if style == "-" else None)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_title("speed-up vs torch.compile\n(solid: sm.compile(), dotted: torch.compile(sm))", fontsize=9)
    ax.set_xlabel("rows")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax = axes[-1]
    for model in models:
        for key, style in (("bandwidth_fraction_simd", "-"), ("bandwidth_fraction_alloc_simd", ":")):
            xs, ys = series(model, key)
            if xs:
                ax.semilogx(xs, [100 * y for y in ys], marker="o", linestyle=style, color=colors[model],
                            label=model if style == "-" else None)
    ax.axhline(50, color="black", linewidth=0.8)
    ax.set_title("sm.compile() bandwidth, % of a torch copy\n(solid: into owned buffer, dotted: allocating clone)",
                 fontsize=9)
    ax.set_xlabel("rows")
    ax.set_ylabel("%")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("symfx — " + machine_line(data), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    d = load()
    plot(d, os.path.join(RESULTS_DIR, "perf.png"))
    print(tables(d))
