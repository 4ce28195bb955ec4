"""The one sequence loop shared by every liquid layer.

Batch-first handling, unbatched input, elapsed times, padding masks, initial states,
stacking, bidirectionality, projection and streaming live here and serve every cell that
follows the cell contract ``(output, state) = cell(x, state, dt)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from typing_extensions import TypedDict, Unpack

from ._config import layer_config, layer_from_config, record_init
from ._inputs import _timespans, _valid
from ._scan import State, _shapes, scan

__all__ = ["SequenceLayer", "SequenceOptions", "Unpack", "layer_class"]


class SequenceOptions(TypedDict, total=False):
    """The options every sequence layer takes, written once (keyword-only).

    - ``num_layers`` (1): stacked layers, each fed the previous layer's outputs.
    - ``bidirectional`` (False): a second cell per layer runs backwards in time; outputs
      are concatenated.
    - ``batch_first`` (True): (batch, time, features) rather than (time, batch, features).
    - ``return_sequences`` (True): every step's output, else each sequence's last valid one.
    - ``proj_size`` (None): a linear projection of the outputs to this size.
    """

    num_layers: int
    bidirectional: bool
    batch_first: bool
    return_sequences: bool
    proj_size: int | None


class SequenceLayer(nn.Module):
    """Runs cells over sequences with the contract of ``torch.nn.LSTM`` (and more).

    Subclasses (``LTC``, ``CfC``, the baselines) only say how to make a cell for a given
    input size, taking the shared options as ``**sequence: Unpack[SequenceOptions]``. A
    subclass records its constructor arguments: ``layer.config`` describes it as plain data
    and ``type(layer).from_config(config)`` (or :func:`~liquidtorch.layers.layer_from_config`)
    builds it again.

    State (``hx`` in, second return value out): for one layer in one direction it is the
    cell's state, ``(batch, units)`` (a tuple ``(h, c)`` with mixed memory), as in ncps; with
    ``num_layers * directions > 1`` each tensor gains a leading dimension of that size, as in
    ``torch.nn.LSTM``. Unbatched input drops the batch dimension everywhere.
    """

    def __init__(
        self,
        input_size: int,
        make_cell: Callable[[int], nn.Module],
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = True,
        return_sequences: bool = True,
        proj_size: int | None = None,
    ):
        super().__init__()
        if not isinstance(input_size, int) or input_size < 1:
            raise ValueError(f"input_size must be an int >= 1, got {input_size!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}")
        if proj_size is not None and (not isinstance(proj_size, int) or proj_size < 1):
            raise ValueError(f"proj_size must be None or an int >= 1, got {proj_size!r}")
        self.input_size = input_size
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.batch_first = batch_first
        self.return_sequences = return_sequences
        self.num_directions = 2 if bidirectional else 1
        self.cells = nn.ModuleList()
        size = input_size
        for _ in range(num_layers):
            for _ in range(self.num_directions):
                self.cells.append(make_cell(size))
            size = self.cells[-1].output_size * self.num_directions
        self.proj = None if proj_size is None else nn.Linear(size, proj_size)
        # The cell of the streaming fast lane (one layer, one direction), kept out of the
        # module registry so it is not a second copy in the state dict.
        self.__dict__["_step_cell"] = self.cells[0] if len(self.cells) == 1 else None
        probe = self.cells[0].init_state(1)
        self._state_parts = len(probe) if isinstance(probe, tuple) else 1
        self.output_size = size if proj_size is None else proj_size

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        record_init(cls)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor settings as JSON-ready data (``TypeError`` if an argument is not
        describable, e.g. a custom activation function)."""
        return layer_config(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SequenceLayer:
        """Build the layer ``config`` describes (fresh weights)."""
        layer = layer_from_config(config)
        if not isinstance(layer, cls):
            raise ValueError(f"config describes a {type(layer).__name__}, not a {cls.__name__}")
        return layer

    @property
    def cell(self) -> nn.Module:
        """The first cell (the only one for a single-layer, one-direction layer)."""
        return self.cells[0]

    @property
    def state_size(self) -> int:
        return self.cells[0].state_size

    # ------------------------------------------------------------------ state
    def init_state(self, batch: int | None = None, device=None, dtype=None) -> State:
        """Zero state in the public format; ``batch=None`` for unbatched input."""
        states = [c.init_state(batch or 1, device, dtype) for c in self.cells]
        return self._pack(states, batched=batch is not None)

    def _pack(self, states: Sequence[State], batched: bool) -> State:
        if len(states) == 1:
            out = states[0]
        elif isinstance(states[0], tuple):
            out = tuple(torch.stack(parts) for parts in zip(*states, strict=True))
        else:
            out = torch.stack(list(states))
        if not batched:
            dim = 0 if len(states) == 1 else 1
            out = tuple(t.squeeze(dim) for t in out) if isinstance(out, tuple) else out.squeeze(dim)
        return out

    def _unpack(self, hx: State | None, batch: int, batched: bool, like: torch.Tensor):
        """Validate a public-format state and split it into one state per cell."""
        if hx is None:
            return [c.init_state(batch, like.device, like.dtype) for c in self.cells]
        n = len(self.cells)
        shape = ((n,) if n > 1 else ()) + ((batch,) if batched else ()) + (self.state_size,)
        expected = (shape,) * self._state_parts if self._state_parts > 1 else shape
        parts = hx if isinstance(hx, tuple) else (hx,)
        ok = isinstance(hx, tuple) == (self._state_parts > 1) and all(
            isinstance(p, torch.Tensor) for p in parts
        )
        if not ok or _shapes(hx) != expected:
            got = _shapes(hx) if ok else type(hx).__name__
            what = "a tuple (h, c) of shapes" if self._state_parts > 1 else "shape"
            raise ValueError(f"hx: expected {what} {expected}, got {got}")
        if not batched:
            parts = tuple(p.unsqueeze(0 if n == 1 else 1) for p in parts)
        parts = tuple(p.to(like.dtype) for p in parts)
        per_cell = [parts] if n == 1 else [tuple(p[i] for p in parts) for i in range(n)]
        return [s if isinstance(hx, tuple) else s[0] for s in per_cell]

    # ------------------------------------------------------------------ input
    def _prepare(self, input, timespans, lengths, mask):
        if not isinstance(input, torch.Tensor) or input.dim() not in (2, 3):
            shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input)
            raise ValueError(
                "input: expected (batch, time, features) "
                f"{'' if self.batch_first else '[time-first: (time, batch, features)] '}"
                f"or unbatched (time, features), got {shape}"
            )
        if not input.is_floating_point():
            raise ValueError(f"input: expected a floating point tensor, got {input.dtype}")
        weight = next(self.parameters(), None)
        if weight is not None and input.dtype != weight.dtype:
            raise ValueError(
                f"input: dtype {input.dtype} does not match the layer's parameters "
                f"({weight.dtype}); cast the input or the layer (e.g. layer.to(torch.float64))"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"input: expected {self.input_size} features in the last dimension, "
                f"got shape {tuple(input.shape)}"
            )
        batched = input.dim() == 3
        steps_dim = (1 if self.batch_first else 0) if batched else 0
        if input.shape[steps_dim] == 0:
            raise ValueError(
                f"input: a sequence needs at least one step, got shape {tuple(input.shape)}"
            )
        if batched:
            x = input.transpose(0, 1) if self.batch_first else input
        else:
            x = input.unsqueeze(1)
        steps, batch = x.shape[0], x.shape[1]
        order = "(batch, time)" if self.batch_first else "(time, batch)"
        shape_tb = (steps, batch)
        dt = _timespans(timespans, x, shape_tb, batched, self.batch_first, order)
        valid = _valid(lengths, mask, x, shape_tb, batched, self.batch_first, order)
        if valid is not None:
            # Padded positions may hold anything (even NaN): neutralise them so that neither
            # the forward pass nor the gradients see them.
            x = torch.where(valid.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype))
            if isinstance(dt, torch.Tensor):
                dt = torch.where(valid.unsqueeze(-1), dt, torch.ones((), dtype=dt.dtype))
        if isinstance(dt, torch.Tensor) and not bool(((dt > 0) & torch.isfinite(dt)).all()):
            raise ValueError("timespans: every elapsed time must be finite and > 0")
        return x, dt, valid, batched

    # ---------------------------------------------------------------- forward
    def _forward_tm(self, x, dt, valid, states):
        """Time-major core: returns outputs (time, batch, out), last (batch, out), states."""
        states = list(states)
        layer_in = x
        for layer in range(self.num_layers):
            seqs, lasts = [], []
            for d in range(self.num_directions):
                i = layer * self.num_directions + d
                seq, last, states[i] = scan(
                    self.cells[i], layer_in, dt, valid, states[i], reverse=d == 1
                )
                seqs.append(seq)
                lasts.append(last)
            layer_in = torch.cat(seqs, -1) if len(seqs) > 1 else seqs[0]
        last = torch.cat(lasts, -1) if len(lasts) > 1 else lasts[0]
        return layer_in, last, states

    def forward(
        self,
        input: torch.Tensor,
        hx: State | None = None,
        timespans: float | torch.Tensor | None = None,
        *,
        lengths: torch.Tensor | Sequence[int] | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Run the layer over a sequence.

        Args:
            input: (batch, time, features) if ``batch_first`` else (time, batch, features);
                or unbatched (time, features).
            hx: initial state (see the class docstring); zeros if None.
            timespans: elapsed time of each step: a number, or a tensor (batch, time) or
                (batch, time, 1) [time-first: (time, batch[, 1])]; unbatched (time[, 1]).
                Every value must be finite and > 0 (padded positions are ignored).
            lengths: (batch,) number of valid steps per sequence (padding at the end).
            mask: (batch, time) [time-first: (time, batch)] bool, True where a step is valid.
                At invalid steps the state does not change and the output is zero.

        Returns:
            ``(output, state)``: output (batch, time, output_size) if ``return_sequences``
            else (batch, output_size), the output of each sequence's last valid step.

        NaN in valid inputs propagates to the outputs (nothing is imputed); mark missing
        steps with ``mask`` instead.
        """
        x, dt, valid, batched = self._prepare(input, timespans, lengths, mask)
        states = self._unpack(hx, x.shape[1], batched, x)
        seq, last, states = self._forward_tm(x, dt, valid, states)
        if self.return_sequences:
            out = seq.transpose(0, 1) if self.batch_first else seq
            if not batched:
                out = out.squeeze(0 if self.batch_first else 1)
        else:
            out = last if batched else last.squeeze(0)
        if self.proj is not None:
            out = self.proj(out)
        return out, self._pack(states, batched)

    def _fast_step(self, input, hx, dt):
        """The streaming fast lane: one cell with a ``fused_step``, a batched input, a scalar
        ``dt``, a plain state. ``None`` sends the call down the general path (which also
        produces the error messages)."""
        cell = self.__dict__["_step_cell"]
        fused = getattr(cell, "fused_step", None)
        if (
            fused is None
            or not isinstance(input, torch.Tensor)
            or input.dim() != 2
            or input.shape[1] != self.input_size
            or not isinstance(dt, (int, float))
            or not 0 < dt < float("inf")
        ):
            return None
        if hx is None:
            hx = cell.init_state(input.shape[0], input.device, input.dtype)
        elif not isinstance(hx, torch.Tensor) or hx.shape != (input.shape[0], cell.state_size):
            return None
        out = fused(input, hx, float(dt))
        if out is None:
            return None
        y, state = out
        return (y if self.proj is None else self.proj(y)), state

    def step(
        self, input: torch.Tensor, hx: State | None = None, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, State]:
        """Advance by one time step (streaming inference): ``input`` (batch, features) or
        (features,), ``dt`` a number or (batch,) / (batch, 1). Feeding a sequence step by step
        gives the same outputs and state as one call on the whole sequence."""
        if self.bidirectional:
            raise RuntimeError("step() is not defined for a bidirectional layer")
        fast = self._fast_step(input, hx, dt)
        if fast is not None:
            return fast
        if not isinstance(input, torch.Tensor) or input.dim() not in (1, 2):
            shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input)
            raise ValueError(f"input: expected (batch, features) or (features,), got {shape}")
        batched = input.dim() == 2
        seq = input.unsqueeze(1 if self.batch_first else 0) if batched else input.unsqueeze(0)
        if isinstance(dt, torch.Tensor) and dt.dim() > 0:
            dt = dt.reshape(-1, 1) if self.batch_first else dt.reshape(1, -1)
            dt = dt if batched else dt.reshape(1)
        x, dt, valid, batched = self._prepare(seq, dt, None, None)
        states = self._unpack(hx, x.shape[1], batched, x)
        _, last, states = self._forward_tm(x, dt, valid, states)
        out = last if batched else last.squeeze(0)
        if self.proj is not None:
            out = self.proj(out)
        return out, self._pack(states, batched)


def layer_class(cell_type: type[nn.Module], name: str | None = None) -> type[SequenceLayer]:
    """A sequence layer class for a cell type that takes ``(input_size, units, **options)``:
    ``Layer(input_size, units, **cell_options, **sequence_options)``. The layer records its
    settings like every other (``config`` / ``from_config``), under ``name`` (default the
    cell's name without ``Cell``), so a new cell needs no hand-written layer class.

    >>> from liquidtorch.baselines import GRUCell
    >>> GRULayer = layer_class(GRUCell, "GRULayer")
    >>> y, h = GRULayer(3, 8, time_input=False, num_layers=2)(torch.randn(2, 5, 3))
    >>> y.shape, h.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 2, 8]))
    """
    sequence_keys = set(SequenceOptions.__annotations__)

    def __init__(self: SequenceLayer, input_size: int, units: int, **options: Any) -> None:
        sequence = {k: options.pop(k) for k in list(options) if k in sequence_keys}
        SequenceLayer.__init__(
            self, input_size, lambda n_in: cell_type(n_in, units, **options), **sequence
        )

    layer_name = name or cell_type.__name__.removesuffix("Cell") or cell_type.__name__
    return type(
        layer_name,
        (SequenceLayer,),
        {
            "__init__": __init__,
            "__doc__": (
                f"Sequence layer of :class:`{cell_type.__name__}` (see :func:`layer_class`)."
            ),
        },
    )
