"""The fused wired-CfC path equals the reference loop: outputs, state and every gradient."""

import pytest
import torch
from fused_paths import assert_equal_paths, sequence_inputs

from liquidtorch import NCP, AutoNCP, CfC, CustomWiring, FullyConnected, MultiLayerNCP
from liquidtorch.kernels import fused_enabled, use_fused

pytest.importorskip("numba")

TOLERANCES = [(torch.float32, 1e-5, 1e-5), (torch.float64, 1e-9, 1e-9)]

# inter (4, 5, 6) -> command (2, 3) -> motor (0, 1), plus a skip synapse (4 -> 1), feedback
# (0 -> 5, 1 -> 3), recurrence inside layers (4 -> 5, 3 -> 2) and a self-loop (6 -> 6).
_EDGES = {(4, 2): 1, (5, 3): -1, (6, 2): 1, (2, 0): 1, (3, 1): -1, (4, 1): 1, (0, 5): -1,
          (1, 3): 1, (4, 5): 1, (3, 2): -1, (6, 6): 1}  # fmt: skip
_ADJACENCY = [[_EDGES.get((i, j), 0) for j in range(7)] for i in range(7)]
_SENSORY = [[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, -1, 1], [0] * 7, [0, 0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, -1]]  # fmt: skip
_LAYERS = (("inter", (4, 5, 6)), ("command", (2, 3)), ("motor", (0, 1)))

WIRINGS = {
    "autoncp": lambda: AutoNCP(12, 3, seed=5),
    "ncp": lambda: NCP(4, 3, 2, 2, 2, 2, 2),
    "fully_connected": lambda: FullyConnected(6, 2),
    "multilayer": lambda: MultiLayerNCP((4, 3), 3, 2, 2, 2, 2, 2),
    "custom_skip_feedback": lambda: CustomWiring(_ADJACENCY, 2, _SENSORY, _LAYERS),
}


@pytest.fixture(autouse=True)
def kernel_calls(monkeypatch):
    """Records every call of the fused kernels."""
    from liquidtorch.kernels import wired_cfc as kernel

    calls = []
    real = kernel.WiredCfCScan.apply
    monkeypatch.setattr(kernel.WiredCfCScan, "apply", lambda *a: calls.append(1) or real(*a))
    return calls


def _inputs(model, inputs, dtype, batch=4, steps=9):
    """Batch-first (or time-first, as the model wants) input and keyword arguments."""
    return sequence_inputs(model, inputs, dtype, batch=batch, steps=steps, hx=True)


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("wiring", list(WIRINGS))
@pytest.mark.parametrize("recurrence", ["wiring", "ncps"])
@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_fused_equals_reference(mode, recurrence, wiring, dtype, rtol, atol, kernel_calls):
    model = CfC(5, WIRINGS[wiring](), mode=mode, recurrence=recurrence).to(dtype)
    if mode == "pure":  # move w_tau and A off their initial values (w_tau = 0: |w_tau| kinks)
        with torch.no_grad():
            for layer in model.cell.layers:
                layer.w_tau.uniform_(-0.5, 0.5)
                layer.A.uniform_(0.5, 1.5)
    x, kw = _inputs(model, "mask_timespans", dtype)
    assert_equal_paths(model, x, rtol, atol, calls=kernel_calls, **kw)


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("inputs", ["plain", "timespans", "lengths"])
def test_fused_equals_reference_inputs(inputs, dtype, rtol, atol, kernel_calls):
    model = CfC(5, AutoNCP(10, 2)).to(dtype)
    x, kw = _inputs(model, inputs, dtype)
    assert_equal_paths(model, x, rtol, atol, calls=kernel_calls, **kw)


LAYERS = {
    "stacked_bidirectional_proj": lambda: CfC(
        5, AutoNCP(10, 2), num_layers=2, bidirectional=True, proj_size=3
    ),
    "stacked_pure_ncps": lambda: CfC(
        5, NCP(3, 3, 2, 2, 2, 2, 2), mode="pure", recurrence="ncps", num_layers=2
    ),
    "last_output_time_first": lambda: CfC(
        5, AutoNCP(8, 3), mode="no_gate", return_sequences=False, batch_first=False
    ),
}


@pytest.mark.parametrize("dtype, rtol, atol", TOLERANCES)
@pytest.mark.parametrize("name", list(LAYERS))
def test_fused_equals_reference_layer_options(name, dtype, rtol, atol, kernel_calls):
    model = LAYERS[name]().to(dtype)
    x, kw = _inputs(model, "mask_timespans", dtype)
    assert_equal_paths(model, x, rtol, atol, calls=kernel_calls, **kw)


def test_fused_path_is_used_and_can_be_turned_off(kernel_calls):
    x = torch.randn(2, 4, 3)
    CfC(3, AutoNCP(8, 2))(x)
    assert kernel_calls and fused_enabled()
    kernel_calls.clear()
    with use_fused(False):
        CfC(3, AutoNCP(8, 2))(x)
        CfC(3, AutoNCP(8, 2), mixed_memory=True)(x)
    assert not kernel_calls
    CfC(3, AutoNCP(8, 2), mixed_memory=True)(x)  # mixed memory: the LSTM inside the kernel
    assert kernel_calls


def test_masked_weights_get_exactly_zero_gradient():
    model = CfC(3, AutoNCP(10, 2))
    y, _ = model(torch.randn(4, 6, 3))
    y.sum().backward()
    for layer in model.cell.layers:
        assert (layer.heads.weight.grad[layer.mask == 0] == 0).all()
        assert (layer.heads.weight.grad[layer.mask != 0] != 0).any()


def test_several_batch_chunks(kernel_calls):
    """A batch split into chunks (one per thread), the last one padded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = CfC(5, AutoNCP(10, 2), mode="no_gate").double()
        x, kw = _inputs(model, "lengths", torch.float64, batch=70)
        assert_equal_paths(model, x, 1e-9, 1e-9, calls=kernel_calls, **kw)
    finally:
        torch.set_num_threads(threads)


def test_changed_masks_are_honoured(kernel_calls):
    """The edge lists follow the mask buffers (e.g. after pruning synapses in place); masks
    that differ between paired heads fall back to the reference loop."""
    model = CfC(3, AutoNCP(10, 2)).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    model(x)  # builds the edge lists
    with torch.no_grad():
        model.cell.layers[1].mask[:, :2] = 0
    with use_fused(False):
        want = model(x)[0]
    kernel_calls.clear()
    torch.testing.assert_close(model(x)[0], want, rtol=1e-12, atol=1e-12)
    assert kernel_calls

    kernel_calls.clear()
    with torch.no_grad():
        model.cell.layers[0].mask[0, :] = 0  # ff1 of one neuron only, not ff2
    with use_fused(False):
        want = model(x)[0]
    torch.testing.assert_close(model(x)[0], want, rtol=1e-12, atol=1e-12)
    assert not kernel_calls
