"""One solver family: the same Euler, RK4 and dopri5 classes integrate the LTC's conductance
field and the ODE baselines' plain fields, at their measured orders."""

import math
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from liquidtorch import RK4, Euler, LTCCell, SemiImplicit
from liquidtorch._utils import as_dt
from liquidtorch.baselines import CTRNNCell, NeuralODECell, ODERNNCell
from liquidtorch.baselines._ode import Integrator
from liquidtorch.solvers import SOLVERS, ConductanceField, Dopri5, FixedGridSolver, Solver

F64 = torch.float64
close = torch.testing.assert_close
pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass(frozen=True)
class SpyRK4(RK4):
    """RK4 that keeps the fields it was handed, to integrate them again with other solvers."""

    def integrate(self, field, y, dt):
        SEEN.append(field)
        return super().integrate(field, y, dt)


SEEN: list = []


def _ltc_field():
    """The LTC's vector field at one input, as the cell hands it to its solver."""
    cell = LTCCell(3, 6, solver=SpyRK4(1)).double()
    SEEN.clear()
    cell(torch.randn(2, 3, dtype=F64), cell.init_state(2, dtype=F64))
    (field,) = SEEN
    return field


def _odernn_field():
    """An ODE-RNN's vector field ``dh/dt = f(h)`` (an MLP)."""
    cell = ODERNNCell(3, 6, hidden_units=5).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return cell.f


FIELDS = {"ltc": _ltc_field, "odernn": _odernn_field}


# ---------------------------------------------------------------- exact answers
def test_fixed_grid_solvers_on_linear_decay_give_their_polynomials():
    y0 = torch.ones(1, 1, dtype=F64)
    h = 0.25  # four steps over dt = 1
    assert Euler(4).integrate(lambda y: -y, y0, 1.0).item() == pytest.approx((1 - h) ** 4)
    rk4_factor = 1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24
    assert RK4(4).integrate(lambda y: -y, y0, 1.0).item() == pytest.approx(rk4_factor**4)


def test_per_sample_dt_is_each_samples_own_integration():
    dt = torch.tensor([[0.5], [2.0]], dtype=F64)
    y0 = torch.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=F64)
    for solver in (Euler(3), RK4(3)):
        both = solver.integrate(lambda y: -y, y0, dt)
        for b in range(2):
            one = solver.integrate(lambda y: -y, y0[b : b + 1], dt[b].item())
            close(both[b : b + 1], one, atol=1e-15, rtol=0)


def test_semi_implicit_is_the_weighted_mean_of_the_paper():
    # cm dv/dt = num - den v with num = 2, den = 4, cm = 0.5; one step of h = 0.25:
    # v' = (cm/h v + num) / (cm/h + den + eps) = (2 v + 2) / (2 + 4 + 1).
    field = ConductanceField(
        lambda v: (torch.full_like(v, 2.0), torch.full_like(v, 4.0)),
        torch.tensor([0.5], dtype=F64),
        epsilon=1.0,
    )
    v = torch.tensor([[0.0, 1.0, -3.0]], dtype=F64)
    close(SemiImplicit(1).integrate(field, v, 0.25), (2 * v + 2) / 7)
    close(field(v), (2.0 - 4.0 * v) / 0.5)  # also a plain vector field


def test_semi_implicit_asks_for_the_conductance_form():
    with pytest.raises(TypeError, match="ConductanceField"):
        SemiImplicit(2).integrate(lambda y: -y, torch.ones(1, 1), 1.0)


def test_as_dt_shapes():
    like = torch.zeros(3, 2, dtype=F64)
    assert as_dt(0.5, like) == 0.5 and isinstance(as_dt(torch.tensor(2.0), like), float)
    out = as_dt(torch.tensor([1.0, 2.0, 3.0]), like)
    assert out.shape == (3, 1) and out.dtype == F64


