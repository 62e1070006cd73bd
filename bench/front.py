"""Read one discovery law's front: every member's error vs the network and vs the true law.

A miss in ``bench/discovery.py`` is either a search gap (the law is on no front member) or a
selection gap (it is on the front and the knee rule chose another member). This prints the front
of each named law so the two can be told apart (networks come from the same cache as discovery):

    .venv/bin/python bench/front.py random-s0-044,random-s0-035
    .venv/bin/python bench/front.py nguyen-5 --time-budget 10
    .venv/bin/python bench/front.py livermore-14 --engine-options '{"max_terms": 5}'
    .venv/bin/python bench/front.py nguyen-6 --accuracy 0.001
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import laws as law_families  # noqa: E402
import recovery  # noqa: E402
from discovery import ALL_FAMILIES, ITERS, WIDTH  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", help="comma-separated law names, e.g. random-s0-044,nguyen-5")
    ap.add_argument("--time-budget", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engine-options", default="{}", help="JSON dict passed as Config.engine_options")
    ap.add_argument("--accuracy", type=float, default=None, metavar="NRMSE",
                    help="the network trained to this normalized RMSE vs its law, as discovery.py's --accuracy")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="symfx: no region was replaced")
    by_name = {law.name: law for fam in ALL_FAMILIES for law in law_families.laws_of(fam, args.seed, 100)}
    for name in args.names.split(","):
        if name not in by_name:
            ap.error(f"no law named {name!r}")
        law = by_name[name]
        target = args.accuracy or law_families.accuracy_target(law.name)
        model, net_err = recovery.train_mlp(law, args.seed, width=WIDTH, iters=ITERS, target=target)
        sm, seconds = recovery.compile_law(model, law, {"time_budget": args.time_budget, "cache_dir": "",
                                                         "engine_options": json.loads(args.engine_options)}, args.seed)
        print(f"== {name}: {law.expr}  box {law.box}  network {net_err:.4f} off the law  ({seconds:.1f} s)")
        for d in sm.distilled:
            print(f"   {d.status}: {d.note or ''} {[str(e) for e in d.exprs]}")
            for front in d.front:
                for m in front:
                    print(f"   c={m.complexity:3d}  vs network {m.nrmse:.4f}  vs law {recovery.judge(m.expr, law, args.seed):.4f}"
                          f"  {str(m.expr)[:100]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
