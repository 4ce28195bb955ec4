"""The Liquid Time-Constant (LTC) cell: neuron-level conductance dynamics (docs/maths.md, section 1)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import as_dt
from ..kernels import fused_enabled
from ..kernels.ltc import Graph, edges_by_destination, ltc_states, ltc_step
from ..solvers import ConductanceField, SemiImplicit, Solver
from ..wirings import Wiring, WiringSpec, as_wiring
from ._base import WiredCell
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
        # Edge lists of the synapses that exist (sorted by destination), for the fused path.
        self._edges = tuple(
            edges_by_destination(a) for a in (self.wiring.adjacency, self.wiring.sensory_adjacency)
        )
        self._param_cache = None
        m = self.wiring.output_size
        self.input_w = nn.Parameter(torch.ones(i)) if self._scaled(self.input_mapping) else None
        self.input_b = (
            nn.Parameter(torch.zeros(i)) if self.input_mapping is Mapping.AFFINE else None
        )
        self.output_w = nn.Parameter(torch.ones(m)) if self._scaled(self.output_mapping) else None
        self.output_b = (
            nn.Parameter(torch.zeros(m)) if self.output_mapping is Mapping.AFFINE else None
        )

    @property
    def _param_list(self) -> list[nn.Parameter]:
        return list(self._parameters.values())  # this cell has no submodules

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
        u = self.map_inputs(x)
        field = ConductanceField(self._terms_fn(u), self.positive(self.cm), self.epsilon)
        v = self.solver.integrate(field, v, as_dt(dt, v))
        return self.map_outputs(v), v

    def _edge_params(self, dtype: torch.dtype) -> list:
        """Parameter values per neuron and per existing synapse, in kernel order.

        Without autograd (inference, streaming) they are NumPy arrays, cached until a
        parameter changes (in place or replaced).
        """
        own = self._param_list
        record = torch.is_grad_enabled() and any(p.requires_grad for p in own)
        key = (dtype, *((p.data_ptr(), p._version) for p in own))
        if not record and self._param_cache is not None and self._param_cache[0] == key:
            return self._param_cache[1]
        (src, dst), (ssrc, sdst) = self._edges
        n = self.state_size
        flat = [torch.from_numpy(src * n + dst), torch.from_numpy(ssrc * n + sdst)]
        rec = (self.positive(self.w), self.sigma, self.mu, self.erev)
        sen = (self.positive(self.sensory_w), self.sensory_sigma, self.sensory_mu,
               self.sensory_erev)  # fmt: skip
        params = [self.positive(self.gleak), self.vleak, self.positive(self.cm)]
        params += [p.reshape(-1)[flat[0]] for p in rec] + [p.reshape(-1)[flat[1]] for p in sen]
        params = [p.to(dtype).contiguous() for p in params]
        if record:
            return params
        params = [p.numpy() for p in params]  # no autograd: hand the kernel arrays directly
        maps = tuple(
            None if p is None else p.detach().to(dtype).numpy()
            for p in (self.input_w, self.input_b, self.output_w, self.output_b)
        )
        self._param_cache = (key, params, maps)
        return params

    def _fused_ok(self, x: torch.Tensor, v: torch.Tensor) -> bool:
        return (
            isinstance(self.solver, SemiImplicit)
            and x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64)
            and v.dtype == x.dtype
            and fused_enabled()
        )

    def _graph(self) -> Graph:
        (src, dst), (ssrc, sdst) = self._edges
        return Graph(src, dst, ssrc, sdst, self.solver.unfolds, self.epsilon)

    def fused_step(self, x: torch.Tensor, v: torch.Tensor, dt: float):
        """One step for streaming inference in compiled code, without autograd; ``None``
        where that does not apply (gradients recorded, other solvers, devices, dtypes)."""
        if (torch.is_grad_enabled() and (x.requires_grad or v.requires_grad)) or not (
            self._fused_ok(x, v)
        ):
            return None
        params = self._edge_params(x.dtype)
        if not isinstance(params[0], np.ndarray):  # parameters record gradients
            return None
        in_w, in_b, out_w, out_b = self._param_cache[2]  # the mappings, as NumPy arrays
        u = x.detach().numpy()
        if in_w is not None:
            u = u * in_w
        if in_b is not None:
            u = u + in_b
        v = ltc_step(self._graph(), u, dt, v.detach().numpy(), params)
        y = v[:, : self.output_size]
        if out_w is not None:
            y = y * out_w
        if out_b is not None:
            y = y + out_b
        return torch.from_numpy(np.ascontiguousarray(y)), torch.from_numpy(v)

    def fused_scan(self, x: torch.Tensor, dt, valid, v0: torch.Tensor):
        """The whole sequence at once in compiled code; ``None`` where that does not apply.

        Same contract as :func:`liquidtorch.layers.scan` (time-major ``x``); equal to the
        reference loop in outputs and gradients (tested).
        """
        if not self._fused_ok(x, v0):
            return None
        graph = self._graph()
        steps, batch = x.shape[:2]
        if isinstance(dt, float):
            dt = torch.full((steps, batch), dt, dtype=x.dtype)
        else:
            dt = dt.reshape(steps, batch)
        ok = torch.ones(steps, batch, dtype=torch.bool) if valid is None else valid
        states = ltc_states(graph, self.map_inputs(x), dt, ok, v0, *self._edge_params(x.dtype))
        ys = self.map_outputs(states)
        last = ys[-1]
        if valid is not None:
            ys = torch.where(valid.unsqueeze(-1), ys, torch.zeros((), dtype=ys.dtype))
            last = torch.where(valid.any(0).unsqueeze(-1), last, torch.zeros((), dtype=x.dtype))
        return ys, last, states[-1]

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