# ------------------------------------------------------- one family, measured orders
def test_baselines_and_ltc_hold_the_same_solver_classes():
    assert LTCCell(3, 4, solver=RK4(3)).solver == RK4(3)
    assert CTRNNCell(3, 4, method="rk4", unfolds=3).integrator.solver == RK4(3)
    assert NeuralODECell(3, 4, method="euler", unfolds=5).integrator.solver == Euler(5)
    assert ODERNNCell(3, 4).integrator.solver == RK4(6)
    for solver in (RK4(3), Euler(5), SemiImplicit(2)):
        assert isinstance(solver, FixedGridSolver) and isinstance(solver, Solver)
    assert str(RK4(6)) == "rk4(6)" and str(SemiImplicit(2)) == "semi_implicit(2)"
    assert SOLVERS == {"semi_implicit": SemiImplicit, "euler": Euler, "rk4": RK4, "dopri5": Dopri5}


def test_a_baseline_integrates_through_the_solver_it_holds():
    cell = ODERNNCell(3, 6, hidden_units=5, method="euler", unfolds=7).double()
    h, dt = torch.randn(4, 6, dtype=F64), torch.rand(4, 1, dtype=F64) + 0.1
    close(cell.evolve(h, dt), Euler(7).integrate(cell.f, h, dt), atol=0, rtol=0)


FIRST_ORDER, FOURTH_ORDER = [16, 32, 64, 128], [8, 16, 32]


@pytest.mark.parametrize(
    "model, solver_cls, unfolds",
    [
        ("ltc", Euler, FIRST_ORDER),
        ("ltc", SemiImplicit, FIRST_ORDER),  # needs the LTC's conductance form
        ("ltc", RK4, FOURTH_ORDER),
        ("odernn", Euler, FIRST_ORDER),
        ("odernn", RK4, FOURTH_ORDER),
    ],
)
def test_each_solver_has_its_order_on_every_models_field(model, solver_cls, unfolds):
    torch.manual_seed(3)
    field = FIELDS[model]()
    y0, dt = torch.randn(2, 6, dtype=F64), 0.5
    ref = RK4(512).integrate(field, y0, dt)
    errs = [(solver_cls(k).integrate(field, y0, dt) - ref).abs().max().item() for k in unfolds]
    slope = np.polyfit(np.log([dt / k for k in unfolds]), np.log(errs), 1)[0]
    assert abs(slope - solver_cls.order) < 0.25, (errs, slope)


def test_dopri5_serves_the_ltc_and_the_baselines_alike():
    pytest.importorskip("torchdiffeq")
    adaptive = Dopri5(rtol=1e-7, atol=1e-9)
    dt = torch.tensor([[0.1], [1.5]], dtype=F64)
    for make in FIELDS.values():
        field, y0 = make(), torch.randn(2, 6, dtype=F64)
        fine = RK4(512).integrate(field, y0, dt)
        close(adaptive.integrate(field, y0, dt), fine, atol=1e-6, rtol=0)
    cell = LTCCell(3, 6, solver=adaptive).double()
    x, v = torch.randn(2, 3, dtype=F64), torch.randn(2, 6, dtype=F64)
    y_adaptive = cell(x, v, dt)[1]
    cell.solver = RK4(512)
    close(y_adaptive, cell(x, v, dt)[1], atol=1e-6, rtol=0)
    assert str(adaptive) == "dopri5(rtol=1e-07, atol=1e-09)"
    assert math.isfinite(y_adaptive.sum().item())


def test_dopri5_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchdiffeq", None)
    with pytest.raises(ImportError, match="liquidtorch\\[ode\\]"):
        Dopri5()


def test_bad_settings_name_the_argument():
    with pytest.raises(ValueError, match="unfolds"):
        RK4(0)
    with pytest.raises(ValueError, match="unfolds"):
        Integrator("euler", True)
    with pytest.raises(ValueError, match="rtol"):
        Dopri5(rtol=0.0)


@pytest.mark.parametrize("dt", [1e-6, 1e-5, 1e-3])
def test_semi_implicit_float16_small_steps_stay_finite(dt):
    """cm / h overflows float16 for h < ~2e-5; the float16 update is multiplied through by h."""
    from liquidtorch import LTC, AutoNCP

    torch.manual_seed(0)
    model = LTC(3, AutoNCP(10, 2))
    x = torch.randn(2, 20, 3)
    with torch.no_grad():
        y32, _ = model(x, timespans=dt)
        y16, _ = model.half()(x.half(), timespans=dt)
    assert torch.isfinite(y16).all()
    torch.testing.assert_close(y16.float(), y32, atol=2e-3, rtol=0)
