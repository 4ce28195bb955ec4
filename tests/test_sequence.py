"""The sequence contract: timespans, padding, streaming, stacking, state, bad input."""

import pytest
import torch
from tiny_models import tiny  # noqa: I001

from liquidtorch import LTC, AutoNCP, CfC
from liquidtorch.zoo import list_models

torch.set_default_dtype(torch.float32)


close = torch.testing.assert_close


@pytest.fixture(params=list_models())
def make(request):
    """Layers of the registered model ``request.param`` with 4 input features (tiny)."""

    def build(**kw):
        per_step = kw.pop("return_sequences", True)
        return tiny(request.param, per_step=per_step, inputs=4, **kw).layer

    return build


def _first(state, i):
    """Sample i of a (batch-leading) state."""
    return tuple(s[i : i + 1] for s in state) if isinstance(state, tuple) else state[i : i + 1]


@pytest.mark.parametrize("trailing_one", [False, True])
def test_batched_timespans_equal_separate_runs(make, trailing_one):
    model = make()
    x = torch.randn(3, 9, 4)
    ts = torch.rand(3, 9) * 2 + 0.05
    y, h = model(x, timespans=ts.unsqueeze(-1) if trailing_one else ts)
    for i in range(3):
        yi, hi = model(x[i : i + 1], timespans=ts[i : i + 1])
        close(y[i : i + 1], yi, atol=1e-6, rtol=1e-5)
        close(_first(h, i), hi, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_batch_equals_separate_runs(make, use_mask, bidirectional):
    model = make(bidirectional=bidirectional)
    lengths = [7, 3, 5]
    seqs = [torch.randn(n, 4) for n in lengths]
    ts = [torch.rand(n) + 0.1 for n in lengths]
    x = torch.full((3, 7, 4), float("nan"))  # padding must not matter, even NaN
    t = torch.zeros(3, 7)  # invalid timespans in the padding must not matter either
    for i, (s, d) in enumerate(zip(seqs, ts, strict=True)):
        x[i, : len(s)] = s
        t[i, : len(d)] = d
    kw = (
        {"mask": torch.arange(7).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)}
        if use_mask
        else {"lengths": torch.tensor(lengths)}
    )
    y, h = model(x, timespans=t, **kw)
    assert torch.isfinite(y).all()
    last_model = make(bidirectional=bidirectional, return_sequences=False)
    last_model.load_state_dict(model.state_dict())
    y_last, _ = last_model(x, timespans=t, **kw)
    for i, (s, d) in enumerate(zip(seqs, ts, strict=True)):
        yi, hi = model(s.unsqueeze(0), timespans=d.unsqueeze(0))
        n = len(s)
        close(y[i : i + 1, :n], yi, atol=1e-6, rtol=1e-5)
        assert (y[i, n:] == 0).all()
        if not bidirectional:
            close(_first(h, i), hi, atol=1e-6, rtol=1e-5)
        yi_last, _ = last_model(s.unsqueeze(0), timespans=d.unsqueeze(0))
        close(y_last[i : i + 1], yi_last, atol=1e-6, rtol=1e-5)


def test_padding_does_not_leak_into_gradients():
    model = LTC(4, AutoNCP(10, 2))
    x = torch.randn(2, 5, 4)
    x[1, 3:] = float("nan")
    y, _ = model(x, lengths=[5, 3])
    y.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_unbatched_and_time_first(make):
    model = make()
    x = torch.randn(3, 6, 4)
    y, h = model(x)
    y0, h0 = model(x[0])
    close(y0, y[0])
    model_tf = make(batch_first=False)
    model_tf.load_state_dict(model.state_dict())
    y_tf, _ = model_tf(x.transpose(0, 1), timespans=torch.ones(6, 3))
    close(y_tf.transpose(0, 1), y)


def test_stacked_layers_equal_manual_chaining():
    model = CfC(4, 6, num_layers=3, backbone_units=8)
    x = torch.randn(2, 5, 4)
    y, h = model(x)
    assert h.shape == (3, 2, 6)
    out = x
    for k, cell in enumerate(model.cells):
        state, ys = cell.init_state(2), []
        for t in range(5):
            o, state = cell(out[:, t], state, 1.0)
            ys.append(o)
        out = torch.stack(ys, 1)
        close(state, h[k])
    close(out, y)


