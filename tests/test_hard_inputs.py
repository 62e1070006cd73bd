"""Random calibration shapes and dtypes: each input either raises the one SymfxError it should,
or compiles to a module whose output matches the model's."""
from __future__ import annotations

import torch
import torch.nn as nn
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import symfx
from symfx.passes.validate import output_nrmse

_MODEL = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).eval()
_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool]
_TOLERANCE = 0.5


def expected_error(x: torch.Tensor, poison: str | None) -> tuple[type, str] | None:
    """The error symfx.compile must raise for calibration batches like ``x`` (None: it must work)."""
    if poison and x.numel() == 1:  # checked before the model runs
        return symfx.CalibrationError, "calibration data is all NaN/Inf"
    if x.shape[-1] != 3 or x.dtype != torch.float32:  # the float32 model itself refuses these
        return symfx.CalibrationError, "the model failed on the first calibration batch"
    if poison and x.numel() // 3 == 1:  # the only row is NaN/Inf: nothing can be recorded
        return symfx.CalibrationError, "every recorded row held NaN/Inf"
    return None


# the cases that must be covered every run, whatever hypothesis draws
@example(rows=40, width=3, extra_dims=[], dtype=torch.float32, as_tuple=False, batches=1, poison=None)  # distils
@example(rows=30, width=3, extra_dims=[2], dtype=torch.float32, as_tuple=True, batches=3, poison="nan")  # NaN row
@example(rows=1, width=3, extra_dims=[], dtype=torch.float32, as_tuple=False, batches=2, poison="inf")  # only row
@example(rows=0, width=3, extra_dims=[], dtype=torch.float32, as_tuple=False, batches=1, poison=None)  # empty
@example(rows=8, width=2, extra_dims=[], dtype=torch.float32, as_tuple=False, batches=1, poison=None)  # width
# 8 rows: fewer than a lattice design's columns (an IndexError in engines/lattice.py until session 30)
@example(rows=8, width=3, extra_dims=[], dtype=torch.float32, as_tuple=False, batches=1, poison=None)
@example(rows=8, width=3, extra_dims=[], dtype=torch.float64, as_tuple=False, batches=1, poison=None)  # dtype
@example(rows=1, width=1, extra_dims=[], dtype=torch.bfloat16, as_tuple=False, batches=1, poison="nan")  # all NaN
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
def test_random_calibration_raises_the_right_error_or_matches_the_model(rows, width, extra_dims, dtype, as_tuple,
                                                                         batches, poison):
    shape = (*extra_dims, rows, width)
    x = (torch.rand(shape) * 4 - 2).to(dtype) if dtype is not torch.bool else torch.rand(shape) > 0.5
    if poison and x.is_floating_point() and x.numel():
        x.view(-1)[0] = float(poison)
    else:
        poison = None
    item = (x,) if as_tuple else x
    calibration = [item] * batches if batches > 1 else item
    expected = expected_error(x, poison)
    try:
        sm = symfx.compile(_MODEL, calibration, time_budget=0.3, progress=False, cache_dir="",
                           engine_options={"gp": False}, tolerance=_TOLERANCE, min_samples=8)
    except symfx.SymfxError as exc:
        assert expected is not None, f"{type(exc).__name__} for an input that should work: {exc}"
        cls, message = expected
        assert type(exc) is cls and message in str(exc), f"expected {cls.__name__} ({message}), got {exc!r}"
        return
    assert expected is None, f"no error, expected {expected[0].__name__} ({expected[1]})"
    with torch.no_grad():
        out, ref = sm(x), _MODEL(x)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if not sm.distilled:  # nothing replaced: the model itself, bit for bit (NaN where it gives NaN)
        torch.testing.assert_close(out, ref, rtol=0, atol=0, equal_nan=True)
    else:  # validation held the whole model within tolerance on these very rows
        err = output_nrmse([ref], [out])  # over the entries where the model is finite
        assert err <= _TOLERANCE, (err, sm.report())
