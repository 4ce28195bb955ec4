"""The fused dense CfC path equals the reference loop: outputs, states and gradients."""

import pytest
import torch
from fused_paths import assert_equal_paths

from liquidtorch import CfC
from liquidtorch.cells import CfCCell
from liquidtorch.kernels import cfc as kernel
from liquidtorch.kernels import use_fused

TOLERANCES = [(torch.float32, 1e-5, 1e-5), (torch.float64, 1e-9, 1e-9)]


pytestmark = pytest.mark.usefixtures("one_thread")


def _inputs(kind, dtype, time_first=False, state=None):
    x = torch.randn(4, 9, 5, dtype=dtype)
    kw = {}
    if kind == "constant_dt":
        kw["timespans"] = 0.7
    if "timespans" in kind:
        kw["timespans"] = torch.rand(4, 9, dtype=dtype) * 2 + 0.05
    if kind == "lengths":
        kw["lengths"] = torch.tensor([9, 4, 1, 6])
    if kind.startswith("mask"):
        mask = torch.rand(4, 9) > 0.3
        mask[2] = False  # a sequence with no valid step at all
        kw["mask"] = mask
    if kind == "hx":
        kw["hx"] = torch.randn(*state, dtype=dtype) * 0.5
    if time_first:
        x = x.transpose(0, 1)
        kw = {k: (v.transpose(0, 1) if k in ("timespans", "mask") else v) for k, v in kw.items()}
    return x, kw


BACKBONES = [(0, "lecun_tanh")] + [
    (layers, act) for layers in (1, 2) for act in ("lecun_tanh", "tanh", "relu")
]


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("inputs", ["constant_dt", "mask_timespans"])
@pytest.mark.parametrize("layers, activation", BACKBONES)
@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled_loop", "torch_loop"])
def test_cell_configurations(mode, layers, activation, inputs, dtype, rtol, atol, compiled,
                             monkeypatch):  # fmt: skip
    """Both loops of the fused path (compiled on CPU for <= 1 backbone layer; the torch loop
    serves other devices and deeper backbones) against the reference."""
    monkeypatch.setattr(kernel, "COMPILED_LOOP", compiled)
    torch.manual_seed(0)
    model = CfC(
        5, 6, mode=mode, backbone_layers=layers, backbone_units=7, activation=activation
    ).to(dtype)
    x, kw = _inputs(inputs, dtype)
    assert_equal_paths(model, x, rtol, atol, inference=True, **kw)


LAYERS = {
    "stacked_bidirectional_proj": lambda: CfC(
        5, 6, num_layers=2, bidirectional=True, proj_size=3, backbone_units=7
    ),
    "last_output_time_first_no_gate": lambda: CfC(
        5, 6, mode="no_gate", return_sequences=False, batch_first=False, backbone_units=7
    ),
    "pure_stacked_relu": lambda: CfC(
        5, 6, mode="pure", num_layers=2, backbone_layers=2, backbone_units=7, activation="relu"
    ),
}


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("inputs", ["plain", "timespans", "lengths", "mask_timespans", "hx"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_options(name, inputs, dtype, rtol, atol):
    torch.manual_seed(0)
    model = LAYERS[name]().to(dtype)
    cells = len(model.cells)
    state = (cells, 4, 6) if cells > 1 else (4, 6)
    x, kw = _inputs(inputs, dtype, time_first=not model.batch_first, state=state)
    assert_equal_paths(model, x, rtol, atol, inference=True, **kw)


@pytest.mark.parametrize("mode", ["default", "pure"])
@pytest.mark.parametrize("layers", [1, 2])  # the compiled loop (<= 1 layer), the torch loop
def test_gradcheck(mode, layers):
    """The hand-derived backward against finite differences, every input at once."""
    torch.manual_seed(0)
    cell = CfCCell(3, 4, mode=mode, backbone_units=5, backbone_layers=layers).double()
    if mode == "pure":
        with torch.no_grad():
            cell.w_tau.uniform_(-1, 1)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    dt = (torch.rand(5, 2, 1, dtype=torch.float64) + 0.1).requires_grad_()
    valid = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.bool)
    h0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)

    def run(x, dt, h0, *params):
        return cell.fused_states(x, dt.squeeze(-1), valid, h0)

    params = [p for p in cell.parameters()]
    assert torch.autograd.gradcheck(run, (x, dt, h0, *params))


def test_fused_path_is_used_where_it_applies(monkeypatch):
    calls = []
    real = kernel.CfCScan.apply
    monkeypatch.setattr(kernel.CfCScan, "apply", lambda *a: calls.append(1) or real(*a))

    def used(model, dtype=torch.float32, **kw):
        calls.clear()
        model(torch.randn(2, 4, 3, dtype=dtype), **kw)
        return bool(calls)

    model = CfC(3, 8)
    assert used(model) and used(model, timespans=torch.rand(2, 4) + 0.1)
    with use_fused(False):
        assert not used(model)
    assert not used(CfC(3, 8, activation=torch.sin))  # a callable: reference loop
    assert not used(CfC(3, 8, activation="silu"))
    assert not used(CfC(3, 8, mixed_memory=True))
    dropout = CfC(3, 8, backbone_dropout=0.3)
    assert not used(dropout.train())
    assert used(dropout.eval())  # dropout is the identity in eval mode
    assert used(CfC(3, 8).double(), torch.float64)
    assert not used(CfC(3, 8).to(torch.bfloat16), torch.bfloat16)


def test_compiled_loop_is_used_on_cpu(monkeypatch):
    from liquidtorch.kernels import _cfc_numba

    calls = []
    real = _cfc_numba.cfc_loop
    monkeypatch.setattr(_cfc_numba, "cfc_loop", lambda *a: calls.append(1) or real(*a))
    x = torch.randn(2, 4, 3)
    CfC(3, 8)(x)
    CfC(3, 8, backbone_layers=0)(x)
    assert len(calls) == 2
    CfC(3, 8, backbone_layers=2)(x)  # deeper backbones: the torch loop
    monkeypatch.setattr(kernel, "COMPILED_LOOP", False)
    CfC(3, 8)(x)
    assert len(calls) == 2


def test_output_can_be_modified_in_place_like_the_reference():
    model = CfC(3, 8)
    y, _ = model(torch.randn(2, 5, 3))
    y.mul_(2).sum().backward()
    assert model.cell.heads.weight.grad is not None