def test_bidirectional_backward_direction_reads_reversed_input():
    model = LTC(4, 5, bidirectional=True)
    x = torch.randn(2, 6, 4)
    y, h = model(x)
    assert y.shape == (2, 6, 10) and h.shape == (2, 2, 5)
    back = model.cells[1]
    state, ys = back.init_state(2), []
    for t in reversed(range(6)):
        o, state = back(x[:, t], state, 1.0)
        ys.append(o)
    close(torch.stack(ys[::-1], 1), y[..., 5:])
    close(state, h[1])


def test_proj_size_and_last_output():
    model = CfC(4, 8, proj_size=2, return_sequences=False)
    y, h = model(torch.randn(3, 5, 4))
    assert y.shape == (3, 2) and h.shape == (3, 8)


def test_nan_input_propagates():
    model = CfC(4, 6)
    x = torch.randn(1, 5, 4)
    x[0, 2, 1] = float("nan")
    y, _ = model(x)
    assert torch.isfinite(y[0, :2]).all() and torch.isnan(y[0, 2:]).all()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m(torch.randn(2, 5, 3)), "input: expected 4 features"),
        (lambda m: m(torch.randn(5)), "input: expected"),
        (lambda m: m(torch.randint(0, 3, (2, 5, 4))), "floating point"),
        (
            lambda m: m(torch.randn(2, 5, 4), timespans=torch.ones(2, 4)),
            "timespans: expected shape",
        ),
        (
            lambda m: m(torch.randn(2, 5, 4), timespans=torch.ones(5, 2)),
            "timespans: expected shape",
        ),
        (lambda m: m(torch.randn(2, 5, 4), timespans=-1.0), "timespans"),
        (lambda m: m(torch.randn(2, 5, 4), timespans=float("nan")), "timespans"),
        (lambda m: m(torch.randn(2, 5, 4), timespans=-torch.ones(2, 5)), "finite and > 0"),
        (
            lambda m: m(torch.randn(2, 5, 4), timespans=torch.full((2, 5), float("inf"))),
            "finite and > 0",
        ),
        (lambda m: m(torch.randn(2, 5, 4), hx=torch.zeros(3, 6)), r"hx: expected shape \(2, 6\)"),
        (lambda m: m(torch.randn(2, 5, 4), hx=(torch.zeros(2, 6),)), "hx: expected"),
        (lambda m: m(torch.randn(2, 5, 4), mask=torch.ones(5, 2, dtype=torch.bool)), "mask"),
        (lambda m: m(torch.randn(2, 5, 4), mask=torch.ones(2, 5)), "mask: expected a bool"),
        (lambda m: m(torch.randn(2, 5, 4), lengths=[5, 6]), "lengths"),
        (lambda m: m(torch.randn(2, 5, 4), lengths=[5]), "lengths"),
        (
            lambda m: m(torch.randn(2, 5, 4), lengths=[5, 5], mask=torch.ones(2, 5).bool()),
            "either lengths or mask",
        ),
        (lambda m: m.step(torch.randn(2, 3, 4)), "input: expected"),
    ],
)
def test_bad_input_gets_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(CfC(4, 6, backbone_units=8))


def test_mixed_memory_state_must_be_a_tuple():
    with pytest.raises(ValueError, match=r"hx: expected a tuple \(h, c\)"):
        LTC(4, 6, mixed_memory=True)(torch.randn(2, 5, 4), hx=torch.zeros(2, 6))


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        CfC(4, 6, num_layers=0)
    with pytest.raises(ValueError, match="backbone_units"):
        CfC(4, AutoNCP(10, 2), backbone_units=16)
    with pytest.raises(ValueError, match="mode"):
        CfC(4, 6, mode="fast")
    with pytest.raises(RuntimeError, match="bidirectional"):
        LTC(4, 6, bidirectional=True).step(torch.randn(2, 4))


def test_one_wiring_spec_serves_stacked_layers_with_different_inputs():
    spec = AutoNCP(12, 3)
    model = LTC(5, spec, num_layers=2)
    assert model.cells[0].wiring.input_size == 5
    assert model.cells[1].wiring.input_size == 3
    assert (model.cells[0].wiring.adjacency != 0).sum() > 0
