"""The streaming fast lane (compiled single steps) equals the reference step and the
whole-sequence call, and steps aside where it does not apply."""

import pytest
import torch

from liquidtorch import LTC, AutoNCP, CfC
from liquidtorch.kernels import use_fused

pytest.importorskip("numba")

# Kernel configurations beyond the registry's defaults (activations, backbone depths,
# mappings, projection): each selects a different code path of the compiled step. Every
# registered model's fast lane is checked by test_contract.py.
VARIANTS = {
    "ltc_ncp": lambda: LTC(5, AutoNCP(12, 2)),
    "ltc_linear_proj": lambda: LTC(5, 6, input_mapping="linear", proj_size=2),
    "cfc": lambda: CfC(5, 7, backbone_units=16),
    "cfc_no_gate_relu": lambda: CfC(5, 7, mode="no_gate", backbone_units=9, activation="relu"),
    "cfc_pure_tanh": lambda: CfC(5, 7, mode="pure", backbone_units=9, activation="tanh"),
    "cfc_no_backbone": lambda: CfC(5, 7, backbone_layers=0),
    "cfc_two_backbone_layers": lambda: CfC(5, 7, backbone_layers=2, backbone_units=8),
    "wired_cfc": lambda: CfC(5, AutoNCP(12, 2)),
    "wired_cfc_pure": lambda: CfC(5, AutoNCP(10, 3), mode="pure"),
}


# Batch 3 and 1: the LTC step runs row by row (up to 8 rows); 11: in 32-column chunks.
@pytest.mark.parametrize("batch", [3, 1, 11])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_fast_steps_equal_reference_and_whole_sequence(name, dtype, tol, batch):
    model = VARIANTS[name]().to(dtype).eval()
    x = torch.randn(batch, 6, 5, dtype=dtype)
    with torch.no_grad():
        y, h = model(x, timespans=0.7)
        fast, ref, s_fast, s_ref = [], [], None, None
        for t in range(6):
            y_fast, s_fast = model.step(x[:, t], s_fast, dt=0.7)
            with use_fused(False):
                y_ref, s_ref = model.step(x[:, t], s_ref, dt=0.7)
            fast.append(y_fast)
            ref.append(y_ref)
    torch.testing.assert_close(torch.stack(fast, 1), torch.stack(ref, 1), atol=tol, rtol=tol)
    torch.testing.assert_close(torch.stack(fast, 1), y, atol=tol, rtol=tol)
    torch.testing.assert_close(s_fast, h, atol=tol, rtol=tol)


def _count_fused(monkeypatch, model):
    calls = []
    cell = model.cells[0]
    real = cell.fused_step
    monkeypatch.setattr(cell, "fused_step", lambda *a: calls.append(1) or real(*a))
    return calls


@pytest.mark.parametrize("name", ["ltc_ncp", "cfc"])
def test_fast_lane_is_used_only_without_autograd(monkeypatch, name):
    model = VARIANTS[name]()
    calls = _count_fused(monkeypatch, model)
    x = torch.randn(2, 5)
    with torch.no_grad():
        model.step(x)
    used = [r for r in calls]
    assert used, "the fast lane was not tried"
    # With gradients recorded the compiled step steps aside and autograd works.
    y, _ = model.step(x, dt=0.5)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_fast_lane_falls_back_for_tensor_dt_and_mixed_memory():
    model = CfC(5, 7, backbone_units=8, mixed_memory=True)
    with torch.no_grad():
        y, (h, c) = model.step(torch.randn(2, 5), dt=torch.tensor([0.5, 1.0]))
    assert y.shape == (2, 7) and c.shape == (2, 7)


def test_fast_lane_sees_parameter_updates():
    model = CfC(5, 7, backbone_units=8).eval()
    x = torch.randn(2, 5)
    with torch.no_grad():
        before, _ = model.step(x)
        model.cell.heads.bias.add_(1.0)  # in place: the cached weights must refresh
        after, _ = model.step(x)
        with use_fused(False):
            want, _ = model.step(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, want, atol=1e-6, rtol=1e-5)
