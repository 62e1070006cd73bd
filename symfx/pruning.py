"""Progressive output pruning: while a model trains, mask a block's least important output
dimensions on a schedule until ``target_dim`` remain.

This is how a wide GNN message (16 numbers) is made to carry only the few that matter (the force
components), so that symbolic regression sees a small, meaningful output. The mask is a buffer of
the pruned module (``symfx_output_mask``: part of ``state_dict``, so it survives save/load) and a
forward hook multiplies the module's output by it, so masked outputs are exactly zero. The hook is
part of the module (it survives ``copy.deepcopy`` and ``torch.fx`` traces it), so
``symfx.compile`` sees the masked dimensions as constant zero columns: the fit pass returns ``0``
for them without a search, and ``sm.report()`` lists which dimensions were pruned.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn

from .errors import CalibrationError, ConfigError

__all__ = ["OutputPruner", "MASK_BUFFER", "pruned_dims"]

#: the name of the mask buffer on the pruned module
MASK_BUFFER = "symfx_output_mask"
SCHEDULES = ("exp", "linear", "cosine")
SCORES = ("variance", "mean_abs")


def _apply_mask(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    # reads the mask from the module it is called for, so deep copies mask with their own buffer
    return output * getattr(module, MASK_BUFFER)


class OutputPruner:
    """Mask ``module``'s least important output dimensions on a schedule, during training.

    ``pruner.step(step, sample_inputs)`` once per training step: at the schedule's points it scores
    the still-active output dimensions on ``sample_inputs`` (fed to ``module``; or, when omitted,
    on the outputs the module produced in its last forward pass) and masks the lowest until the
    schedule's count is reached. The count falls from the module's output width to ``target_dim``
    by ``end_fraction * total_steps``, along ``schedule``:

    * ``"exp"``: ``target + (width - target) * exp(-5 p)`` (most dimensions go early),
    * ``"linear"``: a straight line, ``"cosine"``: half a cosine, slow at both ends;

    with ``p = step / (end_fraction * total_steps)``, clipped to 1. ``score`` ranks dimensions by
    their ``"variance"`` over the sample (default) or their ``"mean_abs"`` value.
    """

    def __init__(self, module: nn.Module, target_dim: int, total_steps: int, end_fraction: float = 0.5,
                 schedule: str = "exp", score: str = "variance", width: int | None = None):
        if not isinstance(module, nn.Module):
            raise ConfigError(f"OutputPruner prunes an nn.Module's outputs, got {type(module).__name__}.")
        if hasattr(module, MASK_BUFFER):
            raise ConfigError("this module already has an OutputPruner (its symfx_output_mask buffer exists).")
        width = width if width is not None else _out_features(module)
        if width is None:
            raise ConfigError(f"cannot tell how many outputs {type(module).__name__} has; pass width=.")
        if isinstance(target_dim, bool) or not isinstance(target_dim, int) or not 1 <= target_dim < width:
            raise ConfigError(f"target_dim must be an integer in 1..{width - 1} (the module has {width} outputs), "
                              f"got {target_dim!r}.")
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ConfigError(f"total_steps must be a positive integer, got {total_steps!r}.")
        if not 0.0 < end_fraction <= 1.0:
            raise ConfigError(f"end_fraction must lie in (0, 1], got {end_fraction!r}.")
        if schedule not in SCHEDULES:
            raise ConfigError(f"schedule={schedule!r} is not known; use one of {list(SCHEDULES)}.")
        if score not in SCORES:
            raise ConfigError(f"score={score!r} is not known; use one of {list(SCORES)}.")
        self.module = module
        self.width = width
        self.target_dim = target_dim
        self.total_steps = total_steps
        self.end_step = max(1, math.ceil(end_fraction * total_steps))
        self.schedule = schedule
        self.score = score
        like = next(module.parameters(), None)  # the mask follows the module's dtype and device (.double(), .to())
        module.register_buffer(MASK_BUFFER, torch.ones(width, dtype=like.dtype if like is not None else None,
                                                       device=like.device if like is not None else None))
        self._last_output: torch.Tensor | None = None
        self._mask_hook = module.register_forward_hook(_apply_mask)
        self._watch_hook = module.register_forward_hook(self._watch)

    # --------------------------------------------------------------------- schedule
    def target_at(self, step: int) -> int:
        """How many dimensions stay active after ``step``."""
        p = min(1.0, max(0, step) / self.end_step)
        span = self.width - self.target_dim
        if self.schedule == "linear":
            left = span * (1 - p)
        elif self.schedule == "cosine":
            left = span * (1 + math.cos(math.pi * p)) / 2
        else:
            left = span * math.exp(-5 * p) if p < 1 else 0.0
        return self.target_dim + int(math.ceil(left - 1e-9))

    @property
    def mask(self) -> torch.Tensor:
        return getattr(self.module, MASK_BUFFER)

    @property
    def active_dims(self) -> list[int]:
        """Indices of the output dimensions still active."""
        return [int(i) for i in torch.nonzero(self.mask > 0).flatten()]

    @property
    def pruned_dims(self) -> list[int]:
        return [i for i in range(self.width) if i not in set(self.active_dims)]

    # --------------------------------------------------------------------- pruning
    def _watch(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if isinstance(output, torch.Tensor) and output.shape[-1:] == (self.width,):
            self._last_output = output.detach()

    def step(self, step: int, sample_inputs: Any = None) -> list[int]:
        """Mask dimensions as the schedule says at ``step``; returns the active dimensions."""
        keep = self.target_at(step)
        active = self.active_dims
        if keep >= len(active):
            return active
        values = self._sample(sample_inputs)
        flat = values.reshape(-1, self.width).double()
        if not torch.isfinite(flat).all():
            raise CalibrationError("OutputPruner.step: the module's outputs on the sample hold NaN/Inf; "
                                   "fix the inputs or the training before pruning on them.")
        importance = flat.var(dim=0, unbiased=False) if self.score == "variance" else flat.abs().mean(dim=0)
        order = sorted(active, key=lambda i: (float(importance[i]), i))  # least important first
        mask = self.mask.detach().clone()  # a new tensor: the last forward's graph still holds the old one
        mask[order[: len(active) - keep]] = 0.0
        setattr(self.module, MASK_BUFFER, mask)
        return self.active_dims

    def _sample(self, sample_inputs: Any) -> torch.Tensor:
        if sample_inputs is None:
            if self._last_output is None:
                raise ConfigError("OutputPruner.step: pass sample_inputs, or run the model forward once before the "
                                  "first step so the pruner sees the module's outputs.")
            return self._last_output
        args = sample_inputs if isinstance(sample_inputs, (tuple, list)) else (sample_inputs,)
        for a in args:
            if isinstance(a, torch.Tensor) and a.is_floating_point() and not torch.isfinite(a).all():
                raise CalibrationError("OutputPruner.step: sample_inputs hold NaN/Inf.")
        try:
            with torch.no_grad():
                out = self.module(*args)
        except Exception as exc:
            raise ConfigError(f"OutputPruner.step: the module failed on sample_inputs ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); pass what the module itself takes, expected output [..., "
                              f"{self.width}].") from exc
        if not isinstance(out, torch.Tensor) or out.shape[-1:] != (self.width,):
            raise ConfigError(f"OutputPruner.step: the module returned {type(out).__name__} of shape "
                              f"{tuple(getattr(out, 'shape', ()))}; expected [..., {self.width}].")
        return out

    def remove(self) -> None:
        """Stop watching and masking (the buffer stays, so a saved state_dict still loads)."""
        self._mask_hook.remove()
        self._watch_hook.remove()


def _out_features(module: nn.Module) -> int | None:
    """Width of the module's output, from its last Linear layer."""
    last = None
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            last = sub
    return None if last is None else int(last.out_features)


def pruned_dims(model: nn.Module) -> dict[str, tuple[list[int], list[int]]]:
    """Module path -> (active dims, pruned dims) for every module of ``model`` with an output mask."""
    found = {}
    for path, module in model.named_modules():
        mask = getattr(module, MASK_BUFFER, None)
        if isinstance(mask, torch.Tensor):
            values = mask.detach().cpu().tolist()
            found[path] = ([i for i, v in enumerate(values) if v > 0], [i for i, v in enumerate(values) if v <= 0])
    return found
