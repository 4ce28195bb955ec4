"""Agreement with the independent reference implementation, ncps 1.0.1, via from_ncps."""

import pytest
import torch

ncps = pytest.importorskip("ncps")
from ncps import torch as nt  # noqa: E402
from ncps import wirings as nw  # noqa: E402

from liquidtorch import CfC, CfCCell, LTCCell, WiredCfCCell  # noqa: E402
from liquidtorch.compat import from_ncps, ncps_state_order  # noqa: E402
from liquidtorch.layers import LTC  # noqa: E402

ATOL = 1e-5


def _states(h):
    return h if isinstance(h, tuple) else (h,)


def _compare(old, new, x, hx=None, timespans=None, state_perm=None):
    old.eval()
    new.eval()
    y_old, h_old = old(x, hx, timespans)
    y_new, h_new = new(x, hx, timespans)
    torch.testing.assert_close(y_new, y_old, atol=ATOL, rtol=ATOL)
    for a, b in zip(_states(h_new), _states(h_old), strict=True):
        if state_perm is not None and a.shape == b.shape and a.shape[-1] == len(state_perm):
            a = a[..., state_perm]
        torch.testing.assert_close(a, b, atol=ATOL, rtol=ATOL)
    return y_old, y_new


def _random_init_(module):
    """Perturb every parameter so equality does not rest on symmetric initial values."""
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))


X = torch.randn(3, 12, 5)


@pytest.mark.parametrize("mapping", ["affine", "linear", None])
@pytest.mark.parametrize(
    "make_wiring",
    [
        lambda: 6,
        lambda: nw.FullyConnected(7, 3),
        lambda: nw.NCP(5, 4, 2, 3, 2, 3, 2),
        lambda: nw.AutoNCP(16, 3),
    ],
    ids=["int", "fully_connected", "ncp", "autoncp"],
)
@pytest.mark.parametrize("implicit", [True, False])
def test_ltc_matches_ncps(make_wiring, mapping, implicit):
    old = nt.LTC(
        5,
        make_wiring(),
        input_mapping=mapping,
        output_mapping=mapping,
        implicit_param_constraints=implicit,
    )
    if implicit:
        _random_init_(old)
    new = from_ncps(old)
    assert isinstance(new, LTC)
    _compare(old, new, X)


def test_ltc_matches_ncps_mixed_memory_unfolds_and_layout():
    old = nt.LTC(5, nw.AutoNCP(12, 2), mixed_memory=True, ode_unfolds=3, batch_first=False)
    _random_init_(old)
    new = from_ncps(old)
    x = X.transpose(0, 1)
    h0 = (torch.randn(3, 12), torch.randn(3, 12))
    _compare(old, new, x, hx=h0)


def test_ltc_matches_ncps_last_output_and_timespans():
    old = nt.LTC(5, nw.AutoNCP(12, 2), return_sequences=False)
    new = from_ncps(old)
    # ncps mis-broadcasts batched timespans, so compare one sample at a time.
    ts = torch.rand(1, 12) * 2 + 0.05
    _compare(old, new, X[:1], timespans=ts)


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize("backbone_layers", [0, 1, 2])
def test_cfc_matches_ncps(mode, backbone_layers):
    old = nt.CfC(5, 9, mode=mode, backbone_layers=backbone_layers, backbone_units=11)
    _random_init_(old)
    new = from_ncps(old)
    assert isinstance(new, CfC)
    _compare(old, new, X)
    _compare(old, new, X[:1], timespans=torch.rand(1, 12) + 0.1)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "silu", "lecun_tanh"])
def test_cfc_activations_match_ncps(activation):
    old = nt.CfC(5, 8, activation=activation, proj_size=3)
    new = from_ncps(old)
    _compare(old, new, X)


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize(
    "make_wiring",
    [lambda: nw.AutoNCP(14, 3), lambda: nw.NCP(4, 3, 2, 2, 2, 2, 2), lambda: nw.FullyConnected(6)],
    ids=["autoncp", "ncp", "fully_connected"],
)
@pytest.mark.parametrize("mixed", [False, True])
def test_wired_cfc_matches_ncps(mode, make_wiring, mixed):
    old = nt.CfC(5, make_wiring(), mode=mode, mixed_memory=mixed)
    _random_init_(old)
    new = from_ncps(old)
    perm = ncps_state_order(new.cell.cell.wiring if mixed else new.cell.wiring)
    _compare(old, new, X, state_perm=perm)


def test_cfc_mixed_memory_proj_matches_ncps():
    old = nt.CfC(5, 10, mixed_memory=True, proj_size=2, return_sequences=False)
    _random_init_(old)
    new = from_ncps(old)
    _compare(old, new, X, hx=(torch.randn(3, 10), torch.randn(3, 10)))


def test_cells_convert():
    wiring = nw.AutoNCP(10, 2)
    ltc = nt.LTCCell(wiring, in_features=4)
    cfc = nt.CfCCell(4, 7)
    wired = nt.WiredCfCCell(4, nw.AutoNCP(10, 2))
    x, dt = torch.randn(3, 4), 0.7
    assert isinstance(from_ncps(ltc), LTCCell)
    torch.testing.assert_close(
        from_ncps(ltc)(x, torch.ones(3, 10), dt)[0], ltc(x, torch.ones(3, 10), dt)[0]
    )
    torch.testing.assert_close(
        from_ncps(cfc)(x, torch.ones(3, 7), dt)[0], cfc(x, torch.ones(3, 7), dt)[0]
    )
    new = from_ncps(wired)
    assert isinstance(new, WiredCfCCell) and isinstance(from_ncps(cfc), CfCCell)
    torch.testing.assert_close(
        new(x, torch.zeros(3, 10), dt)[0], wired(x, torch.zeros(3, 10), dt)[0]
    )


def test_gradients_match_ncps():
    old = nt.LTC(5, nw.AutoNCP(10, 2))
    new = from_ncps(old)
    old(X)[0].pow(2).sum().backward()
    new(X)[0].pow(2).sum().backward()
    theirs = dict(old.rnn_cell.named_parameters())
    for name in ["w", "sigma", "mu", "erev", "sensory_w", "gleak", "cm", "input_w"]:
        torch.testing.assert_close(
            getattr(new.cell, name).grad, theirs[name].grad, atol=1e-5, rtol=1e-4
        )


def test_from_ncps_rejects_other_modules():
    with pytest.raises(TypeError, match="from_ncps"):
        from_ncps(torch.nn.LSTM(2, 3))
