"""Fused mixed memory (the LSTM gate and the liquid cell in one pass) equals the reference
loop: outputs, states and every gradient, through the shared fused-vs-reference check."""

import pytest
import torch
from fused_paths import assert_equal_paths, sequence_inputs

from liquidtorch import LTC, NCP, AutoNCP, CfC, FullyConnected
from liquidtorch.kernels import cfc as cfc_kernel
from liquidtorch.kernels import ltc, mixed_cfc, use_fused, wired_cfc

pytestmark = pytest.mark.usefixtures("one_thread")

TOLERANCES = [(torch.float32, 1e-5, 1e-5), (torch.float64, 1e-9, 1e-9)]


def _spy(monkeypatch, function) -> list:
    seen = []
    real = function.apply
    monkeypatch.setattr(function, "apply", lambda *a: seen.append(1) or real(*a))
    return seen


@pytest.fixture
def calls(monkeypatch):
    """Records every call of the fused mixed-memory dense CfC kernel."""
    return _spy(monkeypatch, mixed_cfc.MixedCfCScan)


@pytest.fixture
def wired_calls(monkeypatch):
    """Records every call of the fused wired-CfC kernel."""
    pytest.importorskip("numba")
    return _spy(monkeypatch, wired_cfc.WiredCfCScan)


@pytest.fixture
def ltc_calls(monkeypatch):
    """Records every call of the fused LTC kernel."""
    pytest.importorskip("numba")
    return _spy(monkeypatch, ltc.LTCScan)


def _inputs(model, kind, dtype, batch=4, steps=9):
    return sequence_inputs(model, kind, dtype, batch=batch, steps=steps)


