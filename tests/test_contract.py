"""The contract every registered model and its cells keep (timm's test_models pattern).

Nothing here lists models by hand: every entry of the registry (``liquidtorch.zoo``) gets
these tests by being registered. Each builds a tiny instance and checks: shapes (stacked,
bidirectional, projected, last output, unbatched); a padded batch equals separate runs;
streaming equals the whole sequence; state carries over between calls; gradcheck in float64
through the layer and through its cell; the fused path equals the reference loop where one
exists; the description round-trips (config -> fresh model, same outputs); CUDA equals CPU
(skipped without CUDA); a layer's defaults equal its cell's.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from liquidtorch.kernels import use_fused
from liquidtorch.zoo import list_models, model_from_config

pytestmark = pytest.mark.usefixtures("one_thread")

from tiny_models import INPUTS, OUTPUTS, tiny  # noqa: E402

NAMES = list_models()
STEPS = 6
close = torch.testing.assert_close


def _perturb_(module: torch.nn.Module, scale: float = 0.1) -> None:
    """Move every parameter off its initial value (a pure CfC's ``w_tau`` starts at 0,
    where ``|w_tau|`` has a zero gradient)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))


def _parts(state):
    return state if isinstance(state, tuple) else (state,)


def _inputs(batch=3, steps=STEPS, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, INPUTS, generator=g, dtype=dtype)
    ts = (torch.rand(batch, steps, generator=g, dtype=dtype) * 1.5 + 0.1).to(dtype)
    return x, ts


# ------------------------------------------------------------------------ shapes
SHAPE_CASES = {
    "plain": {},
    "stacked": {"num_layers": 2},
    "bidirectional": {"bidirectional": True},
    "stacked_bidirectional_proj": {"num_layers": 2, "bidirectional": True, "proj_size": 1},
}


@pytest.mark.parametrize("case", list(SHAPE_CASES))
@pytest.mark.parametrize("name", NAMES)
def test_shapes(name, case):
    kw = SHAPE_CASES[case]
    layer = tiny(name, **kw).layer
    cells = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    out = kw.get("proj_size") or layer.cells[-1].output_size * (2 if kw.get("bidirectional") else 1)
    assert layer.output_size == out
    lead = (cells,) if cells > 1 else ()
    x, ts = _inputs()
    for batched in (True, False):
        xi, ti = (x, ts) if batched else (x[0], ts[0])
        y, state = layer(xi, timespans=ti)
        b = (3,) if batched else ()
        assert y.shape == b + (STEPS, out)
        for part in _parts(state):
            assert part.shape == lead + b + (layer.state_size,)
        layer(xi, state, timespans=ti)  # the returned state is accepted back


