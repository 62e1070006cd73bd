"""The ``symfx`` command line: ``symfx demo [springs|gravity|heat|all|llm-arithmetic] [--seed N] [--quick] [--msg-dim K [--prune]]``."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

DEMO_NAMES = ("springs", "gravity", "heat")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symfx", description="symfx: distil trained PyTorch models into equations.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="recover physical laws from trained networks (GNN n-body forces, PINN heat equation)",
        description="Train a network on simulated physics, distil it with symfx.compile, and compare the "
                    "recovered equations with the true law (extrapolation error) and the speed under torch.compile.",
    )
    demo.add_argument("which", nargs="?", default="all", choices=DEMO_NAMES + ("all", "llm-arithmetic"),
                      help="which demo to run (default: all physics demos); llm-arithmetic distils what "
                           "SmolLM2-135M computes for arithmetic prompts (needs the llm extra: make llm)")
    demo.add_argument("--seed", type=int, default=0, help="seed for data, training and search (default 0)")
    speed = demo.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="less training and search (about a minute per demo), no timing")
    speed.add_argument("--slow", action="store_true", help="more training, for tighter constants")
    demo.add_argument("--msg-dim", type=int, default=2, metavar="K",
                      help="GNN message width: 2 is the bottleneck (default); K>2 trains with L1 on the messages "
                           "and distils their top 2 principal components (pca_out=2)")
    demo.add_argument("--prune", action="store_true",
                      help="with --msg-dim K>2: train with symfx.OutputPruner masking the edge MLP's outputs down "
                           "to 2 (instead of L1) and distil the two that remain")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.add_argument("--n", type=int, default=120, help="llm-arithmetic: prompts per task (default 120)")
    demo.add_argument("--time-budget", type=float, default=8.0, help="llm-arithmetic: SR seconds per task (default 8)")
    demo.add_argument("--fresh", action="store_true",
                      help="llm-arithmetic: generate every reply again instead of reusing bench/results/llm_arithmetic_replies.json")
    return parser


def run_demos(names: Sequence[str], seed: int = 0, quick: bool = False, slow: bool = False,
              progress: bool = True, msg_dim: int = 2, prune: bool = False) -> int:
    """Run the named demos, print each result; return 0 if every law was recovered, 1 otherwise."""
    # heavy imports only here, so that `symfx --help` stays instant
    from .demos.runner import DEMOS, format_result

    start = time.perf_counter()
    results = []
    for name in names:
        extra = {"msg_dim": msg_dim, "prune": prune} if name != "heat" else {}
        res = DEMOS[name](seed=seed, quick=quick, slow=slow, progress=progress,
                          log=lambda s: print(s, flush=True), **extra)
        print(format_result(res), flush=True)
        print(flush=True)
        results.append(res)
    failed = [r.name for r in results if not r.ok]
    total = time.perf_counter() - start
    print(f"symfx demo: {len(results) - len(failed)}/{len(results)} laws recovered in {total:.0f} s (seed {seed}).")
    if failed:
        print(f"symfx demo: NOT recovered: {', '.join(failed)}. The verdict lines above say which check failed; "
              "try another --seed, or --slow for more training.", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo" and args.which == "llm-arithmetic":
        from .demos.llm_arithmetic import run

        return run(n=args.n, seed=args.seed, time_budget=args.time_budget, log=lambda s: print(s, flush=True),
                   fresh=args.fresh)
    if args.command == "demo":
        names = DEMO_NAMES if args.which == "all" else (args.which,)
        if args.msg_dim < 2:
            _parser().error("--msg-dim must be at least 2 (the spatial dimension)")
        return run_demos(names, seed=args.seed, quick=args.quick, slow=args.slow, progress=not args.no_progress,
                         msg_dim=args.msg_dim, prune=args.prune)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
