"""The fused dense CfC path equals the reference loop: outputs, states and gradients."""

import pytest
import torch

from liquidtorch import CfC
from liquidtorch.cells import CfCCell
from liquidtorch.kernels import cfc as kernel
from liquidtorch.kernels import use_fused

TOLERANCES = [(torch.float32, 1e-5, 1e-5), (torch.float64, 1e-9, 1e-9)]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: a second thread only adds waiting on a busy (shared) machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(model, fused, x, hx=None, **kw):
    """Outputs, final state and all gradients with the fused path on or off."""
    model.zero_grad()
    x = x.clone().requires_grad_()
    hx = None if hx is None else hx.clone().requires_grad_()
    ts = kw.get("timespans")
    if isinstance(ts, torch.Tensor):
        kw["timespans"] = ts.clone().requires_grad_()
    with use_fused(fused):
        y, h = model(x, hx, **kw)
        loss = (y * torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype)).pow(2).sum()
        loss = loss + (h * h.detach().sign()).sum()
        loss.backward()
        with torch.no_grad():
            y_inference, _ = model(x, hx, **kw)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    grads["input"] = x.grad
    if hx is not None:
        grads["hx"] = hx.grad
    if isinstance(ts, torch.Tensor):
        grads["timespans"] = kw["timespans"].grad
    return y.detach(), y_inference, h.detach(), grads


def _assert_equal_paths(model, x, rtol, atol, **kw):
    *out1, g1 = _run(model, True, x, **kw)
    *out0, g0 = _run(model, False, x, **kw)
    for a, b in zip(out1, out0, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    assert g1.keys() == g0.keys()
    for name in g0:
        scale = g0[name].abs().max().clamp_min(1.0)
        torch.testing.assert_close(
            g1[name] / scale, g0[name] / scale, rtol=rtol, atol=atol, msg=name
        )


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
def test_cell_configurations(mode, layers, activation, inputs, dtype, rtol, atol):
    torch.manual_seed(0)
    model = CfC(
        5, 6, mode=mode, backbone_layers=layers, backbone_units=7, activation=activation
    ).to(dtype)
    x, kw = _inputs(inputs, dtype)
    _assert_equal_paths(model, x, rtol, atol, **kw)


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
    _assert_equal_paths(model, x, rtol, atol, **kw)


@pytest.mark.parametrize("mode", ["default", "pure"])
def test_gradcheck(mode):
    """The hand-derived backward against finite differences, every input at once."""
    torch.manual_seed(0)
    cell = CfCCell(3, 4, mode=mode, backbone_units=5, backbone_layers=2).double()
    if mode == "pure":
        with torch.no_grad():
            cell.w_tau.uniform_(-1, 1)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    dt = (torch.rand(5, 2, 1, dtype=torch.float64) + 0.1).requires_grad_()
    valid = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.bool)
    h0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)

    def run(x, dt, h0, *params):
        return cell.fused_scan(x, dt, valid, h0)

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


def test_output_can_be_modified_in_place_like_the_reference():
    model = CfC(3, 8)
    y, _ = model(torch.randn(2, 5, 3))
    y.mul_(2).sum().backward()
    assert model.cell.heads.weight.grad is not None
