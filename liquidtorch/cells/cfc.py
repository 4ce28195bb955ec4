"""The Closed-form Continuous-time (CfC) cell (docs/maths.md, section 6)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._utils import as_dt
from ..kernels import fused_enabled, fused_switch_on
from ..kernels.cfc import CfCPlan, cfc_states
from ._activations import Activation, LeCunTanh, get_activation
from ._base import UnitsCell
from .options import CfCMode, coerce

# Backbone activations the fused path knows.
_FUSED_ACTIVATIONS = {LeCunTanh: "lecun_tanh", nn.Tanh: "tanh", nn.ReLU: "relu"}
# The fused path's fixed cost is about two reference steps: shorter sequences (streaming
# with ``step()``) run faster in the reference loop.
_FUSED_MIN_STEPS = 3
_ACT_CODES = {"lecun_tanh": 0, "tanh": 1, "relu": 2}


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4
        return (
            torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()
        )


_MODE_CODES = {CfCMode.DEFAULT: 0, CfCMode.NO_GATE: 1, CfCMode.PURE: 2}


def num_heads(mode: CfCMode) -> int:
    """Pure mode needs only ``ff1``; the others ``ff1, ff2, time_a, time_b``."""
    return 1 if mode is CfCMode.PURE else 4


def closed_form(
    heads: torch.Tensor,
    dt: float | torch.Tensor,
    mode: CfCMode,
    A: torch.Tensor | None = None,
    w_tau: torch.Tensor | None = None,
) -> torch.Tensor:
    """The CfC update from the stacked head pre-activations.

    ``heads`` is (batch, heads * units) laid out ``[ff1 | ff2 | time_a | time_b]`` (pure mode:
    ``[ff1]``); ``dt`` a float or (batch, 1). Returns the new state (batch, units).
    """
    if mode is CfCMode.PURE:
        ff1 = heads
        return -A * torch.exp(-dt * (torch.abs(w_tau) + torch.abs(ff1))) * ff1 + A
    ff1, ff2, t_a, t_b = heads.chunk(4, dim=-1)
    ff1, ff2 = torch.tanh(ff1), torch.tanh(ff2)
    gate = torch.sigmoid(t_a * dt + t_b)
    if mode is CfCMode.NO_GATE:
        return ff1 + gate * ff2
    return ff1 * (1.0 - gate) + gate * ff2


def init_heads_(weight: torch.Tensor, heads: int) -> None:
    """Xavier-uniform per head, as if each head were its own ``nn.Linear``."""
    with torch.no_grad():
        for chunk in weight.chunk(heads, dim=0):
            nn.init.xavier_uniform_(chunk)


class CfCCell(UnitsCell):
    """One step of a dense CfC network: ``(output, h_next) = cell(x, h, dt)``.

    Args:
        input_size: input features.
        units: hidden units (the state and the output).
        mode: :class:`CfCMode` (default / no_gate / pure).
        backbone_units, backbone_layers: the MLP on ``[x, h]`` before the heads
            (``backbone_layers=0``: no backbone).
        backbone_dropout: dropout after each backbone layer.
        activation: backbone activation: a name (lecun_tanh, tanh, relu, silu, gelu) or any
            callable / module.

    Shapes: ``x`` (batch, input_size), ``h`` (batch, units), ``dt`` a float or (batch,) /
    (batch, 1).

    >>> cell = CfCCell(3, 16)
    >>> y, h = cell(torch.randn(5, 3), cell.init_state(5), 0.5)
    >>> y.shape
    torch.Size([5, 16])
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        mode: CfCMode | str = CfCMode.DEFAULT,
        backbone_units: int = 128,
        backbone_layers: int = 1,
        backbone_dropout: float = 0.0,
        activation: Activation = "lecun_tanh",
    ):
        super().__init__()
        for name, value, low in (
            ("input_size", input_size, 1),
            ("units", units, 1),
            ("backbone_layers", backbone_layers, 0),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if backbone_layers > 0 and (not isinstance(backbone_units, int) or backbone_units < 1):
            raise ValueError(f"backbone_units must be an int >= 1, got {backbone_units!r}")
        if not 0.0 <= backbone_dropout < 1.0:
            raise ValueError(f"backbone_dropout must be in [0, 1), got {backbone_dropout!r}")
        self.mode = coerce(CfCMode, mode, "mode")
        self._input_size, self.units = input_size, units

        layers: list[nn.Module] = []
        width = input_size + units
        for _ in range(backbone_layers):
            layers += [nn.Linear(width, backbone_units), get_activation(activation)]
            if backbone_dropout > 0:
                layers.append(nn.Dropout(backbone_dropout))
            width = backbone_units
        self.backbone = nn.Sequential(*layers)
        for m in self.backbone:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

        k = num_heads(self.mode)
        self.heads = nn.Linear(width, k * units)
        init_heads_(self.heads.weight, k)
        if self.mode is CfCMode.PURE:
            self.w_tau = nn.Parameter(torch.zeros(1, units))
            self.A = nn.Parameter(torch.ones(1, units))
        else:
            self.w_tau = self.A = None
        self._plan_cache = None
        self._param_list = list(self.parameters())

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.backbone(torch.cat([x, h], dim=-1))
        h = closed_form(self.heads(z), as_dt(dt, h), self.mode, self.A, self.w_tau)
        return h, h

    def _step_plan(self, dtype: torch.dtype):
        """NumPy weights and codes for :func:`cfc_step`, cached until a parameter changes;
        ``None`` where the compiled step does not apply."""
        params = self._param_list
        key = (dtype, self.training, *((p.data_ptr(), p._version) for p in params))
        if self._plan_cache is not None and self._plan_cache[0] == key:
            return self._plan_cache[1]
        linears, acts = [], []
        for m in self.backbone:  # exact types: a subclass may change forward
            if type(m) is nn.Linear:
                linears.append(m)
            elif type(m) is nn.Dropout:
                if self.training and m.p > 0:
                    return None
            elif type(m) in _FUSED_ACTIVATIONS:
                acts.append(_FUSED_ACTIVATIONS[type(m)])
            else:
                return None
        if len(linears) > 1 or any(p.dtype != dtype for p in params):
            return None
        arr = lambda t: t.detach().contiguous().numpy()
        none = np.empty(0, dtype=arr(self.heads.weight).dtype)
        w1, b1 = (
            (arr(linears[0].weight), arr(linears[0].bias)) if linears else (none[:0, None], none)
        )
        pure = self.mode is CfCMode.PURE
        plan = (
            w1, b1, _ACT_CODES[acts[0]] if acts else 0, arr(self.heads.weight),
            arr(self.heads.bias), _MODE_CODES[self.mode], arr(self.A)[0] if pure else none,
            arr(self.w_tau)[0] if pure else none,
        )  # fmt: skip
        self._plan_cache = (key, plan)
        return plan

    def fused_step(self, x: torch.Tensor, h: torch.Tensor, dt: float):
        """One step for streaming inference in compiled code (numba), without autograd;
        ``None`` where that does not apply (gradients recorded, more than one backbone layer,
        other activations, dropout while training, devices, dtypes)."""
        if torch.is_grad_enabled() and (
            x.requires_grad or h.requires_grad or any(p.requires_grad for p in self.parameters())
        ):
            return None
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
            return None
        plan = self._step_plan(x.dtype) if h.dtype == x.dtype and fused_enabled() else None
        if plan is None:
            return None
        from ..kernels._cfc_step_numba import cfc_step

        w1, b1, act, w2, b2, mode, a_pure, w_tau = plan
        x_np, h_np = x.detach().numpy(), h.detach().numpy()
        out = np.empty(h_np.shape, dtype=h_np.dtype)
        cfc_step(x_np, h_np, float(dt), w1, b1, act, w2, b2, mode, a_pure, w_tau, out)
        h = torch.from_numpy(out)
        return h, h

    def fused_scan(self, x: torch.Tensor, dt, valid, h0: torch.Tensor):
        """The whole sequence at once with a hand-derived backward
        (:mod:`liquidtorch.kernels.cfc`); ``None`` where that does not apply (other
        activations, dropout while training, dtypes other than float32 / float64, fewer than
        3 steps, ``use_fused(False)``).

        Same contract as :func:`liquidtorch.layers.scan` (time-major ``x``); equal to the
        reference loop in outputs and gradients (tested).
        """
        weight = self.heads.weight
        if _autocast_on(x.device.type):  # mixed precision: the reference ops handle dtypes
            return None
        if not (
            fused_switch_on()
            and x.shape[0] >= _FUSED_MIN_STEPS
            and x.dtype in (torch.float32, torch.float64)
            and h0.dtype == weight.dtype == x.dtype
            and h0.device == weight.device == x.device
        ):
            return None
        acts, params = [], []
        for m in self.backbone:  # exact types: a subclass may change forward
            if type(m) is nn.Linear and m.bias is not None:
                params += [m.weight, m.bias]
            elif type(m) is nn.Dropout:
                if self.training and m.p > 0:
                    return None
            elif type(m) in _FUSED_ACTIVATIONS:
                acts.append(_FUSED_ACTIVATIONS[type(m)])
            else:
                return None
        params += [weight, self.heads.bias]
        if self.mode is CfCMode.PURE:
            params += [self.A, self.w_tau]
        constant_dt = isinstance(dt, float)
        width = params[0].shape[0] if acts else 0
        plan = CfCPlan(
            self.mode.value, tuple(acts), self.input_size, self.units, width,
            dt if constant_dt else None,
        )  # fmt: skip
        states = cfc_states(plan, x, None if constant_dt else dt, valid, h0, params)
        if valid is None:
            return states, states[-1], states[-1]
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        ys = torch.where(valid.unsqueeze(-1), states, zero)
        last = torch.where(valid.any(0).unsqueeze(-1), states[-1], zero)
        return ys, last, states[-1]

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, mode={self.mode.value}"
