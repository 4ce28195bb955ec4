"""What the fused paths derive from a model is never stale: after every way of changing a
parameter or a mask, the fused forward and ``step()`` equal the reference loop; tiny
elapsed times and other dtypes give a correct result or a clear error."""

import copy
import pickle

import pytest
import torch

from liquidtorch import LTC, RK4, AutoNCP, CfC, Euler, SemiImplicit
from liquidtorch.cells import CfCCell, LTCCell, WiredCfCCell
from liquidtorch.kernels import use_fused

pytest.importorskip("numba")
pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = {
    "ltc_ncp": lambda: LTC(4, AutoNCP(10, 2, seed=1)),
    "ltc_dense_clamp": lambda: LTC(4, 6, constraint="clamp", input_mapping="linear"),
    "cfc": lambda: CfC(4, 6, backbone_units=8),
    "cfc_pure_no_backbone": lambda: CfC(4, 6, mode="pure", backbone_layers=0),
    "wired_cfc": lambda: CfC(4, AutoNCP(10, 2, seed=1)),
}


def _scale_data(model, other):
    with torch.no_grad():
        for p in model.parameters():
            p.data.mul_(1.5)  # bypasses the version counter


def _load_assign(model, other):
    model.load_state_dict(other.state_dict(), assign=True)


def _load_copy(model, other):
    model.load_state_dict(other.state_dict())


def _replace_data(model, other):
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        p.data = q.data.clone()


def _double(model, other):
    model.double()


def _to_float64(model, other):
    model.to(torch.float64)


CHANGES = [_scale_data, _load_assign, _load_copy, _replace_data, _double, _to_float64]


def _outputs(model, x):
    """Whole-sequence output (no gradients), streamed outputs and the gradient of the input."""
    with torch.no_grad():
        y = model(x)[0]
        state, steps = None, []
        for t in range(x.shape[1]):
            out, state = model.step(x[:, t], state)
            steps.append(out)
    xg = x.clone().requires_grad_()
    model(xg)[0].square().sum().backward()
    return y, torch.stack(steps, 1), xg.grad


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("name", list(MODELS))
def test_fused_paths_see_every_parameter_change(name, change):
    torch.manual_seed(0)
    model, other = MODELS[name](), MODELS[name]()
    with torch.no_grad():  # make the other model's values clearly different
        for p in other.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(3, 5, 4)
    before = _outputs(model, x)  # fills every cache
    change(model, other)
    x = x.to(next(model.parameters()).dtype)
    fused = _outputs(model, x)
    with use_fused(False):
        reference = _outputs(model, x)
    for a, b in zip(fused, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    if change not in (_double, _to_float64):  # the change changed the answer
        assert not torch.allclose(fused[0], before[0].to(fused[0].dtype), atol=1e-4)


@pytest.mark.parametrize("name", list(MODELS))
def test_copies_and_pickles_do_not_share_caches(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    x = torch.randn(2, 4, 4)
    want = _outputs(model, x)
    twin = copy.deepcopy(model)
    thawed = pickle.loads(pickle.dumps(model))
    _scale_data(model, None)
    for m in (twin, thawed):
        for a, b in zip(_outputs(m, x), want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_ltc_state_dict_of_another_wiring_is_followed_by_the_fused_paths():
    """Masks are buffers: an equally sized LTC of another wiring loads, and every path then
    uses the loaded synapses (the edge lists follow the masks' values)."""
    torch.manual_seed(0)
    source, target = LTC(4, AutoNCP(10, 2, seed=1)), LTC(4, AutoNCP(10, 2, seed=2))
    assert not torch.equal(source.cell.mask, target.cell.mask)
    x = torch.randn(3, 5, 4)
    _outputs(target, x)  # edge lists of the constructor's wiring
    target.load_state_dict(source.state_dict())
    with use_fused(False):
        want = _outputs(source, x)
    for a, b in zip(_outputs(target, x), want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_pruned_masks_are_followed_by_the_fused_paths():
    torch.manual_seed(0)
    model = LTC(4, AutoNCP(10, 2, seed=1))
    x = torch.randn(3, 5, 4)
    _outputs(model, x)
    model.cell.mask.data[:, :3] = 0  # through .data: no version bump
    model.cell.sensory_mask.data[0] = 0
    with use_fused(False):
        want = _outputs(model, x)
    for a, b in zip(_outputs(model, x), want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype, dt", [(torch.float32, 1e-39), (torch.float64, 1e-310)])
@pytest.mark.parametrize("solver", [SemiImplicit(), Euler(), RK4(2)], ids=str)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("tensor_dt", [True, False])
def test_ltc_tiny_elapsed_time_gives_the_held_state(solver, fused, tensor_dt, dtype, dt):
    """A tiny but valid elapsed time leaves the state (almost exactly) unchanged, with
    finite gradients, on every solver and the fused path."""
    torch.manual_seed(0)
    model = LTC(3, AutoNCP(8, 2), solver=solver).to(dtype)
    x = torch.randn(2, 4, 3, dtype=dtype, requires_grad=True)
    hx = torch.randn(2, 8, dtype=dtype) * 0.3
    ts = torch.full((2, 4), dt, dtype=dtype, requires_grad=True) if tensor_dt else dt
    with use_fused(fused):
        y, h = model(x, hx, timespans=ts)
        (y.sum() + h.sum()).backward()
    torch.testing.assert_close(h, hx, rtol=0, atol=1e-6)
    grads = [x.grad, *(p.grad for p in model.parameters())] + ([ts.grad] if tensor_dt else [])
    assert all(torch.isfinite(g).all() for g in grads)
    with torch.no_grad(), use_fused(fused):
        y_step, h_step = model.step(x[:, 0].detach(), hx, dt)
    torch.testing.assert_close(h_step, hx, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "cell",
    [CfCCell(3, 4), WiredCfCCell(3, AutoNCP(8, 2)), LTCCell(3, 5)],
    ids=lambda c: type(c).__name__,
)
def test_cells_reject_another_dtype_clearly(cell):
    x = torch.randn(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^x: dtype torch.float64 does not match"):
        cell(x, cell.init_state(2))
    with pytest.raises(ValueError, match=r"^state: dtype torch.float64"):
        cell(x.float(), cell.init_state(2, dtype=torch.float64))
    y, _ = cell.double()(x, cell.init_state(2, dtype=torch.float64))  # cast: works
    assert y.dtype == torch.float64


@pytest.mark.parametrize(
    "make", [lambda: CfC(3, 6), lambda: CfC(3, AutoNCP(8, 2)), lambda: LTC(3, 6)]
)
def test_float16_on_cpu_gives_the_float32_result(make):
    torch.manual_seed(0)
    model = make()
    x = torch.randn(2, 5, 3)
    want = model(x)[0]
    got = model.half()(x.half())[0]
    assert got.dtype == torch.float16
    torch.testing.assert_close(got.float(), want, rtol=0, atol=2e-2)
