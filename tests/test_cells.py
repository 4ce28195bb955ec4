"""The maths of the cells: independent reference, gradcheck, bounds, convergence orders."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from liquidtorch import (
    NCP,
    RK4,
    AutoNCP,
    CfCCell,
    Euler,
    LTCCell,
    MixedMemoryCell,
    SemiImplicit,
    WiredCfCCell,
    get_activation,
)
from liquidtorch.cells import LeCunTanh


def _f64(module):
    return module.to(torch.float64)


def _perturb_(module, scale=0.3):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))


# ----------------------------------------------------------------- LTC maths
def _reference_ltc_step(cell, x, v, dt):
    """docs/maths.md section 1, written neuron by neuron in NumPy float64."""
    P = {k: p.detach().double().numpy() for k, p in cell.named_parameters()}
    sp = lambda a: np.log1p(np.exp(a))  # softplus
    sig = lambda a: 1 / (1 + np.exp(-a))
    A, S = cell.wiring.adjacency != 0, cell.wiring.sensory_adjacency != 0
    u = x.double().numpy() * P["input_w"] + P["input_b"]
    v = v.double().numpy().copy()
    n, k = cell.state_size, cell.solver.unfolds
    h = dt / k
    out = np.zeros_like(v)
    for b in range(v.shape[0]):
        vb = v[b].copy()
        sn = np.zeros(n)
        sd = np.zeros(n)
        for j in range(n):
            for i in range(len(u[b])):
                if S[i, j]:
                    s = sp(P["sensory_w"][i, j]) * sig(
                        P["sensory_sigma"][i, j] * (u[b, i] - P["sensory_mu"][i, j])
                    )
                    sn[j] += s * P["sensory_erev"][i, j]
                    sd[j] += s
        for _ in range(k):
            new = np.zeros(n)
            for j in range(n):
                num = sp(P["gleak"][j]) * P["vleak"][j] + sn[j]
                den = sp(P["gleak"][j]) + sd[j]
                for i in range(n):
                    if A[i, j]:
                        s = sp(P["w"][i, j]) * sig(P["sigma"][i, j] * (vb[i] - P["mu"][i, j]))
                        num += s * P["erev"][i, j]
                        den += s
                cm_h = sp(P["cm"][j]) / h
                new[j] = (cm_h * vb[j] + num) / (cm_h + den + cell.epsilon)
            vb = new
        out[b] = vb
    return out


def test_ltc_step_matches_the_equations():
    cell = _f64(LTCCell(3, NCP(3, 2, 2, 2, 2, 2, 1), solver=SemiImplicit(4)))
    _perturb_(cell)
    x, v = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 7, dtype=torch.float64)
    _, got = cell(x, v, 0.7)
    np.testing.assert_allclose(
        got.detach().numpy(), _reference_ltc_step(cell, x, v, 0.7), rtol=1e-10
    )


def test_ltc_absent_synapses_have_no_effect():
    cell = LTCCell(3, AutoNCP(10, 2))
    x, v = torch.randn(2, 3), torch.randn(2, 10)
    y, _ = cell(x, v)
    with torch.no_grad():
        cell.w[cell.mask == 0] = 100.0
        cell.sensory_w[cell.sensory_mask == 0] = 100.0
    torch.testing.assert_close(cell(x, v)[0], y)


@pytest.mark.slow
@given(
    inputs=st.integers(1, 6),
    units=st.integers(2, 8),
    magnitude=st.floats(-3, 6),
    dt=st.floats(0.01, 100.0),
    seed=st.integers(0, 10_000),
)
def test_ltc_state_stays_within_leak_reversal_and_initial_span(inputs, units, magnitude, dt, seed):
    torch.manual_seed(seed)
    cell = _f64(LTCCell(inputs, units))
    _perturb_(cell, 1.0)
    v = torch.randn(4, units, dtype=torch.float64) * 2
    erev = torch.where(cell.mask.bool(), cell.erev, torch.nan)
    serev = torch.where(cell.sensory_mask.bool(), cell.sensory_erev, torch.nan)
    candidates = torch.cat([cell.vleak.unsqueeze(0), erev, serev]).detach()
    lo = torch.minimum(candidates.nan_to_num(math.inf).min(0).values, v)
    hi = torch.maximum(candidates.nan_to_num(-math.inf).max(0).values, v)
    for _ in range(5):
        x = torch.randn(4, inputs, dtype=torch.float64) * 10**magnitude
        _, v = cell(x, v, dt)
        assert torch.isfinite(v).all()
        assert (v >= lo - 1e-6).all() and (v <= hi + 1e-6).all()


def test_liquid_time_constant_is_positive_and_input_dependent():
    cell = LTCCell(3, AutoNCP(12, 2))
    v = torch.randn(5, 12)
    info = cell.explain(torch.randn(5, 3), v)
    tau = info["tau"]
    assert tau.shape == (5, 12) and (tau > 0).all()
    gleak, cm = torch.nn.functional.softplus(cell.gleak), torch.nn.functional.softplus(cell.cm)
    assert (tau <= cm / gleak + 1e-6).all()  # synapses only shorten it
    other = cell.time_constant(torch.randn(5, 3) * 5, v)
    assert not torch.allclose(tau, other)
    assert (info["synaptic_current"][:, cell.mask == 0] == 0).all()


def test_clamp_constraint_projects_raw_parameters():
    cell = LTCCell(2, 4, constraint="clamp")
    with torch.no_grad():
        cell.w.fill_(-1.0)
    assert (cell.positive(cell.w) == 0).all()
    cell.project_()
    assert (cell.w == 0).all()


# ----------------------------------------------------------- solver orders
def _trajectory_error(solver_cls, unfolds, ref):
    cell, x, v0 = ref["cell"], ref["x"], ref["v0"]
    cell.solver = solver_cls(unfolds)
    return (cell(x, v0, ref["dt"])[1] - ref["v"]).abs().max().item()


@pytest.mark.slow
@pytest.mark.parametrize(
    "solver_cls, order, unfolds",
    [(Euler, 1, [16, 32, 64, 128]), (SemiImplicit, 1, [16, 32, 64, 128]), (RK4, 4, [4, 8, 16])],
)
def test_solvers_converge_at_their_order(solver_cls, order, unfolds):
    torch.manual_seed(1)
    cell = _f64(LTCCell(3, 6, constraint="softplus"))
    x, v0 = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 6, dtype=torch.float64)
    cell.solver = RK4(4096)
    ref = {"cell": cell, "x": x, "v0": v0, "dt": 0.5, "v": cell(x, v0, 0.5)[1]}
    errs = [_trajectory_error(solver_cls, k, ref) for k in unfolds]
    slope = np.polyfit(np.log([0.5 / k for k in unfolds]), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.25, (errs, slope)
    assert solver_cls.order == order


def test_solver_rejects_bad_unfolds():
    with pytest.raises(ValueError, match="unfolds"):
        SemiImplicit(0)


# ----------------------------------------------------------------- gradcheck
CELLS = {
    "ltc_semi_implicit": lambda: LTCCell(3, AutoNCP(8, 2)),
    "ltc_euler": lambda: LTCCell(3, 5, solver=Euler(3), input_mapping="linear"),
    "ltc_rk4": lambda: LTCCell(3, 5, solver=RK4(2), output_mapping="none"),
    "cfc_default": lambda: CfCCell(3, 4, backbone_units=6),
    "cfc_no_gate": lambda: CfCCell(3, 4, mode="no_gate", backbone_layers=2, backbone_units=5),
    "cfc_pure": lambda: CfCCell(3, 4, mode="pure", backbone_layers=0),
    "wired_cfc": lambda: WiredCfCCell(3, AutoNCP(8, 2)),
    "wired_cfc_pure": lambda: WiredCfCCell(3, AutoNCP(8, 2), mode="pure"),
    "mixed_ltc": lambda: MixedMemoryCell(LTCCell(3, 4)),
    "mixed_cfc": lambda: MixedMemoryCell(CfCCell(3, 4, backbone_units=5)),
}


@pytest.mark.parametrize("name", list(CELLS))
def test_gradcheck_float64(name):
    cell = _f64(CELLS[name]())
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, cell.state_size, dtype=torch.float64, requires_grad=True)
    dt = (torch.rand(2, 1, dtype=torch.float64) + 0.2).requires_grad_()
    mixed = isinstance(cell, MixedMemoryCell)

    def f(x, h, dt):
        state = (h, torch.tanh(h)) if mixed else h
        y, new = cell(x, state, dt)
        return (y, *new) if mixed else (y, new)

    assert torch.autograd.gradcheck(f, (x, h, dt))
    # ... and with respect to every parameter.
    names = [k for k, p in cell.named_parameters() if p.requires_grad]
    values = tuple(p.detach().clone().requires_grad_() for _, p in cell.named_parameters())

    def with_params(*ps):
        state = (h.detach(), torch.tanh(h.detach())) if mixed else h.detach()
        args = (x.detach(), state, dt.detach())
        return torch.func.functional_call(cell, dict(zip(names, ps, strict=True)), args)[0]

    assert torch.autograd.gradcheck(with_params, values)


# ---------------------------------------------------------------- CfC maths
@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_cfc_matches_the_closed_form(mode):
    cell = _f64(CfCCell(3, 4, mode=mode, backbone_layers=1, backbone_units=6, activation="tanh"))
    _perturb_(cell)
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    t = 0.37
    lin, w = cell.backbone[0], cell.heads.weight
    z = torch.tanh(torch.cat([x, h], 1) @ lin.weight.T + lin.bias)
    heads = z @ w.T + cell.heads.bias
    if mode == "pure":
        ff1 = heads
        want = -cell.A * torch.exp(-t * (cell.w_tau.abs() + ff1.abs())) * ff1 + cell.A
    else:
        ff1, ff2, ta, tb = (
            torch.tanh(heads[:, :4]),
            torch.tanh(heads[:, 4:8]),
            heads[:, 8:12],
            heads[:, 12:],
        )
        g = torch.sigmoid(ta * t + tb)
        want = ff1 + g * ff2 if mode == "no_gate" else ff1 * (1 - g) + g * ff2
    torch.testing.assert_close(cell(x, h, t)[1], want)


def test_wired_cfc_honours_every_synapse():
    wiring = AutoNCP(12, 2, seed=3).build(3)
    cell = _f64(WiredCfCCell(3, wiring))
    _perturb_(cell)
    x, h = torch.randn(1, 3, dtype=torch.float64), torch.randn(1, 12, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda h: cell(x, h)[1], h)[0, :, 0, :]  # [post, pre]
    groups = wiring.groups
    inter, command = list(groups["inter"]), list(groups["command"])
    # Inter neurons have no recurrent synapses: their new state ignores the old state.
    assert (jac[inter] == 0).all()
    # Command neurons see old command states exactly through the recurrent command synapses.
    block = jac[np.ix_(command, command)].T  # [pre, post]
    assert ((block != 0) == torch.tensor(wiring.adjacency[np.ix_(command, command)] != 0)).all()
    # ncps's behaviour differs: dense recurrence inside each layer.
    ncps_like = _f64(WiredCfCCell(3, wiring, recurrence="ncps"))
    jac2 = torch.autograd.functional.jacobian(lambda h: ncps_like(x, h)[1], h)[0, :, 0, :]
    assert (jac2[np.ix_(inter, inter)] != 0).all()


def test_wired_cfc_masked_weights_get_no_gradient():
    cell = WiredCfCCell(3, AutoNCP(10, 2))
    y, _ = cell(torch.randn(4, 3), torch.randn(4, 10))
    y.sum().backward()
    for layer in cell.layers:
        assert (layer.heads.weight.grad[layer.mask == 0] == 0).all()


# ---------------------------------------------------------------- activations
def test_activations_resolve_from_names_and_callables():
    x = torch.linspace(-2, 2, 5)
    torch.testing.assert_close(get_activation("lecun_tanh")(x), 1.7159 * torch.tanh(0.666 * x))
    assert isinstance(get_activation("lecun_tanh"), LeCunTanh)
    torch.testing.assert_close(get_activation(torch.sin)(x), torch.sin(x))
    torch.testing.assert_close(get_activation(torch.nn.ELU)(x), torch.nn.functional.elu(x))
    cell = CfCCell(2, 3, activation=lambda t: t * 0)
    assert torch.allclose(cell.backbone[1](x), torch.zeros(5))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        get_activation("swish")


@pytest.mark.parametrize(
    "make",
    [
        lambda: LTCCell(3, NCP(2, 2, 1, 2, 1, 1, 1)),
        lambda: WiredCfCCell(3, AutoNCP(8, 2)),
        lambda: MixedMemoryCell(LTCCell(3, AutoNCP(8, 2))),
        lambda: MixedMemoryCell(WiredCfCCell(3, AutoNCP(8, 2), mode="pure")),
    ],
)
def test_synapse_masks_name_parameters_and_count_the_wiring(make):
    cell = make()
    masks = cell.synapse_masks()
    params = dict(cell.named_parameters())
    assert masks and set(masks) <= set(params)
    for name, mask in masks.items():
        assert mask.shape == params[name].shape, name
        assert set(mask.unique().tolist()) <= {0.0, 1.0}, name
    inner = getattr(cell, "cell", cell)
    used = sum(int(m.sum()) for m in masks.values())
    if isinstance(inner, LTCCell):  # w, sigma, mu, erev per synapse (and sensory twins)
        assert used == 4 * (inner.wiring.synapse_count + inner.wiring.sensory_synapse_count)
    else:  # every synapse in each head: ff1, ff2, time_a, time_b (pure mode: ff1)
        heads = 1 if inner.mode.value == "pure" else 4
        assert used == heads * (inner.wiring.synapse_count + inner.wiring.sensory_synapse_count)
    assert MixedMemoryCell(CfCCell(3, 4)).synapse_masks() == {}


def _wired_dependencies(wiring):
    """Which old-state neurons each new state of a wired CfC (``recurrence="wiring"``) may
    depend on in one step: the sources of its synapses, except those of the previous layer,
    whose *new* states it reads instead (and with them their dependencies)."""
    adjacency = wiring.adjacency != 0
    deps, prev = {}, []
    for _, cur in wiring.layers:
        for j in cur:
            direct = {i for i in range(wiring.units) if adjacency[i, j] and i not in prev}
            via = set().union(*(deps[k] for k in prev if adjacency[k, j]))
            deps[j] = direct | via
        prev = list(cur)
    return deps


@pytest.mark.parametrize("wiring", [AutoNCP(12, 3, seed=5), NCP(4, 3, 2, 2, 2, 2, 2, seed=1)])
@pytest.mark.parametrize("fused", [False, True])
def test_wired_cfc_jacobian_blocks_follow_the_layer_masks(wiring, fused):
    """d h_new / d h_old is exactly zero wherever the wiring gives no path within one step
    (e.g. a previous layer's neuron without self-loop: it is read through its new state)."""
    torch.manual_seed(0)
    cell = WiredCfCCell(3, wiring).double()
    _perturb_(cell)
    x = torch.randn(1, 3, dtype=torch.float64)

    def step(h):
        if fused:
            return cell.fused_states(x[None], 0.7, None, h)[0]
        return cell(x, h, 0.7)[1]

    jac = torch.autograd.functional.jacobian(step, torch.randn(1, cell.state_size).double())
    jac = jac.reshape(cell.state_size, cell.state_size)  # [new j, old i]
    deps = _wired_dependencies(cell.wiring)
    for j in range(cell.state_size):
        for i in range(cell.state_size):
            if i in deps[j]:
                assert jac[j, i] != 0, (j, i)
            else:
                assert jac[j, i] == 0, (j, i)
