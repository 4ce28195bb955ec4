"""The fused paths equal the reference loop: outputs and gradients, every configuration."""

import pytest
import torch
from fused_paths import assert_equal_paths

from liquidtorch import LTC, RK4, AutoNCP, FullyConnected, MultiLayerNCP
from liquidtorch.kernels import fused_enabled, use_fused

pytest.importorskip("numba")


CONFIGS = {
    "autoncp": lambda: LTC(5, AutoNCP(16, 3)),
    "fully_connected_linear": lambda: LTC(5, FullyConnected(6, 2), input_mapping="linear"),
    "multilayer_no_mapping": lambda: LTC(
        5, MultiLayerNCP((4, 3), 3, 2, 2, 2, 2, 2), input_mapping="none", output_mapping="none"
    ),
    "clamp_unfolds3": lambda: LTC(5, 7, constraint="clamp", solver=None, epsilon=1e-6),
    "stacked_bidirectional_proj": lambda: LTC(
        5, AutoNCP(10, 2), num_layers=2, bidirectional=True, proj_size=3
    ),  # fmt: skip
    "last_output_time_first": lambda: LTC(5, 6, return_sequences=False, batch_first=False),
}


@pytest.mark.parametrize(
    "dtype, rtol, atol", [(torch.float32, 1e-5, 1e-5), (torch.float64, 1e-9, 1e-9)]
)
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("inputs", ["plain", "timespans", "lengths", "mask_timespans"])
def test_ltc_fused_equals_reference(name, inputs, dtype, rtol, atol):
    torch.manual_seed(0)
    model = CONFIGS[name]().to(dtype)
    time_first = not model.batch_first
    x = torch.randn(4, 9, 5, dtype=dtype)
    kw = {}
    if "timespans" in inputs:
        kw["timespans"] = torch.rand(4, 9, dtype=dtype) * 2 + 0.05
    if inputs == "lengths":
        kw["lengths"] = torch.tensor([9, 4, 1, 6])
    if inputs == "mask_timespans":
        mask = torch.rand(4, 9) > 0.3
        mask[2] = False  # a sequence with no valid step at all
        kw["mask"] = mask
    if time_first:
        x = x.transpose(0, 1)
        kw = {k: (v.transpose(0, 1) if k in ("timespans", "mask") else v) for k, v in kw.items()}
    assert_equal_paths(model, x, rtol, atol, **kw)


def test_fused_path_is_used_and_can_be_turned_off(monkeypatch):
    from liquidtorch.kernels import ltc as kernel

    calls = []
    real = kernel.LTCScan.apply
    monkeypatch.setattr(kernel.LTCScan, "apply", lambda *a: calls.append(1) or real(*a))
    model = LTC(3, AutoNCP(8, 2))
    model(torch.randn(2, 4, 3))
    assert calls and fused_enabled()
    calls.clear()
    with use_fused(False):
        model(torch.randn(2, 4, 3))
    assert not calls
    model_rk4 = LTC(3, 5, solver=RK4(2))  # not served by the fused path: reference loop
    model_rk4(torch.randn(2, 4, 3))
    assert not calls


def test_streaming_uses_the_same_maths():
    model = LTC(3, AutoNCP(8, 2))
    x = torch.randn(2, 6, 3)
    y, h = model(x)
    state, ys = None, []
    with use_fused(False):
        for t in range(6):
            yt, state = model.step(x[:, t], state)
            ys.append(yt)
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=1e-5, atol=1e-6)
