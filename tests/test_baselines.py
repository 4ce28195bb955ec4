"""The baselines: shapes through the shared sequence API, gradients, and each model's maths."""

import math
import sys

import numpy as np
import pytest
import torch
from tiny_models import tiny  # noqa: I001

from liquidtorch.baselines import (
    CTGRU,
    CTRNN,
    LSTM,
    CTGRUCell,
    CTRNNCell,
    GRUCell,
    NeuralODE,
    ODEMethod,
    ODERNNCell,
)
from liquidtorch.baselines._ode import ORDER, Integrator, odeint_fixed
from liquidtorch.zoo import list_models

close = torch.testing.assert_close
F64 = torch.float64

BASELINES = list_models(family="baseline")


def _parts(state):
    return state if isinstance(state, tuple) else (state,)


def _perturb_(module, scale=0.3):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))


# ---------------------------------------------------------------- state sizes
@pytest.mark.parametrize("name", BASELINES)
def test_float64_and_state_sizes(name):
    model = tiny(name, inputs=2).layer.double()
    y, _ = model(torch.randn(2, 3, 2, dtype=F64), timespans=0.5)
    assert y.dtype == F64
    cell = model.cell
    assert model.state_size == 8 * getattr(cell, "num_scales", 1)
    assert cell.output_size == 8 and cell.input_size == 2


# ------------------------------------------------------ dt -> 0 consistency
@pytest.mark.parametrize("name", ["ctrnn", "node"])
def test_ode_cells_barely_move_for_tiny_dt(name):
    cell = tiny(name, inputs=2).layer.cell.double()
    x, h = torch.randn(4, 2, dtype=F64), torch.randn(4, 8, dtype=F64)
    close(cell(x, h, 0.0)[1], h, atol=0, rtol=0)
    for eps in (1e-4, 1e-6):
        moved = (cell(x, h, eps)[1] - h).abs().max().item()
        assert 0 < moved < 10 * eps


def test_odernn_with_zero_dt_is_the_gru_update():
    cell = ODERNNCell(2, 3).double()
    x, h = torch.randn(4, 2, dtype=F64), torch.randn(4, 3, dtype=F64)
    close(cell(x, h, 0.0)[1], cell.gru(x, h), atol=0, rtol=0)
    close(cell(x, h, 1e-7)[1], cell.gru(x, h), atol=1e-6, rtol=0)
    assert (cell(x, h, 1.0)[1] - cell.gru(x, h)).abs().max() > 1e-3


# ------------------------------------------------------------- ODE maths
def test_fixed_step_integrator_on_an_exact_solution():
    dt = torch.tensor([[0.5], [2.0]], dtype=F64)
    h0 = torch.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=F64)
    exact = h0 * torch.exp(-dt)
    close(odeint_fixed(lambda h: -h, h0, dt, 64, "rk4"), exact, atol=1e-7, rtol=0)
    close(odeint_fixed(lambda h: -h, h0, dt, 4096, "euler"), exact, atol=1e-3, rtol=0)
    close(odeint_fixed(lambda h: -h, h0, 0.5, 1, "euler"), 0.5 * h0)
    with pytest.raises(ValueError, match="fixed-step"):
        odeint_fixed(lambda h: -h, h0, dt, 4, "dopri5")


@pytest.mark.parametrize(
    "method, unfolds", [(ODEMethod.EULER, [16, 32, 64, 128]), (ODEMethod.RK4, [8, 16, 32])]
)
def test_ctrnn_converges_at_the_method_order(method, unfolds):
    torch.manual_seed(1)
    cell = CTRNNCell(3, 6, method="rk4", unfolds=2048).double()
    _perturb_(cell)
    x, h0 = torch.randn(2, 3, dtype=F64), torch.randn(2, 6, dtype=F64)
    dt = 1.5
    ref = cell(x, h0, dt)[1]
    errs = []
    for k in unfolds:
        cell.integrator = Integrator(method, k)
        errs.append((cell(x, h0, dt)[1] - ref).abs().max().item())
    slope = np.polyfit(np.log([dt / k for k in unfolds]), np.log(errs), 1)[0]
    assert abs(slope - ORDER[method]) < 0.25, (errs, slope)


def test_ctrnn_tau_is_positive_and_initialised():
    cell = CTRNNCell(2, 3, tau_init=2.5)
    close(cell.tau, torch.full((3,), 2.5))
    with torch.no_grad():
        cell.raw_tau.fill_(-30.0)
    assert (cell.tau > 0).all()


def test_ctrnn_matches_its_equation():
    cell = CTRNNCell(2, 3, method="euler", unfolds=1).double()
    _perturb_(cell)
    x, h = torch.randn(4, 2, dtype=F64), torch.randn(4, 3, dtype=F64)
    W_in, b = cell.input_map.weight, cell.input_map.bias
    W_h, tau = cell.recurrent_map.weight, torch.nn.functional.softplus(cell.raw_tau)
    f = (-h + torch.tanh(x @ W_in.T + h @ W_h.T + b)) / tau
    close(cell(x, h, 0.1)[1], h + 0.1 * f)


