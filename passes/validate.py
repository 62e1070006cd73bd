"""Validate pass: keep a rewrite only if the whole model's output stays within tolerance."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch.utils._pytree import tree_leaves


@dataclass
class Validation:
    accepted: list[str]
    rejected: dict[str, str] = field(default_factory=dict)  # region → reason
    model_nrmse: float = 0.0  # whole-model output error with every accepted rewrite on
    single_nrmse: dict[str, float] = field(default_factory=dict)  # each region alone


def output_nrmse(reference: Sequence[Any], candidate: Sequence[Any]) -> float:
    """Largest normalized RMSE over all floating tensors of the outputs of several batches.

    Only entries where the reference is finite count (the record pass drops non-finite rows
    too); a candidate that is not finite where the reference is gives ``inf``.
    """
    worst = 0.0
    for ref_out, new_out in zip(reference, candidate):
        for ref, new in zip(tree_leaves(ref_out), tree_leaves(new_out)):
            if not isinstance(ref, torch.Tensor) or not ref.is_floating_point():
                continue
            ref64, new64 = ref.detach().double(), new.detach().double()
            if ref64.shape != new64.shape:
                return float("inf")
            finite = torch.isfinite(ref64)  # where the network itself gives NaN/Inf there is nothing to match
            if not finite.all():
                ref64, new64 = ref64[finite], new64[finite]
                if ref64.numel() == 0:
                    continue
            err = torch.sqrt(torch.mean((new64 - ref64) ** 2)).item()
            scale = ref64.std().item() if ref64.numel() > 1 else 0.0
            scale = scale if scale > 1e-12 else max(ref64.abs().max().item(), 1e-12)
            value = err / scale
            worst = max(worst, value if value == value else float("inf"))
    return worst


def validate(
    regions: Sequence[str],
    run: Callable[[frozenset[str]], list[Any]],
    tolerance: float,
) -> Validation:
    """``run(enabled)`` returns the model outputs on the validation batches with those rewrites on."""
    reference = run(frozenset())
    result = Validation(accepted=[])
    for name in regions:
        err = output_nrmse(reference, run(frozenset({name})))
        result.single_nrmse[name] = err
        if err <= tolerance:
            result.accepted.append(name)
        else:
            result.rejected[name] = f"model output nrmse {err:.3g} > tolerance {tolerance:g} with this rewrite alone"
    # errors add up: drop the worst single offenders until all together pass
    while result.accepted:
        err = output_nrmse(reference, run(frozenset(result.accepted)))
        result.model_nrmse = err
        if err <= tolerance:
            break
        worst = max(result.accepted, key=lambda n: result.single_nrmse[n])
        result.accepted.remove(worst)
        result.rejected[worst] = f"model output nrmse {err:.3g} > tolerance {tolerance:g} together with the others"
    else:
        result.model_nrmse = 0.0
    return result