@pytest.mark.parametrize("per_step", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_model_heads(name, per_step):
    model = tiny(name, per_step=per_step)
    x, ts = _inputs()
    y = model(x, ts, lengths=torch.tensor([STEPS, 2, 4]))
    assert y.shape == ((3, STEPS, OUTPUTS) if per_step else (3, OUTPUTS))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_mean_head_averages_the_valid_steps(name):
    """head='mean': the head's predictions averaged over each sequence's valid steps, equal
    to the per-step model's predictions averaged by hand (same weights)."""
    pooled = tiny(name, per_step=False, head="mean")
    per_step = tiny(name, per_step=True)
    per_step.load_state_dict(pooled.state_dict())
    x, ts = _inputs()
    lengths = torch.tensor([STEPS, 2, 4])
    y = pooled(x, ts, lengths=lengths)
    steps = per_step(x, ts, lengths=lengths)
    want = torch.stack([steps[i, :n].mean(0) for i, n in enumerate(lengths.tolist())])
    close(y, want, atol=1e-6, rtol=1e-5)
    valid = torch.arange(STEPS).unsqueeze(0) < lengths.unsqueeze(1)
    close(pooled(x, ts, mask=valid), y)
    again = model_from_config(pooled.config)  # the head is part of the description
    again.load_state_dict(pooled.state_dict())
    close(again(x, ts, lengths=lengths), y, atol=0, rtol=0)


# ---------------------------------------------------------------- padding, state
@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_padded_batch_equals_separate_runs(name, use_mask):
    layer = tiny(name).layer
    lengths = [STEPS, 2, 4]
    x, ts = _inputs()
    x_pad, ts_pad = x.clone(), ts.clone()
    for i, n in enumerate(lengths):
        x_pad[i, n:] = float("nan")  # padding must not matter, even NaN
        ts_pad[i, n:] = 0.0  # nor invalid elapsed times
    valid = torch.arange(STEPS).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    kw = {"mask": valid} if use_mask else {"lengths": torch.tensor(lengths)}
    y, h = layer(x_pad, timespans=ts_pad, **kw)
    for i, n in enumerate(lengths):
        yi, hi = layer(x[i : i + 1, :n], timespans=ts[i : i + 1, :n])
        close(y[i : i + 1, :n], yi, atol=1e-6, rtol=1e-5)
        assert (y[i, n:] == 0).all()
        for a, b in zip(_parts(h), _parts(hi), strict=True):
            close(a[i : i + 1], b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_streaming_equals_whole_sequence(name):
    layer = tiny(name, num_layers=2, proj_size=3).layer
    x, ts = _inputs()
    y, h = layer(x, timespans=ts)
    state, ys = None, []
    for t in range(STEPS):
        yt, state = layer.step(x[:, t], state, dt=ts[:, t])
        ys.append(yt)
    close(torch.stack(ys, 1), y, atol=1e-6, rtol=1e-5)
    for a, b in zip(_parts(state), _parts(h), strict=True):
        close(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_fast_streaming_equals_whole_sequence(name):
    """One layer, a scalar dt, no autograd: the streaming fast lane where a cell has one."""
    layer = tiny(name).layer.eval()
    x, _ = _inputs()
    with torch.no_grad():
        y, h = layer(x, timespans=0.7)
        state, ys = None, []
        for t in range(STEPS):
            yt, state = layer.step(x[:, t], state, dt=0.7)
            ys.append(yt)
    close(torch.stack(ys, 1), y, atol=1e-5, rtol=1e-5)
    for a, b in zip(_parts(state), _parts(h), strict=True):
        close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_state_carries_over_between_calls(name):
    layer = tiny(name).layer
    x, ts = _inputs()
    y, _ = layer(x, timespans=ts)
    y1, h1 = layer(x[:, :2], timespans=ts[:, :2])
    y2, _ = layer(x[:, 2:], h1, timespans=ts[:, 2:])
    close(torch.cat([y1, y2], 1), y, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_elapsed_time_matters_and_zero_steps_are_refused(name):
    layer = tiny(name).layer
    x, _ = _inputs()
    assert not torch.allclose(layer(x, timespans=0.3)[0], layer(x, timespans=2.0)[0])
    with pytest.raises(ValueError, match="at least one step"):
        layer(x[:, :0])
    with pytest.raises(ValueError, match="dtype"):
        layer(x.double())


@pytest.mark.parametrize("name", NAMES)
def test_cell_per_sample_elapsed_times_equal_separate_calls(name):
    cell = tiny(name).layer.cells[0]
    x = torch.randn(4, INPUTS)
    state = tuple(torch.randn_like(p) for p in _parts(cell.init_state(4)))
    state = state if len(state) > 1 else state[0]
    a, b = cell(x, state, 0.3)[0], cell(x, state, 2.0)[0]
    assert (a - b).abs().max() > 1e-4
    both = cell(x, state, torch.tensor([0.3, 2.0, 0.3, 2.0]))[0]
    close(both[0::2], a[0::2])
    close(both[1::2], b[1::2])


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    model = tiny(name, num_layers=2, bidirectional=True)
    _perturb_(model)
    x, ts = _inputs()
    model(x, ts).pow(2).sum().backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, key


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64_layer(name):
    """Through the layer (the fused path where it applies): input, initial state, times.

    ``fast_mode`` compares a random projection of the Jacobian (``v^T J u``) instead of every
    entry: a wrong gradient still fails (with probability 1), at a fraction of the cost;
    ``tests/test_cells.py`` checks each cell's full Jacobian."""
    layer = tiny(name, dtype=torch.float64).layer
    x, ts = _inputs(batch=2, steps=3, dtype=torch.float64)
    x.requires_grad_()
    ts.requires_grad_()
    hx = tuple(0.3 * torch.randn_like(p) for p in _parts(layer.init_state(2, dtype=torch.float64)))
    hx = tuple(p.requires_grad_() for p in hx)

    def f(x, ts, *hx):
        y, h = layer(x, hx if len(hx) > 1 else hx[0], timespans=ts)
        return (y, *_parts(h))

    assert torch.autograd.gradcheck(f, (x, ts, *hx), fast_mode=True)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64_cell_parameters(name):
    """Through one cell step (the reference maths), with respect to every parameter."""
    cell = tiny(name, dtype=torch.float64).layer.cells[0]
    _perturb_(cell)
    x = torch.randn(2, INPUTS, dtype=torch.float64)
    state = tuple(
        0.3 * torch.randn_like(p) for p in _parts(cell.init_state(2, dtype=torch.float64))
    )
    state = state if len(state) > 1 else state[0]
    dt = torch.rand(2, 1, dtype=torch.float64) + 0.2
    names = [k for k, p in cell.named_parameters() if p.requires_grad]
    values = tuple(p.detach().clone().requires_grad_() for _, p in cell.named_parameters())

    def with_params(*ps):
        y, new = torch.func.functional_call(cell, dict(zip(names, ps, strict=True)), (x, state, dt))
        return (y, *_parts(new))

    with use_fused(False):
        assert torch.autograd.gradcheck(with_params, values, fast_mode=True)


# ---------------------------------------------------------------------- fused paths
@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_reference(name):
    from fused_paths import assert_equal_paths

    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-9)):
        model = tiny(name, dtype=dtype, bidirectional=True).layer
        x, ts = _inputs(dtype=dtype)
        assert_equal_paths(model, x, tol, tol, timespans=ts, lengths=torch.tensor([STEPS, 2, 4]))


# ------------------------------------------------------------------- descriptions
@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    model = tiny(name, per_step=False, num_layers=2)
    again = model_from_config(model.config)
    again.load_state_dict(model.state_dict())
    x, ts = _inputs()
    close(again(x, ts), model(x, ts), atol=0, rtol=0)
    layer = type(model.layer).from_config(model.layer.config)
    layer.load_state_dict(model.layer.state_dict())
    close(layer(x, timespans=ts)[0], model.layer(x, timespans=ts)[0], atol=0, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_layer_defaults_equal_the_cells(name):
    """A keyword the layer passes on to its cell has the cell's default (None on the layer
    means "the cell's default")."""
    layer = tiny(name).layer
    cells = {type(m) for m in layer.modules() if hasattr(m, "init_state") and m is not layer}
    layer_params = inspect.signature(type(layer).__init__).parameters
    for cell_type in cells:
        for key, p in inspect.signature(cell_type.__init__).parameters.items():
            if key in layer_params and p.default is not inspect.Parameter.empty:
                default = layer_params[key].default
                assert default is None or default == p.default, (cell_type.__name__, key)


# -------------------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    cpu = tiny(name, dtype=torch.float64)
    gpu = tiny(name, dtype=torch.float64).cuda()
    gpu.load_state_dict(cpu.state_dict())
    x, ts = _inputs(dtype=torch.float64)
    lengths = torch.tensor([STEPS, 2, 4])
    y_cpu = cpu(x, ts, lengths=lengths)
    y_gpu = gpu(x.cuda(), ts.cuda(), lengths=lengths.cuda())
    close(y_gpu.cpu(), y_cpu, rtol=1e-9, atol=1e-9)
    y_cpu.sum().backward()
    y_gpu.sum().backward()
    for (n, p), q in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        close(q.grad.cpu(), p.grad, rtol=1e-7, atol=1e-9, msg=n)


# --------------------------------------------------------------- a new cell type
class LeakyCell(torch.nn.Module):
    """A new cell type, as a user would write it: one step with explicit state,
    ``h' = h + (1 - exp(-dt)) * (tanh(W x + U h) - h)``."""

    def __init__(self, input_size: int, units: int, *, bias: bool = True):
        super().__init__()
        self.input_size, self.units = input_size, units
        self.state_size = self.output_size = units
        self.inp = torch.nn.Linear(input_size, units, bias=bias)
        self.rec = torch.nn.Linear(units, units, bias=False)

    def init_state(self, batch: int, device=None, dtype=None) -> torch.Tensor:
        return torch.zeros(batch, self.units, device=device, dtype=dtype or self.inp.weight.dtype)

    def forward(self, x, h, dt=1.0):
        dt = dt if isinstance(dt, float) else dt.reshape(-1, 1)
        rate = -torch.expm1(-torch.as_tensor(dt, dtype=x.dtype))
        h = h + rate * (torch.tanh(self.inp(x) + self.rec(h)) - h)
        return h, h


@pytest.fixture
def leaky_registered():
    """Adding a cell type: the cell, a layer from ``layer_class`` and one registration."""
    from liquidtorch import zoo
    from liquidtorch.layers import layer_class

    Leaky = layer_class(LeakyCell, "LeakyLayer")
    zoo.register_model("leaky", family="baseline", description="leaky integrator (test)")(
        lambda i, u, o, kw: Leaky(i, u, **kw)
    )
    yield "leaky"
    del zoo._REGISTRY["leaky"]


def test_a_new_cell_type_gets_the_contract_by_registration(leaky_registered):
    name = leaky_registered
    assert name in list_models(family="baseline")
    for case in SHAPE_CASES:
        test_shapes(name, case)
    test_model_heads(name, per_step=False)
    test_padded_batch_equals_separate_runs(name, use_mask=True)
    test_streaming_equals_whole_sequence(name)
    test_state_carries_over_between_calls(name)
    test_cell_per_sample_elapsed_times_equal_separate_calls(name)
    test_gradcheck_float64_layer(name)
    test_gradcheck_float64_cell_parameters(name)
    test_config_round_trip(name)
    test_layer_defaults_equal_the_cells(name)
