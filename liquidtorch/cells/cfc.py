"""The Closed-form Continuous-time (CfC) cell (docs/maths.md, section 6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._utils import as_dt
from ..kernels import fused_enabled, fused_switch_on
from ..kernels._common import FUSED_ACTIVATIONS
from ..kernels.cfc import CfCPlan, cfc_states
from ..kernels.cfc_step import FusedCfCStep
from ..kernels.mixed_cfc import MixedCfCPlan, MixedCfCScan
from ._activations import LECUN_IN, LECUN_OUT, Activation, get_activation
from ._base import UnitsCell, check_dtype
from .options import CfCMode, coerce

# The fused path's fixed cost is about two reference steps: shorter sequences (streaming
# with ``step()``) run faster in the reference loop.
_FUSED_MIN_STEPS = 3
_FLOATS = (torch.float32, torch.float64)


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4
        return (
            torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()
        )


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
        self._fused_step = FusedCfCStep()  # reads the weights through views, never stale

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_dtype(self, x, h)
        z = self.backbone(torch.cat([x, h], dim=-1))
        h = closed_form(self.heads(z), as_dt(dt, h), self.mode, self.A, self.w_tau)
        return h, h

    def _fused_backbone(self) -> tuple[list[torch.Tensor], tuple[str, ...]] | None:
        """The backbone's (weight, bias) per layer and its activations' names, or ``None``
        where the fused paths do not apply (other modules or activations, dropout while
        training)."""
        acts, params = [], []
        for m in self.backbone:  # exact types: a subclass may change forward
            if type(m) is nn.Linear and m.bias is not None:
                params += [m.weight, m.bias]
            elif type(m) is nn.Dropout:
                if self.training and m.p > 0:
                    return None
            elif type(m) in FUSED_ACTIVATIONS:
                acts.append(FUSED_ACTIVATIONS[type(m)])
            else:
                return None
        return params, tuple(acts)

    def _heads_params(self) -> list[torch.Tensor]:
        pure = self.mode is CfCMode.PURE
        return [self.heads.weight, self.heads.bias] + ([self.A, self.w_tau] if pure else [])

    def _step_modules(self):
        """``(linear or None, activation name or None, heads)`` of a backbone the compiled
        step serves (at most one layer), or ``None``. Cached on the modules' identities and
        the training flag; the cache holds the modules, so their ids are not reused, and
        parameters are read from them on every call (they may be replaced)."""
        backbone, heads = self._modules["backbone"], self._modules["heads"]
        mods = tuple(backbone._modules.values())
        key = (self.training, id(backbone), id(heads), *map(id, mods))
        cached = self.__dict__.get("_step_cache")
        if cached is None or cached[0] != key:
            fused = self._fused_backbone()
            linears = [m for m in mods if type(m) is nn.Linear]
            ok = fused is not None and len(linears) <= 1
            plan = (linears[0] if linears else None, fused[1][0] if fused and fused[1] else None)
            cached = (key, (backbone, heads, *mods), (*plan, heads) if ok else None)
            self.__dict__["_step_cache"] = cached
        return cached[2]

    def fused_step(self, x: torch.Tensor, h: torch.Tensor, dt: float):
        """One step for streaming inference in compiled code (numba), without autograd;
        ``None`` where that does not apply (gradients recorded, more than one backbone layer,
        other activations, dropout while training, devices, dtypes)."""
        if not (x.is_cpu and x.dtype in _FLOATS and h.dtype == x.dtype and fused_enabled()):
            return None
        plan = self._step_modules()
        if plan is None:
            return None
        linear, act, heads = plan
        backbone = [] if linear is None else [linear._parameters[k] for k in ("weight", "bias")]
        own = self._parameters
        head = [heads._parameters["weight"], heads._parameters["bias"]]
        head += [own["A"], own["w_tau"]] if self.mode is CfCMode.PURE else []
        params = backbone + head  # every parameter of this cell
        if any(p.dtype != x.dtype or not p.is_cpu for p in params) or (
            torch.is_grad_enabled()
            and (x.requires_grad or h.requires_grad or any(p.requires_grad for p in params))
        ):
            return None
        out = self._fused_step.step(
            backbone, () if act is None else (act,), head, self.mode, x.detach().numpy(),
            h.detach().numpy(), dt,
        )  # fmt: skip
        h = torch.from_numpy(out)
        return h, h

    def frozen_step(self):
        """The compiled streaming step with copies of the current weights (see
        :class:`liquidtorch.streaming.FrozenStep`): ``(x, h, dt) -> new state`` over NumPy
        arrays of the weights' dtype."""
        plan = self._step_modules() if fused_enabled() else None
        dtype = self.heads.weight.dtype
        if plan is None or dtype not in _FLOATS:
            raise ValueError(
                "a frozen step needs numba, float32 / float64 weights and a backbone of at "
                "most one layer with lecun_tanh, tanh or relu (no dropout while training)"
            )
        linear, act, heads = plan
        backbone = [] if linear is None else [linear.weight, linear.bias]
        head = [heads.weight, heads.bias]
        head += [self.A, self.w_tau] if self.mode is CfCMode.PURE else []
        return self._fused_step.frozen(backbone, () if act is None else (act,), head, self.mode)

    def _fused_ok(self, x: torch.Tensor, h0: torch.Tensor) -> bool:
        weight = self.heads.weight
        return (
            not _autocast_on(x.device.type)  # mixed precision: the reference ops handle dtypes
            and fused_switch_on()
            and x.shape[0] >= _FUSED_MIN_STEPS
            and x.dtype in (torch.float32, torch.float64)
            and h0.dtype == weight.dtype == x.dtype
            and h0.device == weight.device == x.device
        )

    def fused_states(self, x: torch.Tensor, dt, valid, h0: torch.Tensor):
        """States (time, batch, units) of the whole sequence with a hand-derived backward
        (:mod:`liquidtorch.kernels.cfc`), the contract of :func:`liquidtorch.layers.scan`;
        ``None`` where that does not apply (other activations, dropout while training, dtypes
        other than float32 / float64, fewer than 3 steps, ``use_fused(False)``)."""
        fused = self._fused_backbone() if self._fused_ok(x, h0) else None
        if fused is None:
            return None
        params, acts = fused
        constant_dt = isinstance(dt, float)
        width = params[0].shape[0] if acts else 0
        plan = CfCPlan(
            self.mode.value, acts, self.input_size, self.units, width,
            dt if constant_dt else None,
        )  # fmt: skip
        dt = None if constant_dt else dt.unsqueeze(-1)
        return cfc_states(plan, x, dt, valid, h0, params + self._heads_params())

    def fused_mixed_states(self, lstm: nn.Module, x: torch.Tensor, dt, valid, state):
        """States ``(h, c)`` of mixed memory (``lstm`` in front of this cell, see
        :class:`~liquidtorch.cells.MixedMemoryCell`) in one pass with a hand-derived backward
        (:mod:`liquidtorch.kernels.mixed_cfc`); ``None`` where that does not apply."""
        h0, c0 = state
        fused = self._fused_backbone() if self._fused_ok(x, h0) and c0.dtype == h0.dtype else None
        if fused is None:
            return None
        params, acts = fused
        # lecun_tanh's constants into the weights: rows of the layer before, columns after.
        linears = [(params[i], params[i + 1]) for i in range(0, len(params), 2)]
        linears.append((self.heads.weight, self.heads.bias))
        folded, scale = [], None
        for k, (w, b) in enumerate(linears):
            w = w if scale is None else w * scale
            lecun = k < len(acts) and acts[k] == "lecun_tanh"
            folded.append((w * LECUN_IN, b * LECUN_IN) if lecun else (w, b))
            scale = LECUN_OUT if lecun else None
        n_in, u = self.input_size, self.units
        forget = torch.zeros(4 * u, dtype=x.dtype, device=x.device)
        forget[2 * u : 3 * u] = 1.0  # the forget gate's +1
        zx = F.linear(x, lstm.input_map.weight, lstm.input_map.bias + forget)
        if isinstance(dt, float) and self.mode is not CfCMode.PURE:  # one gate head
            w, b = folded[-1]
            folded[-1] = tuple(
                torch.cat([p[: 2 * u], torch.add(p[3 * u :], p[2 * u : 3 * u], alpha=dt)])
                for p in (w, b)
            )
        (w0, b0), rest = folded[0], folded[1:]
        zb = F.linear(x, w0[:, :n_in], b0)
        constant_dt = isinstance(dt, float)
        plan = MixedCfCPlan(
            self.mode, tuple("relu" if a == "relu" else "tanh" for a in acts), u,
            dt if constant_dt else None,
        )  # fmt: skip
        pure = [self.A, self.w_tau] if self.mode is CfCMode.PURE else []
        return MixedCfCScan.apply(
            plan, len(rest), zx, zb, None if constant_dt else dt.unsqueeze(-1), valid, h0, c0,
            lstm.recurrent_map.weight, w0[:, n_in:], *(p for pair in rest for p in pair), *pure,
        )  # fmt: skip

    def output_of(self, h: torch.Tensor) -> torch.Tensor:
        """The output for a state: the state itself."""
        return h

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, mode={self.mode.value}"
