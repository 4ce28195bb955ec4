"""A CfC whose neurons and synapses follow a wiring, layer by layer (inter -> command -> motor)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import as_dt
from ..kernels import fused_enabled
from ..kernels._common import full_dt, full_valid
from ..kernels.wired_cfc import FusedWiredCfC, wired_cfc_states
from ..wirings import Wiring, WiringSpec, as_wiring
from ._base import WiredCell, check_dtype
from .cfc import closed_form, init_heads_, num_heads
from .options import CfCMode, WiredRecurrence, coerce


def layer_masks(wiring: Wiring, recurrence: WiredRecurrence) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer ``l`` with neurons ``cur``: the 0/1 masks of its synaptic heads (ff1, ff2) and
    time heads (time_a, time_b), each (len(cur), n_in + units).

    The inputs of layer ``l`` are ``[feed-forward | old state of all neurons]``: the
    feed-forward part is the sensory input for layer 0 and the *new* state of layer ``l-1``
    otherwise (as in ncps), the second part carries every other synapse into the layer.
    """
    masks = []
    prev = None
    for _, cur in wiring.layers:
        cur = list(cur)
        if prev is None:
            ff = wiring.sensory_adjacency[:, cur] != 0
        else:
            ff = wiring.adjacency[np.ix_(prev, cur)] != 0
        rec = np.zeros((wiring.units, len(cur)), dtype=bool)
        if recurrence is WiredRecurrence.WIRING:
            rec[:] = wiring.adjacency[:, cur] != 0
            if prev is not None:  # already fed forward from the new state of layer l-1
                rec[prev, :] = False
            syn = time = np.concatenate([ff, rec]).T
        else:  # ncps 1.0.1: dense within the layer; time heads dense over [ff, own layer]
            rec[cur, :] = True
            syn = np.concatenate([ff, rec]).T
            time = np.concatenate([np.ones_like(ff), rec]).T
        masks.append((syn.astype(np.float32), time.astype(np.float32)))
        prev = cur
    return masks


class _WiredLayer(nn.Module):
    """One layer of a wired CfC: fused, masked heads over ``[feed-forward, state]``."""

    def __init__(self, n_ff: int, units: int, n_out: int, mode: CfCMode, syn, time):
        super().__init__()
        self.mode = mode
        k = num_heads(mode)
        self.heads = nn.Linear(n_ff + units, k * n_out)
        init_heads_(self.heads.weight, k)
        mask = [syn] if k == 1 else [syn, syn, time, time]  # [ff1 | ff2 | time_a | time_b]
        self.register_buffer("mask", torch.tensor(np.concatenate(mask)))
        if mode is CfCMode.PURE:
            self.w_tau = nn.Parameter(torch.zeros(1, n_out))
            self.A = nn.Parameter(torch.ones(1, n_out))
        else:
            self.w_tau = self.A = None

    def forward(self, ff: torch.Tensor, h: torch.Tensor, dt) -> torch.Tensor:
        z = F.linear(torch.cat([ff, h], dim=-1), self.heads.weight * self.mask, self.heads.bias)
        return closed_form(z, dt, self.mode, self.A, self.w_tau)


