"""Neuron activity of a trained sequence model, recorded by stepping its cells one by one.

Every cell follows ``(output, state) = cell(x, state, dt)``; :func:`record` runs that
reference call step by step, so it sees each neuron's state, and for LTC
cells the liquid time constant (:meth:`LTCCell.time_constant`) and for CfC cells the time
gate ``sigmoid(t_a dt + t_b)`` that blends its two heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import as_dt
from ..cells import CfCCell, CfCMode, LTCCell, MixedMemoryCell, WiredCfCCell
from ..cells.cfc import closed_form


@dataclass(frozen=True)
class Trace:
    """What :func:`record` saw, for ``n`` sequences of ``T`` steps.

    ``states`` (n, T, units): the neurons (hidden units) of the layer the head reads;
    ``predictions``: the model's outputs, (n, out) per sequence or (n, T, out) per step;
    ``valid`` (n, T) bool; ``tau`` (n, T, units) the LTC liquid time constants or None;
    ``gate`` (n, T, units) the CfC time gates or None; ``groups`` neuron group -> ids (a
    wiring's inter/command/motor, else one group ``"hidden"``); ``family`` "ltc", "cfc" or
    "other".
    """

    states: np.ndarray
    predictions: np.ndarray
    valid: np.ndarray
    tau: np.ndarray | None
    gate: np.ndarray | None
    groups: dict[str, np.ndarray]
    family: str

    @property
    def neuron_names(self) -> list[str]:
        """``"command 7"``-style names in neuron order (a neuron's group and its id)."""
        names = [""] * self.states.shape[-1]
        for group, ids in self.groups.items():
            for i in ids:
                names[int(i)] = f"{group} {int(i)}"
        return names

    def final_states(self) -> np.ndarray:
        """(n, units): each sequence's state at its last valid step."""
        last = self.valid.sum(1) - 1
        return self.states[np.arange(len(last)), np.maximum(last, 0)]


def liquid_cell(cell: nn.Module) -> nn.Module:
    """The liquid cell inside a mixed-memory wrapper (or ``cell`` itself)."""
    return cell.cell if isinstance(cell, MixedMemoryCell) else cell


def _hidden(state) -> torch.Tensor:
    return state[0] if isinstance(state, tuple) else state


def _hold(m: torch.Tensor, new, old):
    """``new`` where ``m`` (batch, 1) is True, else ``old`` (a state or a tuple of them)."""
    if isinstance(new, tuple):
        return tuple(torch.where(m, a, b) for a, b in zip(new, old, strict=True))
    return torch.where(m, new, old)


def _fused_step(cell: nn.Module, x: torch.Tensor, state):
    """The cell's compiled streaming step at ``dt = 1`` (the library tests it equal to the
    reference call; ~25x faster for an LTC), or None where it has none or it declines."""
    step = getattr(cell, "fused_step", None)
    return None if step is None or isinstance(state, tuple) else step(x, state, 1.0)


def _groups(cell: nn.Module) -> dict[str, np.ndarray]:
    wiring = getattr(liquid_cell(cell), "wiring", None)
    if wiring is None or wiring.num_layers == 1:
        return {"hidden": np.arange(cell.state_size)}
    return {name: np.asarray(ids) for name, ids in wiring.layers}


def time_gate(cell: nn.Module, x: torch.Tensor, h: torch.Tensor, dt) -> torch.Tensor | None:
    """The time gate ``sigmoid(t_a dt + t_b)`` (batch, units) of a CfC cell at input ``x``
    and state ``h``; None for pure-mode (gateless) and non-CfC cells."""
    dt = as_dt(dt, h)
    if isinstance(cell, CfCCell) and cell.mode is not CfCMode.PURE:
        _, _, t_a, t_b = cell.heads(cell.backbone(torch.cat([x, h], -1))).chunk(4, -1)
        return torch.sigmoid(t_a * dt + t_b)
    if isinstance(cell, WiredCfCCell) and cell.mode is not CfCMode.PURE:
        gates, ff = [], x
        for layer in cell.layers:  # each layer reads the new state of the previous one
            z = F.linear(torch.cat([ff, h], -1), layer.heads.weight * layer.mask, layer.heads.bias)
            _, _, t_a, t_b = z.chunk(4, -1)
            gates.append(torch.sigmoid(t_a * dt + t_b))
            ff = closed_form(z, dt, layer.mode, layer.A, layer.w_tau)
        order = np.concatenate([np.asarray(ids) for _, ids in cell.wiring.layers])
        return torch.cat(gates, -1)[..., torch.from_numpy(np.argsort(order))]
    return None


def _family(cell: nn.Module) -> str:
    inner = liquid_cell(cell)
    if isinstance(inner, LTCCell):
        return "ltc"
    if isinstance(inner, (CfCCell, WiredCfCCell)):
        return "cfc"
    return "other"


@torch.no_grad()
def record(
    model: nn.Module,
    x: torch.Tensor,
    timespans: torch.Tensor | None = None,
    lengths: torch.Tensor | None = None,
    *,
    internals: bool = True,
) -> Trace:
    """Run ``model`` (a zoo :class:`~liquidtorch.zoo.SequenceModel`: ``.layer`` and
    ``.head``) over ``x`` (n, T, features) one step at a time.

    Where only states are wanted and every step lasts 1.0, the cell's compiled
    ``fused_step`` (same contract) stands in for the reference call.

    Args:
        timespans: (n, T) elapsed times (None: 1.0).
        lengths: (n,) valid steps (None: all); past them the state is held.
        internals: also record LTC time constants / CfC time gates (slower).
    """
    layer, head = model.layer, model.head
    if getattr(layer, "bidirectional", False):
        raise ValueError("model: record() needs a one-directional layer")
    n, steps = x.shape[:2]
    dts = torch.ones(n, steps, dtype=x.dtype) if timespans is None else timespans.to(x.dtype)
    valid = torch.ones(n, steps, dtype=torch.bool)
    if lengths is not None:
        valid = torch.arange(steps) < lengths.reshape(-1, 1)
    seq = x
    for k, cell in enumerate(layer.cells):  # stacked layers: each reads the outputs below
        last_layer = k == len(layer.cells) - 1
        want = internals and last_layer
        inner, family = liquid_cell(cell), _family(cell)
        state = cell.init_state(n, dtype=x.dtype)
        outs, states, extra = [], [], []
        for t in range(steps):
            xt, dt, m = seq[:, t], dts[:, t].reshape(-1, 1), valid[:, t].reshape(-1, 1)
            if want:
                h_in = _hidden(state)
                if isinstance(cell, MixedMemoryCell):  # the LSTM runs first (see the cell)
                    h_in = cell.lstm(xt, state)[0]
                if family == "ltc":
                    extra.append(inner.time_constant(xt, h_in))
                elif family == "cfc":
                    extra.append(time_gate(inner, xt, h_in, dt))
            fast = None if want or timespans is not None else _fused_step(cell, xt, state)
            y, new = fast if fast is not None else cell(xt, state, dt)
            state = _hold(m, new, state)
            outs.append(torch.where(m, y, torch.zeros_like(y)))
            states.append(_hidden(state))
        seq = torch.stack(outs, 1)
    if layer.proj is not None:
        seq = layer.proj(seq)
    if model.per_step:
        predictions = head(seq)
    elif getattr(model, "pool", "last") == "mean":  # the mean of the valid steps' predictions
        weights = valid.unsqueeze(-1).to(seq.dtype)
        predictions = (head(seq) * weights).sum(1) / weights.sum(1).clamp_min(1.0)
    else:
        last = valid.sum(1) - 1
        predictions = head(seq[torch.arange(n), last.clamp_min(0)])
    stacked = torch.stack(states, 1).numpy()
    internal = torch.stack(extra, 1).numpy() if extra and extra[0] is not None else None
    family = _family(layer.cells[-1])
    return Trace(
        states=stacked,
        predictions=predictions.numpy(),
        valid=valid.numpy(),
        tau=internal if family == "ltc" else None,
        gate=internal if family == "cfc" else None,
        groups=_groups(layer.cells[-1]),
        family=family,
    )
