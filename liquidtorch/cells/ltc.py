"""The Liquid Time-Constant (LTC) cell: neuron-level conductance dynamics
(docs/maths.md, section 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._utils import as_dt
from ..kernels import fused_enabled
from ..kernels._common import full_dt, full_valid
from ..kernels.ltc import FusedLTC, LTCTensors
from ..solvers import ConductanceField, SemiImplicit, Solver
from ..wirings import Wiring, WiringSpec, as_wiring
from ._base import WiredCell, check_dtype, floor_dt
from .options import Constraint, Mapping, coerce

# Reference initial ranges (ncps 1.0.1 / the LTC paper's code).
INIT_RANGES = {
    "gleak": (0.001, 1.0),
    "vleak": (-0.2, 0.2),
    "cm": (0.4, 0.6),
    "w": (0.001, 1.0),
    "sigma": (3.0, 8.0),
    "mu": (0.3, 0.8),
}


def _uniform(shape, name: str) -> nn.Parameter:
    lo, hi = INIT_RANGES[name]
    return nn.Parameter(torch.rand(*shape) * (hi - lo) + lo)


class LTCCell(WiredCell):
    """One step of an LTC network: ``(output, v_next) = cell(x, v, dt)``.

    Args:
        input_size: number of input features (sensory neurons).
        wiring: a built :class:`~liquidtorch.wirings.Wiring`, a wiring spec (built here for
            ``input_size``) or an int (a fully connected wiring of that many neurons).
        input_mapping, output_mapping: per-feature affine/linear/no mapping.
        solver: how the ODE is integrated over ``dt``; default the fused semi-implicit
            update with 6 unfolds.
        constraint: how conductances and capacitances stay positive (default softplus).
        epsilon: added to the semi-implicit denominator.

    Shapes: ``x`` (batch, input_size), ``v`` (batch, units), ``dt`` a float or (batch,) /
    (batch, 1); output (batch, output_size) = the motor neurons ``0..output_size-1``.

    >>> cell = LTCCell(3, 8)
    >>> y, v = cell(torch.randn(2, 3), cell.init_state(2))
    >>> y.shape, v.shape
    (torch.Size([2, 8]), torch.Size([2, 8]))
    """

    def __init__(
        self,
        input_size: int,
        wiring: Wiring | WiringSpec | int,
        *,
        input_mapping: Mapping | str = Mapping.AFFINE,
        output_mapping: Mapping | str = Mapping.AFFINE,
        solver: Solver | None = None,
        constraint: Constraint | str = Constraint.SOFTPLUS,
        epsilon: float = 1e-8,
    ):
        super().__init__()
        self.wiring = as_wiring(wiring, input_size)
        self.input_mapping = coerce(Mapping, input_mapping, "input_mapping")
        self.output_mapping = coerce(Mapping, output_mapping, "output_mapping")
        self.constraint = coerce(Constraint, constraint, "constraint")
        self.solver = SemiImplicit() if solver is None else solver
        if not isinstance(self.solver, Solver):
            raise TypeError(f"solver must be a liquidtorch.solvers.Solver, got {solver!r}")
        self.epsilon = float(epsilon)

        n, i = self.wiring.units, self.wiring.input_size
        self.gleak = _uniform((n,), "gleak")
        self.vleak = _uniform((n,), "vleak")
        self.cm = _uniform((n,), "cm")
        self.w = _uniform((n, n), "w")
        self.sigma = _uniform((n, n), "sigma")
        self.mu = _uniform((n, n), "mu")
        self.erev = nn.Parameter(torch.tensor(self.wiring.adjacency, dtype=torch.float32))
        self.sensory_w = _uniform((i, n), "w")
        self.sensory_sigma = _uniform((i, n), "sigma")
        self.sensory_mu = _uniform((i, n), "mu")
        self.sensory_erev = nn.Parameter(
            torch.tensor(self.wiring.sensory_adjacency, dtype=torch.float32)
        )
        self.register_buffer("mask", torch.tensor(self.wiring.adjacency != 0).float())
        self.register_buffer(
            "sensory_mask", torch.tensor(self.wiring.sensory_adjacency != 0).float()
        )
        self._fused = FusedLTC()  # what the fused paths derive (edge lists), never stale
        m = self.wiring.output_size
        self.input_w = nn.Parameter(torch.ones(i)) if self._scaled(self.input_mapping) else None
        self.input_b = (
            nn.Parameter(torch.zeros(i)) if self.input_mapping is Mapping.AFFINE else None
        )
        self.output_w = nn.Parameter(torch.ones(m)) if self._scaled(self.output_mapping) else None
        self.output_b = (
            nn.Parameter(torch.zeros(m)) if self.output_mapping is Mapping.AFFINE else None
        )

    @staticmethod
    def _scaled(mapping: Mapping) -> bool:
        return mapping in (Mapping.AFFINE, Mapping.LINEAR)

    # ------------------------------------------------------------------ sizes
    # ------------------------------------------------------------ parameters
    def positive(self, raw: torch.Tensor) -> torch.Tensor:
        """The constrained (positive) value of a raw conductance/capacitance parameter."""
        if self.constraint is Constraint.SOFTPLUS:
            return F.softplus(raw)
        return raw.clamp_min(0.0)

    @torch.no_grad()
    def project_(self) -> None:
        """Clip raw ``w, sensory_w, gleak, cm`` to >= 0 in place (ncps's
        ``apply_weight_constraints``); only meaningful with ``Constraint.CLAMP``."""
        if self.constraint is Constraint.CLAMP:
            for p in (self.w, self.sensory_w, self.gleak, self.cm):
                p.clamp_(min=0.0)

    def map_inputs(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_w is not None:
            x = x * self.input_w
        if self.input_b is not None:
            x = x + self.input_b
        return x

    def map_outputs(self, v: torch.Tensor) -> torch.Tensor:
        y = v[..., : self.output_size]
        if self.output_w is not None:
            y = y * self.output_w
        if self.output_b is not None:
            y = y + self.output_b
        return y

    def synapse_masks(self) -> dict[str, torch.Tensor]:
        """Parameter name (as in ``named_parameters()``) -> 0/1 mask of the entries in use:
        the synapse matrices use only the entries of existing synapses."""
        masks = {name: self.mask for name in ("w", "sigma", "mu", "erev")}
        masks.update({f"sensory_{name}": self.sensory_mask for name in masks})
        return masks

    # -------------------------------------------------------------- dynamics
    @staticmethod
    def _activation(pre, mu, sigma):
        """sigmoid(sigma_ij * (pre_i - mu_ij)) for pre (batch, n_pre) -> (batch, n_pre, n_post)."""
        return torch.sigmoid(sigma * (pre.unsqueeze(-1) - mu))

    def sensory_conductance(self, u: torch.Tensor) -> torch.Tensor:
        """Sensory synaptic conductances ``s'`` (batch, inputs, units) for mapped inputs ``u``;
        absent synapses are exactly zero."""
        act = self._activation(u, self.sensory_mu, self.sensory_sigma)
        return self.positive(self.sensory_w) * self.sensory_mask * act

    def conductance(self, v: torch.Tensor) -> torch.Tensor:
        """Recurrent synaptic conductances ``s`` (batch, units, units) at state ``v``."""
        return self.positive(self.w) * self.mask * self._activation(v, self.mu, self.sigma)

    def _terms_fn(self, u: torch.Tensor):
        """The vector field as ``v -> (num, den)`` with ``cm dv/dt = num - den * v``."""
        s_in = self.sensory_conductance(u)
        # Sensory synapses see the input only, so they are computed once per input step.
        num_in = (s_in * self.sensory_erev).sum(1)
        den_in = s_in.sum(1)
        gleak = self.positive(self.gleak)
        num_in = num_in + gleak * self.vleak
        den_in = den_in + gleak
        w = self.positive(self.w) * self.mask
        w_erev = w * self.erev

        def terms(v):
            act = self._activation(v, self.mu, self.sigma)  # (batch, n, n)
            num = torch.einsum("bij,ij->bj", act, w_erev) + num_in
            den = torch.einsum("bij,ij->bj", act, w) + den_in
            return num, den

        return terms

    def forward(
        self, x: torch.Tensor, v: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_dtype(self, x, v)
        u = self.map_inputs(x)
        field = ConductanceField(self._terms_fn(u), self.positive(self.cm), self.epsilon)
        v = self.solver.integrate(field, v, floor_dt(as_dt(dt, v), v.dtype))
        return self.map_outputs(v), v

    # ------------------------------------------------------------ fused paths
    def _kernel_tensors(self) -> LTCTensors:
        p, b = self._parameters, self._buffers  # direct: the streaming step counts microseconds
        return LTCTensors(
            *(p[name] for name in LTCTensors._fields[:11]),
            *(p.get(name) for name in LTCTensors._fields[11:15]),
            b["mask"],
            b["sensory_mask"],
        )

    def _fused_ok(self, x: torch.Tensor, v: torch.Tensor) -> bool:
        return (
            isinstance(self.solver, SemiImplicit)
            and x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64)
            and v.dtype == x.dtype == self.w.dtype
            and self.w.device.type == "cpu"
            and fused_enabled()
        )

    def fused_step(self, x: torch.Tensor, v: torch.Tensor, dt: float):
        """One step for streaming inference in compiled code, without autograd; ``None``
        where that does not apply (gradients recorded, other solvers, devices, dtypes)."""
        params = [p for p in self._parameters.values() if p is not None]  # no submodules
        if not self._fused_ok(x, v) or any(p.dtype != x.dtype or not p.is_cpu for p in params):
            return None
        if torch.is_grad_enabled() and (
            x.requires_grad or v.requires_grad or any(p.requires_grad for p in params)
        ):
            return None
        t = self._kernel_tensors()
        graph = self._fused.graph(t, self.solver.unfolds, self.epsilon)
        y, v = self._fused.step(
            t, self.constraint, graph, x.detach().numpy(), floor_dt(dt, x.dtype),
            v.detach().numpy(), self.output_size,
        )  # fmt: skip
        return torch.from_numpy(y), torch.from_numpy(v)

    def frozen_step(self):
        """The compiled streaming step with copies of the current parameters (see
        :class:`liquidtorch.streaming.FrozenStep`): ``(x, v, dt) -> (output, new state)``
        over NumPy arrays of the parameters' dtype."""
        if not isinstance(self.solver, SemiImplicit) or not fused_enabled():
            raise ValueError(
                "a frozen step needs the fused semi-implicit solver and numba; this cell uses "
                f"{type(self.solver).__name__}"
            )
        if self.w.dtype not in (torch.float32, torch.float64):
            raise ValueError(
                f"a frozen step needs float32 or float64 parameters, not {self.w.dtype}"
            )
        t = self._kernel_tensors()
        graph = self._fused.graph(t, self.solver.unfolds, self.epsilon)
        step = self._fused.frozen(t, self.constraint, graph, self.output_size)
        floor = floor_dt(0.0, self.w.dtype)  # as fused_step: cm / h stays finite
        return lambda x, v, dt: step(x, v, max(dt, floor))

    def fused_states(self, x: torch.Tensor, dt, valid, v0: torch.Tensor):
        """States (time, batch, units) of the whole sequence in compiled code (the contract
        of :func:`liquidtorch.layers.scan`); ``None`` where that does not apply."""
        if not self._fused_ok(x, v0):
            return None
        steps, batch = x.shape[:2]
        t = self._kernel_tensors()
        graph = self._fused.graph(t, self.solver.unfolds, self.epsilon)
        dt = floor_dt(full_dt(dt, steps, batch, x), x.dtype)
        return self._fused.states(
            t, self.constraint, graph, self.map_inputs(x), dt, full_valid(valid, steps, batch), v0
        )

    def fused_mixed_states(self, lstm: nn.Module, x: torch.Tensor, dt, valid, state):
        """States ``(h, c)`` of mixed memory (``lstm`` in front of this cell, see
        :class:`~liquidtorch.cells.MixedMemoryCell`), the LSTM inside the compiled loop (its
        input projection computed for all steps at once); ``None`` where that does not
        apply."""
        h0, c0 = state
        if not self._fused_ok(x, h0) or c0.dtype != h0.dtype:
            return None
        steps, batch = x.shape[:2]
        t = self._kernel_tensors()
        graph = self._fused.graph(t, self.solver.unfolds, self.epsilon)
        dt = floor_dt(full_dt(dt, steps, batch, x), x.dtype)
        n = self.state_size
        forget = torch.zeros(4 * n, dtype=x.dtype)
        forget[2 * n : 3 * n] = 1.0  # the forget gate's +1
        zx = F.linear(x, lstm.input_map.weight, lstm.input_map.bias + forget)
        return self._fused.states(
            t, self.constraint, graph, self.map_inputs(x), dt, full_valid(valid, steps, batch),
            h0, (zx, lstm.recurrent_map.weight, c0),
        )  # fmt: skip

    def output_of(self, v: torch.Tensor) -> torch.Tensor:
        """The output for a state: the mapped motor neurons."""
        return self.map_outputs(v)

    # -------------------------------------------------------- interpretation
    @torch.no_grad()
    def explain(self, x: torch.Tensor, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """What drives each neuron at state ``v`` under input ``x``.

        Returns ``synaptic_current`` (batch, units, units) ``s_ij (erev_ij - v_j)``,
        ``sensory_current`` (batch, inputs, units), ``leak_current`` (batch, units) and
        ``tau`` (batch, units), the liquid time constant ``cm / (gleak + sum s + sum s')``.
        """
        u = self.map_inputs(x)
        s, s_in = self.conductance(v), self.sensory_conductance(u)
        gleak = self.positive(self.gleak)
        post = v.unsqueeze(1)
        return {
            "synaptic_current": s * (self.erev - post),
            "sensory_current": s_in * (self.sensory_erev - post),
            "leak_current": gleak * (self.vleak - v),
            "tau": self.positive(self.cm) / (gleak + s.sum(1) + s_in.sum(1)),
        }

    def time_constant(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The liquid time constant of each neuron, (batch, units)."""
        return self.explain(x, v)["tau"]

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, units={self.state_size}, "
            f"output_size={self.output_size}, synapses={self.wiring.synapse_count}, "
            f"sensory_synapses={self.wiring.sensory_synapse_count}, solver={self.solver}, "
            f"constraint={self.constraint.value}"
        )