class WiredCfCCell(WiredCell):
    """One step of a wired CfC: ``(output, h_next) = cell(x, h, dt)``.

    The state holds every neuron in wiring order (motor neurons ``0..output_size-1`` first);
    the output is the motor neurons. Each layer of the wiring is a CfC without backbone whose
    weights are masked by the wiring's synapses; see :class:`WiredRecurrence` for which.

    >>> from liquidtorch.wirings import AutoNCP
    >>> cell = WiredCfCCell(3, AutoNCP(16, 2))
    >>> y, h = cell(torch.randn(4, 3), cell.init_state(4))
    >>> y.shape, h.shape
    (torch.Size([4, 2]), torch.Size([4, 16]))
    """

    def __init__(
        self,
        input_size: int,
        wiring: Wiring | WiringSpec | int,
        *,
        mode: CfCMode | str = CfCMode.DEFAULT,
        recurrence: WiredRecurrence | str = WiredRecurrence.WIRING,
    ):
        super().__init__()
        self.wiring = as_wiring(wiring, input_size)
        self.mode = coerce(CfCMode, mode, "mode")
        self.recurrence = coerce(WiredRecurrence, recurrence, "recurrence")
        self.layers = nn.ModuleList()
        n_ff = self.wiring.input_size
        for (_, cur), (syn, time) in zip(
            self.wiring.layers, layer_masks(self.wiring, self.recurrence), strict=True
        ):
            self.layers.append(_WiredLayer(n_ff, self.wiring.units, len(cur), self.mode, syn, time))
            n_ff = len(cur)
        order = np.concatenate([np.asarray(cur, dtype=np.int64) for _, cur in self.wiring.layers])
        # Layer outputs are concatenated in layer order; this puts them back in neuron order.
        self.register_buffer("_neuron_order", torch.from_numpy(np.argsort(order)))
        self._fused = FusedWiredCfC()  # the fused path's edge lists, following the masks

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_dtype(self, x, h)
        dt = as_dt(dt, h)
        outs, ff = [], x
        for layer in self.layers:
            ff = layer(ff, h, dt)
            outs.append(ff)
        h = torch.cat(outs, dim=-1)[..., self._neuron_order]
        return h[..., : self.output_size], h

    def synapse_masks(self) -> dict[str, torch.Tensor]:
        """Parameter name (as in ``named_parameters()``) -> 0/1 mask of the entries in use:
        each layer's heads use only the weights of the wiring's synapses."""
        return {f"layers.{i}.heads.weight": layer.mask for i, layer in enumerate(self.layers)}

    def fused_states(self, x: torch.Tensor, dt, valid, h0: torch.Tensor, lstm=None):
        """States (time, batch, units) of the whole sequence in compiled code (the contract
        of :func:`liquidtorch.layers.scan`); ``None`` where that does not apply. ``lstm``:
        see :meth:`fused_mixed_states`."""
        weight = self.layers[0].heads.weight
        if not (
            x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64)
            and h0.dtype == x.dtype == weight.dtype
            and weight.device.type == "cpu"
            and fused_enabled()
        ):
            return None
        graph = self._fused.graph(
            [layer.mask for layer in self.layers],
            [cur for _, cur in self.wiring.layers],
            self.wiring.input_size,
            self.mode,
        )
        if graph is None:  # paired heads masked differently: not served by the kernels
            return None
        steps, batch = x.shape[:2]
        pure = self.mode is CfCMode.PURE
        return wired_cfc_states(
            graph, x, full_dt(dt, steps, batch, x), full_valid(valid, steps, batch), h0,
            [layer.heads.weight for layer in self.layers],
            [layer.heads.bias for layer in self.layers],
            [layer.w_tau for layer in self.layers] if pure else (),
            [layer.A for layer in self.layers] if pure else (), lstm,
        )  # fmt: skip

    def fused_mixed_states(self, lstm: nn.Module, x: torch.Tensor, dt, valid, state):
        """States ``(h, c)`` of mixed memory (``lstm`` in front of this cell, see
        :class:`~liquidtorch.cells.MixedMemoryCell`), the LSTM inside the compiled loop (its
        input projection computed for all steps at once); ``None`` where that does not
        apply."""
        h0, c0 = state
        if c0.dtype != h0.dtype:
            return None
        n = self.state_size
        forget = torch.zeros(4 * n, dtype=x.dtype, device=x.device)
        forget[2 * n : 3 * n] = 1.0  # the forget gate's +1
        zx = F.linear(x, lstm.input_map.weight, lstm.input_map.bias + forget)
        return self.fused_states(x, dt, valid, h0, (zx, lstm.recurrent_map.weight, c0))

    def fused_step(self, x: torch.Tensor, h: torch.Tensor, dt: float):
        """One step for streaming inference through the compiled sequence kernel (a sequence
        of one step; the live weights, never stale), without autograd; ``None`` where that
        does not apply (gradients recorded, devices, dtypes, paired heads masked apart)."""
        if torch.is_grad_enabled() and (
            x.requires_grad or h.requires_grad or any(p.requires_grad for p in self.parameters())
        ):
            return None
        states = self.fused_states(x.unsqueeze(0), float(dt), None, h)
        if states is None:
            return None
        h_new = states[0]
        return self.output_of(h_new), h_new

    def frozen_step(self):
        """The compiled streaming step with copies of the current weights (see
        :class:`liquidtorch.streaming.FrozenStep`): ``(x, h, dt) -> (output, new state)``
        over NumPy arrays of the weights' dtype."""
        weight = self.layers[0].heads.weight
        graph = None
        if fused_enabled() and weight.dtype in (torch.float32, torch.float64):
            graph = self._fused.graph(
                [layer.mask for layer in self.layers],
                [cur for _, cur in self.wiring.layers],
                self.wiring.input_size,
                self.mode,
            )
        if graph is None:
            raise ValueError(
                "a frozen step needs numba, float32 / float64 weights and paired heads "
                "masked alike (the fused kernels' layout)"
            )
        pure = self.mode is CfCMode.PURE
        return self._fused.frozen(
            graph,
            [layer.heads.weight for layer in self.layers],
            [layer.heads.bias for layer in self.layers],
            [layer.w_tau for layer in self.layers] if pure else (),
            [layer.A for layer in self.layers] if pure else (),
            self.output_size,
        )

    def output_of(self, h: torch.Tensor) -> torch.Tensor:
        """The output for a state: the motor neurons."""
        return h[..., : self.output_size]

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, units={self.state_size}, "
            f"output_size={self.output_size}, mode={self.mode.value}, "
            f"recurrence={self.recurrence.value}"
        )