# ----------------------------------------------------------------- CT-GRU
@pytest.mark.parametrize("storage_bias, open_scale", [(-100.0, 0), (100.0, -1)])
def test_ctgru_traces_decay_exponentially_when_storage_is_closed(storage_bias, open_scale):
    """With the storage scale pinned far below (above) every tau_k, only the fastest (slowest)
    trace stores the signal; every other trace just decays by exp(-dt / tau_k)."""
    cell = CTGRUCell(2, 3, num_scales=5, tau_min=0.5, tau_max=50.0).double()
    _perturb_(cell)
    n = cell.units
    with torch.no_grad():  # W_S = 0, U_S = 0, b_S = storage_bias
        cell.input_map.weight[n : 2 * n] = 0.0
        cell.input_map.bias[n : 2 * n] = storage_bias
        cell.recurrent_map.weight[n:] = 0.0
    x, state = torch.randn(4, 2, dtype=F64), torch.randn(4, cell.state_size, dtype=F64)
    dt = torch.tensor([[0.1], [1.0], [3.0], [20.0]], dtype=F64)
    y, new = cell(x, state, dt)
    old, new = cell.traces(state), cell.traces(new)
    decay = torch.exp(-dt.unsqueeze(-1) / cell.tau)
    closed = [k for k in range(cell.num_scales) if k != open_scale % cell.num_scales]
    close(new[..., closed], old[..., closed] * decay[..., closed], atol=1e-12, rtol=0)
    close(y, new.sum(-1))
    # The open trace was overwritten by the signal q in (-1, 1), then decayed.
    stored = new[..., open_scale] / decay[..., open_scale]
    assert (stored.abs() < 1).all()
    assert not torch.allclose(stored, old[..., open_scale])


def test_ctgru_matches_the_paper_equations():
    """Mozer et al. 2017, section 3, written unit by unit in NumPy."""
    cell = CTGRUCell(2, 3, num_scales=4, tau_min=1.0, tau_max=1000.0).double()
    _perturb_(cell)
    close(cell.tau, torch.tensor([1.0, 10.0, 100.0, 1000.0], dtype=F64))
    x, state = torch.randn(2, 2, dtype=F64), torch.randn(2, cell.state_size, dtype=F64)
    dt = 0.7
    W, b = cell.input_map.weight.detach().numpy(), cell.input_map.bias.detach().numpy()
    U = cell.recurrent_map.weight.detach().numpy()
    U_q = cell.retrieved_map.weight.detach().numpy()
    ln_tau = np.log([1.0, 10.0, 100.0, 1000.0])

    def scales(ln):
        w = np.exp(-((ln - ln_tau) ** 2))
        return w / w.sum()

    expected = np.zeros((2, 3, 4))
    for i in range(2):
        hk = state[i].numpy().reshape(3, 4)
        h = hk.sum(-1)
        pre = W @ x[i].numpy() + b  # [W_R x; W_S x; W_Q x] + b
        r = [scales(pre[j] + U[j] @ h) for j in range(3)]
        retrieved = np.array([(r[j] * hk[j]).sum() for j in range(3)])
        for j in range(3):
            s = scales(pre[3 + j] + U[3 + j] @ h)
            q = np.tanh(pre[6 + j] + U_q[j] @ retrieved)
            expected[i, j] = ((1 - s) * hk[j] + s * q) * np.exp(-dt / np.exp(ln_tau))
    y, new = cell(x, state, dt)
    close(cell.traces(new), torch.from_numpy(expected))
    close(y, torch.from_numpy(expected.sum(-1)))


# --------------------------------------------- sequence contract (one model)
def test_padded_batch_equals_separate_runs():
    model = LSTM(2, 4, num_layers=2)
    lengths = [5, 2, 4]
    x, ts = torch.randn(3, 5, 2), torch.rand(3, 5) + 0.1
    y, (h, c) = model(x, timespans=ts, lengths=lengths)
    for i, n in enumerate(lengths):
        yi, (hi, ci) = model(x[i : i + 1, :n], timespans=ts[i : i + 1, :n])
        close(y[i, :n], yi[0])
        close(y[i, n:], torch.zeros_like(y[i, n:]))
        close(h[:, i], hi[:, 0])
        close(c[:, i], ci[:, 0])


def test_streaming_step_equals_whole_sequence():
    model = CTGRU(2, 4, num_scales=3, num_layers=2, proj_size=1)
    x, ts = torch.randn(3, 6, 2), torch.rand(3, 6) + 0.1
    y, state = model(x, timespans=ts)
    s = None
    for t in range(6):
        yt, s = model.step(x[:, t], s, ts[:, t])
        close(yt, y[:, t])
    close(s, state)


# --------------------------------------------------------------- options
def test_bad_options_get_clear_errors():
    with pytest.raises(ValueError, match="method"):
        CTRNNCell(2, 3, method="midpoint")
    with pytest.raises(ValueError, match="unfolds"):
        NeuralODE(2, 3, unfolds=0)
    with pytest.raises(ValueError, match="units"):
        GRUCell(2, 0)
    with pytest.raises(ValueError, match="tau_min"):
        CTGRUCell(2, 3, tau_min=5.0, tau_max=1.0)
    with pytest.raises(ValueError, match="tau_init"):
        CTRNN(2, 3, tau_init=0.0)
    assert "rk4(6)" in repr(ODERNNCell(2, 3))


def test_dopri5_without_torchdiffeq_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchdiffeq", None)
    with pytest.raises(ImportError, match="pip install torchdiffeq"):
        ODERNNCell(2, 3, method="dopri5")


def test_odernn_dopri5_agrees_with_fine_rk4():
    pytest.importorskip("torchdiffeq")
    cell = ODERNNCell(2, 3, method="dopri5", rtol=1e-9, atol=1e-10).double()
    _perturb_(cell)
    x, h = torch.randn(4, 2, dtype=F64), torch.randn(4, 3, dtype=F64)
    dt = torch.tensor([[0.1], [0.5], [1.0], [3.0]], dtype=F64)
    adaptive = cell(x, h, dt)[1]
    cell.integrator = Integrator("rk4", 256)
    close(adaptive, cell(x, h, dt)[1], atol=1e-7, rtol=0)
    assert math.isfinite(adaptive.sum().item())
