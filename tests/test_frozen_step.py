"""FrozenStep: the compiled step with copied weights equals the live step (and so the
whole-sequence call), is blind to later weight changes by design, and refuses what it
cannot serve with a clear error."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from liquidtorch import LTC, RK4, AutoNCP, CfC, FrozenStep
from liquidtorch.kernels import use_fused
from liquidtorch.zoo import build_model

pytest.importorskip("numba")

MODELS = {
    "ltc_ncp": lambda: LTC(5, AutoNCP(12, 2)),
    "ltc_dense_linear": lambda: LTC(5, 6, input_mapping="linear", output_mapping="none"),
    "ltc_clamp": lambda: LTC(5, 6, constraint="clamp"),
    "cfc": lambda: CfC(5, 7, backbone_units=16),
    "cfc_no_gate_relu": lambda: CfC(5, 7, mode="no_gate", backbone_units=9, activation="relu"),
    "cfc_pure_tanh": lambda: CfC(5, 7, mode="pure", backbone_units=9, activation="tanh"),
    "cfc_no_backbone": lambda: CfC(5, 7, backbone_layers=0),
    "cfc_ncp": lambda: CfC(5, AutoNCP(12, 2)),
    "cfc_ncp_pure": lambda: CfC(5, AutoNCP(10, 3), mode="pure"),
    "cfc_ncp_no_gate": lambda: CfC(5, AutoNCP(10, 3), mode="no_gate"),
}


# Batch 1 and 3: the LTC step runs row by row (up to 8 rows); 11: in 32-column chunks.
@pytest.mark.parametrize("batch", [1, 3, 11])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("name", list(MODELS))
def test_equals_the_reference_step(name, dtype, tol, batch):
    torch.manual_seed(0)
    model = MODELS[name]().to(dtype).eval()
    with torch.no_grad():  # w_tau off its initial zero (pure mode)
        for param_name, p in model.named_parameters():
            if param_name.endswith("w_tau"):
                p.uniform_(-1, 1)
    frozen = FrozenStep(model)
    x = torch.randn(batch, 6, 5, dtype=dtype)
    h_ref = h_frozen = None
    for t, dt in enumerate([0.7, 1.3, 0.2, 2.0, 1.0, 0.05]):
        with torch.no_grad(), use_fused(False):
            y_ref, h_ref = model.step(x[:, t], h_ref, dt=dt)
        y, h_frozen = frozen(x[:, t], h_frozen, dt=dt)
        assert isinstance(y, torch.Tensor) and y.dtype == dtype
        torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
        torch.testing.assert_close(h_frozen, h_ref, rtol=tol, atol=tol)


def test_numpy_in_numpy_out_and_conversions():
    model = CfC(5, 7).eval()
    frozen = FrozenStep(model)
    x = np.random.default_rng(0).standard_normal((2, 5))  # float64: converted
    y, h = frozen(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (2, 7)
    with torch.no_grad():
        y_ref, _ = model.step(torch.as_tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(y, y_ref.numpy(), rtol=1e-5, atol=1e-6)
    y2, _ = frozen(x.tolist(), h, dt=0.5)  # nested lists too
    assert y2.shape == (2, 7)


def test_zoo_model_with_head():
    task = SimpleNamespace(input_size=4, output_size=3, per_step=True, defaults={"units": 10})
    model = build_model("cfc", task).eval()
    frozen = FrozenStep(model)
    x = torch.randn(2, 4)
    y, h = frozen(x)
    with torch.no_grad():
        y_layer, h_layer = model.layer.step(x)
        expected = model.head(y_layer)
    assert y.shape == (2, 3)
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, h_layer)


def test_weights_are_copied_at_creation():
    model = LTC(5, AutoNCP(12, 2)).eval()
    frozen = FrozenStep(model)
    x = torch.randn(1, 5)
    before, _ = frozen(x)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    after, _ = frozen(x)
    torch.testing.assert_close(after, before)  # blind to the change, by contract
    fresh, _ = FrozenStep(model)(x)
    with torch.no_grad():
        live, _ = model.step(x)
    torch.testing.assert_close(fresh, live, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(fresh, before)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: CfC(5, 7, num_layers=2), ValueError, "one-layer"),
        (lambda: CfC(5, 7, bidirectional=True), ValueError, "one-layer"),
        (lambda: LTC(5, 6, proj_size=2), ValueError, "proj_size"),
        (lambda: CfC(5, 7, mixed_memory=True), TypeError, "no compiled step"),
        (lambda: LTC(5, 6, solver=RK4(2)), ValueError, "semi-implicit"),
        (lambda: CfC(5, 7, backbone_layers=2), ValueError, "at most one layer"),
    ],
)
def test_refuses_what_it_cannot_serve(make, error, match):
    with pytest.raises(error, match=match):
        FrozenStep(make())


def test_bad_inputs_are_clear_errors():
    frozen = FrozenStep(CfC(5, 7))
    with pytest.raises(ValueError, match=r"x: expected \(batch, 5\)"):
        frozen(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"h: expected \(batch, 7\)"):
        frozen(np.zeros((1, 5), np.float32), np.zeros((1, 6), np.float32))
    with pytest.raises(ValueError, match="rows"):
        frozen(np.zeros((2, 5), np.float32), np.zeros((1, 7), np.float32))
    for dt in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="dt"):
            frozen(np.zeros((1, 5), np.float32), dt=dt)
