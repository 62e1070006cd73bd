"""Random calibration shapes and dtypes either work or raise SymfxError with a message."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symfx

_MODEL = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).eval()
_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(0, 40),
    width=st.integers(1, 5),
    extra_dims=st.lists(st.integers(1, 3), max_size=2),
    dtype=st.sampled_from(_DTYPES),
    as_tuple=st.booleans(),
    batches=st.integers(1, 3),
    poison=st.sampled_from([None, "nan", "inf"]),
)
def test_random_calibration_works_or_raises_symfx_error(rows, width, extra_dims, dtype, as_tuple, batches, poison):
    shape = (*extra_dims, rows, width)
    x = (torch.rand(shape) * 4 - 2).to(dtype) if dtype is not torch.bool else torch.rand(shape) > 0.5
    if poison and x.is_floating_point() and x.numel():
        x.view(-1)[0] = float(poison)
    item = (x,) if as_tuple else x
    calibration = [item] * batches if batches > 1 else item
    try:
        sm = symfx.compile(_MODEL, calibration, time_budget=0.3, progress=False, cache_dir="",
                           engine_options={"gp": False}, tolerance=0.5, min_samples=8)
    except symfx.SymfxError as exc:
        assert str(exc), "an error must say what is wrong"
        return
    # it worked: the result runs on the same kind of input and keeps the output shape
    with torch.no_grad():
        assert sm(x).shape == _MODEL(x).shape
