"""Property tests: random shapes, dtypes, timespans, lengths and masks thrown at every
registered model. Each call must give the correct result (every padded sequence's output
equals that of the sequence run alone on its valid steps; the mask and lengths forms agree)
or a ValueError/TypeError whose message names the offending argument."""

from types import SimpleNamespace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liquidtorch.zoo import MODELS, build_model

pytestmark = pytest.mark.usefixtures("one_thread")

FEATURES, OUT = 3, 2
TASK = SimpleNamespace(input_size=FEATURES, output_size=OUT, per_step=False, defaults={})
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_MODELS: dict[tuple[str, torch.dtype], torch.nn.Module] = {}


def model_for(name: str, dtype: torch.dtype) -> torch.nn.Module:
    """One model per (name, dtype), built once (building is what costs)."""
    key = (name, dtype)
    if key not in _MODELS:
        _MODELS[key] = build_model(name, TASK, units=6, seed=0).to(dtype).eval()
    return _MODELS[key]


@st.composite
def valid_inputs(draw):
    batch = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, FEATURES, generator=g, dtype=dtype)
    kind = draw(st.sampled_from(["none", "float", "scalar_tensor", "matrix", "column"]))
    full = torch.rand(batch, steps, generator=g, dtype=dtype) * 2 + 0.05
    timespans = {
        "none": None,
        "float": 0.7,
        "scalar_tensor": torch.tensor(0.7, dtype=dtype),
        "matrix": full,
        "column": full.unsqueeze(-1),
    }[kind]
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    valid = draw(st.sampled_from(["none", "lengths", "mask"]))
    return x, timespans, lengths if valid != "none" else None, valid == "mask"


def _alone(timespans, i: int, n: int):
    """Sequence ``i``'s timespans for its first ``n`` steps, run as a batch of one."""
    if not isinstance(timespans, torch.Tensor) or timespans.dim() == 0:
        return timespans
    return timespans[i : i + 1, :n]


@pytest.mark.parametrize("name", list(MODELS))
@EXAMPLES
@given(case=valid_inputs())
def test_valid_inputs_give_the_result_of_each_sequence_alone(name, case):
    x, timespans, lengths, as_mask = case
    model = model_for(name, x.dtype)
    tol = 1e-5 if x.dtype == torch.float32 else 1e-10
    with torch.no_grad():
        if lengths is None:
            out = model(x, timespans)
            lengths = torch.full((x.shape[0],), x.shape[1])
        else:
            out = model(x, timespans, lengths=lengths)
            mask = torch.arange(x.shape[1]) < lengths[:, None]
            torch.testing.assert_close(model(x, timespans, mask=mask), out, rtol=tol, atol=tol)
        assert out.shape == (x.shape[0], OUT) and out.dtype == x.dtype
        assert torch.isfinite(out).all()
        for i, n in enumerate(lengths.tolist()):
            alone = model(x[i : i + 1, :n], _alone(timespans, i, n))
            torch.testing.assert_close(out[i : i + 1], alone, rtol=tol, atol=tol)


def _corrupt(kind: str, x: torch.Tensor, lengths: torch.Tensor):
    """(input, kwargs, the argument the error must name) for one kind of bad input."""
    b, t = x.shape[:2]
    ok = {"timespans": torch.ones(b, t)}
    cases = {
        "features": (torch.randn(b, t, FEATURES + 1), ok, "input"),
        "zero_steps": (torch.randn(b, 0, FEATURES), {}, "input"),
        "rank": (torch.randn(FEATURES), {}, "input"),
        "int_input": (torch.ones(b, t, FEATURES, dtype=torch.long), {}, "input"),
        "half_input": (x.half(), {}, "input"),
        "ts_zero": (x, {"timespans": torch.zeros(b, t)}, "timespans"),
        "ts_negative": (x, {"timespans": -1.0}, "timespans"),
        "ts_nan": (x, {"timespans": torch.full((b, t), float("nan"))}, "timespans"),
        "ts_inf": (x, {"timespans": float("inf")}, "timespans"),
        "ts_shape": (x, {"timespans": torch.ones(b, t + 1)}, "timespans"),
        "ts_bool": (x, {"timespans": torch.ones(b, t, dtype=torch.bool)}, "timespans"),
        "ts_string": (x, {"timespans": "1"}, "timespans"),
        "len_float": (x, {"lengths": lengths.float()}, "lengths"),
        "len_bool": (x, {"lengths": lengths > 0}, "lengths"),
        "len_range": (x, {"lengths": lengths + t}, "lengths"),
        "len_negative": (x, {"lengths": -lengths}, "lengths"),
        "len_shape": (x, {"lengths": torch.ones(b + 1, dtype=torch.long)}, "lengths"),
        "mask_dtype": (x, {"mask": torch.ones(b, t)}, "mask"),
        "mask_shape": (x, {"mask": torch.ones(b, t + 1, dtype=torch.bool)}, "mask"),
        "both": (x, {"lengths": lengths, "mask": torch.ones(b, t, dtype=torch.bool)}, "mask"),
    }
    return cases[kind]


@pytest.mark.parametrize("name", list(MODELS))
@EXAMPLES
@given(
    kind=st.sampled_from(
        "features zero_steps rank int_input half_input ts_zero ts_negative ts_nan ts_inf "
        "ts_shape ts_bool ts_string len_float len_bool len_range len_negative len_shape "
        "mask_dtype mask_shape both".split()
    ),
    batch=st.integers(1, 3),
    steps=st.integers(1, 4),
)
def test_bad_inputs_give_an_error_naming_the_argument(name, kind, batch, steps):
    x = torch.randn(batch, steps, FEATURES)
    lengths = torch.randint(1, steps + 1, (batch,))
    bad, kwargs, argument = _corrupt(kind, x, lengths)
    with pytest.raises((ValueError, TypeError)) as err, torch.no_grad():
        model_for(name, torch.float32)(bad, **kwargs)
    message = str(err.value)
    assert argument in message and "\n" not in message, message


@pytest.mark.parametrize("name", list(MODELS))
def test_scalar_timespans_tensor_gets_its_gradient(name):
    """A 0-dim timespans tensor that requires grad is not turned into a float: its gradient
    is the sum of the gradients of the same value given at every step."""
    model = model_for(name, torch.float64)
    x = torch.randn(2, 4, FEATURES, dtype=torch.float64)
    scalar = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    model(x, scalar).sum().backward()
    full = torch.full((2, 4), 0.8, dtype=torch.float64, requires_grad=True)
    model(x, full).sum().backward()
    assert scalar.grad is not None
    torch.testing.assert_close(scalar.grad, full.grad.sum(), rtol=1e-10, atol=1e-12)
