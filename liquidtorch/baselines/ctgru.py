"""CT-GRU baseline (Mozer, Kazakov & Lindsey 2017, "Discrete event, continuous time RNNs")."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._utils import as_dt
from ..layers._sequence import SequenceLayer, SequenceOptions, Unpack
from ._common import check_int, init_chunks_


class CTGRUCell(nn.Module):
    """One step of a continuous-time GRU: ``(h_next, traces_next) = cell(x, traces, dt)``.

    Each unit keeps ``M`` memory traces ``h_k`` with fixed time scales ``tau_k``, log-spaced
    from ``tau_min`` to ``tau_max``; ``h = sum_k h_k``. An event ``x`` followed by ``dt`` of
    silence updates them as in the paper (section 3)::

        ln tau_R = W_R x + U_R h + b_R                       retrieval scale, per unit
        r_k      = softmax_k(-(ln tau_R - ln tau_k)^2)
        q        = tanh(W_Q x + U_Q sum_k(r_k * h_k) + b_Q)  the event's signal
        ln tau_S = W_S x + U_S h + b_S                       storage scale, per unit
        s_k      = softmax_k(-(ln tau_S - ln tau_k)^2)
        h_k     <- ((1 - s_k) h_k + s_k q) exp(-dt / tau_k)  store, then decay over dt
        output   = sum_k h_k

    Where the storage weight ``s_k`` of a scale is ~0, its trace only decays, by
    ``exp(-dt / tau_k)``.

    The LTC paper's CT-GRU code predicts ``M`` logits per unit instead of one scale and decays
    by ``exp(-1 / ln tau_k)`` whatever the elapsed time; here the paper's equations are used.

    Initialisation: Xavier-uniform ``W``, orthogonal ``U`` (per gate), zero biases (so the
    gates start centred on ``tau = 1``).

    Args:
        input_size: input features.
        units: hidden units (the output).
        num_scales: ``M``, the time scales per unit.
        tau_min, tau_max: the smallest and largest time scale.

    Shapes: ``x`` (batch, input_size); state: the traces flattened to (batch, units * M),
    unit-major (:meth:`traces` gives (batch, units, M)); ``dt`` a float or (batch,) /
    (batch, 1); output (batch, units).

    >>> cell = CTGRUCell(3, 16)
    >>> y, state = cell(torch.randn(5, 3), cell.init_state(5), torch.rand(5, 1))
    >>> y.shape, state.shape
    (torch.Size([5, 16]), torch.Size([5, 128]))
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        num_scales: int = 8,
        tau_min: float = 1.0,
        tau_max: float = 1000.0,
    ):
        super().__init__()
        check_int("input_size", input_size, 1)
        check_int("units", units, 1)
        check_int("num_scales", num_scales, 1)
        if not 0 < tau_min <= tau_max < math.inf or (num_scales > 1 and tau_min == tau_max):
            raise ValueError(
                f"need 0 < tau_min < tau_max < inf, got tau_min={tau_min!r}, tau_max={tau_max!r}"
            )
        self._input_size, self.units, self.num_scales = input_size, units, num_scales
        self.register_buffer(
            "ln_tau", torch.linspace(math.log(tau_min), math.log(tau_max), num_scales)
        )
        self.input_map = nn.Linear(input_size, 3 * units)  # [W_R; W_S; W_Q] x + b
        self.recurrent_map = nn.Linear(units, 2 * units, bias=False)  # [U_R; U_S] h
        self.retrieved_map = nn.Linear(units, units, bias=False)  # U_Q
        init_chunks_(self.input_map.weight, 3, nn.init.xavier_uniform_)
        nn.init.zeros_(self.input_map.bias)
        init_chunks_(self.recurrent_map.weight, 2, nn.init.orthogonal_)
        nn.init.orthogonal_(self.retrieved_map.weight)

    @property
    def input_size(self) -> int:
        return self._input_size

    @property
    def state_size(self) -> int:
        return self.units * self.num_scales

    @property
    def output_size(self) -> int:
        return self.units

    @property
    def tau(self) -> torch.Tensor:
        """The fixed time scales (M,)."""
        return self.ln_tau.exp()

    def init_state(self, batch: int, device=None, dtype=None) -> torch.Tensor:
        dtype = dtype or self.input_map.weight.dtype
        return torch.zeros(batch, self.state_size, device=device, dtype=dtype)

    def traces(self, state: torch.Tensor) -> torch.Tensor:
        """The state as traces (batch, units, M)."""
        return state.reshape(state.shape[0], self.units, self.num_scales)

    def scale_weights(self, ln_tau: torch.Tensor) -> torch.Tensor:
        """Distribution over the time scales for log time scales (batch, units):
        (batch, units, M), ``softmax_k(-(ln_tau - ln tau_k)^2)``."""
        return torch.softmax(-((ln_tau.unsqueeze(-1) - self.ln_tau) ** 2), dim=-1)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        traces = self.traces(state)
        h = traces.sum(-1)
        wr, ws, wq = self.input_map(x).chunk(3, dim=-1)
        ur, us = self.recurrent_map(h).chunk(2, dim=-1)
        r = self.scale_weights(wr + ur)
        q = torch.tanh(wq + self.retrieved_map((r * traces).sum(-1)))
        s = self.scale_weights(ws + us)
        dt = as_dt(dt, h)
        if isinstance(dt, torch.Tensor):
            dt = dt.unsqueeze(-1)  # (batch, 1, 1) against the scales (M,)
        traces = ((1.0 - s) * traces + s * q.unsqueeze(-1)) * torch.exp(-dt / self.tau)
        return traces.sum(-1), traces.reshape(state.shape[0], self.state_size)

    def extra_repr(self) -> str:
        tau = self.tau
        return (
            f"input_size={self.input_size}, units={self.units}, num_scales={self.num_scales}, "
            f"tau=[{tau[0].item():g}, {tau[-1].item():g}]"
        )


class CTGRU(SequenceLayer):
    """A CT-GRU over sequences, with the sequence API of the liquid layers.

    Args:
        input_size: input features.
        units: hidden units.
        num_scales, tau_min, tau_max: see :class:`CTGRUCell` (same defaults).
        sequence: ``num_layers``, ``bidirectional``, ``batch_first``,
            ``return_sequences``, ``proj_size`` (:class:`~liquidtorch.layers.SequenceOptions`).

    The state holds every unit's traces, (batch, units * num_scales).

    >>> rnn = CTGRU(8, 32, num_scales=4)
    >>> y, h = rnn(torch.randn(4, 20, 8), timespans=torch.rand(4, 20) + 0.1)
    >>> y.shape, h.shape
    (torch.Size([4, 20, 32]), torch.Size([4, 128]))
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        num_scales: int = 8,
        tau_min: float = 1.0,
        tau_max: float = 1000.0,
        **sequence: Unpack[SequenceOptions],
    ):
        super().__init__(
            input_size,
            lambda n_in: CTGRUCell(
                n_in, units, num_scales=num_scales, tau_min=tau_min, tau_max=tau_max
            ),
            **sequence,
        )