def _move_pure_parameters(model):
    """w_tau off its initial zero (|w_tau| kinks there) and A off one."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("w_tau"):
                p.uniform_(-1.0, 1.0)
            elif name.endswith(".A"):
                p.uniform_(0.5, 1.5)


BACKBONES = [(0, "lecun_tanh"), (1, "lecun_tanh"), (2, "relu"), (2, "tanh")]


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("inputs", ["constant_dt", "mask_timespans"])
@pytest.mark.parametrize("layers, activation", BACKBONES)
@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled_loop", "torch_loop"])
def test_dense_cfc_configurations(
    mode, layers, activation, inputs, dtype, rtol, atol, calls, compiled, monkeypatch
):
    """Both loops (compiled on CPU for <= 1 backbone layer; torch ops for other devices and
    deeper backbones) against the reference."""
    monkeypatch.setattr(cfc_kernel, "COMPILED_LOOP", compiled)
    torch.manual_seed(0)
    model = CfC(
        5, 6, mode=mode, mixed_memory=True, backbone_layers=layers, backbone_units=7,
        activation=activation,
    ).to(dtype)  # fmt: skip
    _move_pure_parameters(model)
    x, kw = _inputs(model, inputs, dtype)
    assert_equal_paths(model, x, rtol, atol, calls=calls, inference=True, **kw)


LAYERS = {
    "stacked_bidirectional_proj": lambda: CfC(
        5, 6, mixed_memory=True, num_layers=2, bidirectional=True, proj_size=3, backbone_units=7
    ),
    "last_output_time_first_no_gate": lambda: CfC(
        5,
        6,
        mode="no_gate",
        mixed_memory=True,
        return_sequences=False,
        batch_first=False,
        backbone_units=7,
    ),  # fmt: skip
    "pure_stacked_relu": lambda: CfC(
        5, 6, mode="pure", mixed_memory=True, num_layers=2, backbone_units=7, activation="relu"
    ),
}


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("inputs", ["plain", "timespans", "lengths", "mask_timespans", "hx"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_dense_cfc_layer_options(name, inputs, dtype, rtol, atol, calls):
    torch.manual_seed(0)
    model = LAYERS[name]().to(dtype)
    _move_pure_parameters(model)
    x, kw = _inputs(model, inputs if len(model.cells) == 1 or inputs != "hx" else "plain", dtype)
    assert_equal_paths(model, x, rtol, atol, calls=calls, inference=True, **kw)


GRADCHECK = {
    "cfc_default": lambda: CfC(3, 4, mixed_memory=True, backbone_units=5, backbone_layers=2),
    "cfc_pure": lambda: CfC(
        3, 4, mode="pure", mixed_memory=True, backbone_units=5, backbone_layers=2
    ),
    # one backbone layer or none: the compiled loops
    "cfc_no_gate_compiled": lambda: CfC(3, 4, mode="no_gate", mixed_memory=True, backbone_units=5),
    "cfc_pure_compiled": lambda: CfC(3, 4, mode="pure", mixed_memory=True, backbone_layers=0),
    "ltc": lambda: LTC(3, AutoNCP(6, 2), mixed_memory=True),
    "wired_cfc": lambda: CfC(3, AutoNCP(6, 2), mixed_memory=True),
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    """The hand-derived backward against finite differences, every input at once."""
    if name in ("ltc", "wired_cfc"):
        pytest.importorskip("numba")
    torch.manual_seed(0)
    model = GRADCHECK[name]().double()
    _move_pure_parameters(model)
    cell = model.cell
    units = cell.state_size
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    dt = (torch.rand(5, 2, dtype=torch.float64) + 0.1).requires_grad_()
    valid = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.bool)
    h0 = torch.randn(2, units, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, units, dtype=torch.float64, requires_grad=True)

    def run(x, dt, h0, c0, *params):
        return cell.fused_states(x, dt, valid, (h0, c0))

    assert torch.autograd.gradcheck(run, (x, dt, h0, c0, *cell.parameters()))


def test_fused_path_is_used_where_it_applies(calls):
    x = torch.randn(2, 5, 3)
    CfC(3, 8, mixed_memory=True)(x)
    assert calls
    calls.clear()
    with use_fused(False):
        CfC(3, 8, mixed_memory=True)(x)
    CfC(3, 8, mixed_memory=True, activation="silu")(x)  # not served: reference loop
    CfC(3, 8, mixed_memory=True, backbone_dropout=0.3).train()(x)
    assert not calls


LTCS = {
    "autoncp": lambda: LTC(5, AutoNCP(10, 2), mixed_memory=True),
    "fully_connected_linear_clamp": lambda: LTC(
        5, FullyConnected(6, 2), mixed_memory=True, input_mapping="linear", constraint="clamp"
    ),
    "stacked_bidirectional_proj": lambda: LTC(
        5, AutoNCP(10, 2), mixed_memory=True, num_layers=2, bidirectional=True, proj_size=3
    ),
    "last_output_time_first": lambda: LTC(
        5, 6, mixed_memory=True, return_sequences=False, batch_first=False
    ),
}


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("inputs", ["plain", "timespans", "lengths", "mask_timespans", "hx"])
@pytest.mark.parametrize("name", list(LTCS))
def test_ltc(name, inputs, dtype, rtol, atol, ltc_calls):
    torch.manual_seed(0)
    model = LTCS[name]().to(dtype)
    x, kw = _inputs(model, inputs if len(model.cells) == 1 or inputs != "hx" else "plain", dtype)
    assert_equal_paths(model, x, rtol, atol, calls=ltc_calls, inference=True, **kw)


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("recurrence", ["wiring", "ncps"])
@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_wired_cfc_configurations(mode, recurrence, dtype, rtol, atol, wired_calls):
    torch.manual_seed(0)
    model = CfC(5, AutoNCP(10, 2), mode=mode, recurrence=recurrence, mixed_memory=True)
    model = model.to(dtype)
    _move_pure_parameters(model)
    x, kw = _inputs(model, "mask_timespans", dtype)
    assert_equal_paths(model, x, rtol, atol, calls=wired_calls, inference=True, **kw)


WIRED = {
    "stacked_bidirectional_proj": lambda: CfC(
        5, AutoNCP(10, 2), mixed_memory=True, num_layers=2, bidirectional=True, proj_size=3
    ),
    "pure_ncp_time_first_last": lambda: CfC(
        5,
        NCP(3, 3, 2, 2, 2, 2, 2),
        mode="pure",
        mixed_memory=True,
        return_sequences=False,
        batch_first=False,
    ),  # fmt: skip
}


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("inputs", ["plain", "timespans", "lengths", "hx"])
@pytest.mark.parametrize("name", list(WIRED))
def test_wired_cfc_layer_options(name, inputs, dtype, rtol, atol, wired_calls):
    torch.manual_seed(0)
    model = WIRED[name]().to(dtype)
    _move_pure_parameters(model)
    x, kw = _inputs(model, inputs if len(model.cells) == 1 or inputs != "hx" else "plain", dtype)
    assert_equal_paths(model, x, rtol, atol, calls=wired_calls, inference=True, **kw)


def test_wired_cfc_several_batch_chunks(wired_calls):
    """A batch split into chunks (one per thread), the last one padded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = CfC(5, AutoNCP(10, 2), mode="no_gate", mixed_memory=True).double()
        x, kw = _inputs(model, "lengths", torch.float64, batch=70)
        assert_equal_paths(model, x, 1e-9, 1e-9, calls=wired_calls, **kw)
    finally:
        torch.set_num_threads(threads)
