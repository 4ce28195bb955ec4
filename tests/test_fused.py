"""The fused paths equal the reference loop: outputs and gradients, every configuration."""

import pytest
import torch

from liquidtorch import LTC, RK4, AutoNCP, FullyConnected, MultiLayerNCP
from liquidtorch.kernels import fused_enabled, use_fused

pytest.importorskip("numba")


def _run(model, fused, x, **kw):
    """Outputs, final state and all gradients with the fused path on or off."""
    model.zero_grad()
    x = x.clone().requires_grad_()
    kw = {k: (v.clone().requires_grad_() if k == "timespans" and v.is_floating_point() else v)
          for k, v in kw.items()}  # fmt: skip
    with use_fused(fused):
        y, h = model(x, **kw)
        hs = h if isinstance(h, tuple) else (h,)
        loss = (y * torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype)).pow(2).sum()
        loss = loss + sum((s * s.detach().sign()).sum() for s in hs)
        loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    grads["input"] = x.grad
    if "timespans" in kw:
        grads["timespans"] = kw["timespans"].grad
    return y.detach(), [s.detach() for s in hs], grads


def _assert_equal_paths(model, x, rtol, atol, **kw):
    y1, h1, g1 = _run(model, True, x, **kw)
    y0, h0, g0 = _run(model, False, x, **kw)
    torch.testing.assert_close(y1, y0, rtol=rtol, atol=atol)
    for a, b in zip(h1, h0, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    assert g1.keys() == g0.keys()
    for name in g0:
        scale = g0[name].abs().max().clamp_min(1.0)
        torch.testing.assert_close(
            g1[name] / scale, g0[name] / scale, rtol=rtol, atol=atol, msg=name
        )


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
    _assert_equal_paths(model, x, rtol, atol, **kw)


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
