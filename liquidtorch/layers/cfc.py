"""The CfC sequence layer."""

from __future__ import annotations

from ..cells import CfCCell, CfCMode, MixedMemoryCell, WiredCfCCell, WiredRecurrence
from ..cells._activations import Activation
from ..wirings import Wiring, WiringSpec
from ._sequence import SequenceLayer, SequenceOptions, Unpack


class CfC(SequenceLayer):
    """A Closed-form Continuous-time network over sequences.

    Args:
        input_size: input features.
        units: an int (a dense CfC with a backbone MLP) or a wiring / wiring spec (a wired
            CfC without backbone, see :class:`~liquidtorch.cells.WiredCfCCell`).
        mode: :class:`CfCMode` (default, no_gate, pure).
        mixed_memory: put an LSTM in front of each cell (state becomes ``(h, c)``).
        backbone_units, backbone_layers, backbone_dropout, activation: the dense cell's
            backbone (128 units, 1 layer, no dropout, lecun_tanh); not for wired CfCs.
        recurrence: which synapses a wired CfC uses (:class:`WiredRecurrence`).
        sequence: ``num_layers``, ``bidirectional``, ``batch_first``,
            ``return_sequences``, ``proj_size`` (:class:`~liquidtorch.layers.SequenceOptions`).

    >>> rnn = CfC(8, 32, proj_size=1)
    >>> y, h = rnn(torch.randn(4, 20, 8), timespans=torch.rand(4, 20) + 0.1)
    >>> y.shape, h.shape
    (torch.Size([4, 20, 1]), torch.Size([4, 32]))
    """

    def __init__(
        self,
        input_size: int,
        units: int | Wiring | WiringSpec,
        *,
        mode: CfCMode | str = CfCMode.DEFAULT,
        mixed_memory: bool = False,
        backbone_units: int | None = None,
        backbone_layers: int | None = None,
        backbone_dropout: float | None = None,
        activation: Activation | None = None,
        recurrence: WiredRecurrence | str = WiredRecurrence.WIRING,
        **sequence: Unpack[SequenceOptions],
    ):
        wired = not isinstance(units, int)
        if wired:
            backbone = {
                "backbone_units": backbone_units,
                "backbone_layers": backbone_layers,
                "backbone_dropout": backbone_dropout,
                "activation": activation,
            }
            given = [k for k, v in backbone.items() if v is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: a wired CfC has no backbone; "
                    "pass an int for units to use one"
                )

        def make_cell(n_in: int):
            if wired:
                cell = WiredCfCCell(n_in, units, mode=mode, recurrence=recurrence)
            else:
                cell = CfCCell(
                    n_in,
                    units,
                    mode=mode,
                    backbone_units=128 if backbone_units is None else backbone_units,
                    backbone_layers=1 if backbone_layers is None else backbone_layers,
                    backbone_dropout=0.0 if backbone_dropout is None else backbone_dropout,
                    activation="lecun_tanh" if activation is None else activation,
                )
            return MixedMemoryCell(cell) if mixed_memory else cell

        super().__init__(
            input_size,
            make_cell,
            **sequence,
        )
        self.mixed_memory = mixed_memory
