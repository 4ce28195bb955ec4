"""The LTC sequence layer."""

from __future__ import annotations

from ..cells import Constraint, LTCCell, Mapping, MixedMemoryCell
from ..solvers import Solver
from ..wirings import Wiring, WiringSpec
from ._sequence import SequenceLayer, SequenceOptions, Unpack


class LTC(SequenceLayer):
    """A Liquid Time-Constant network over sequences.

    Args:
        input_size: input features.
        units: an int (fully connected neurons), a wiring spec such as ``AutoNCP(32, 4)``
            (built once per stacked layer for that layer's input size) or a built wiring.
        mixed_memory: put an LSTM in front of each cell (state becomes ``(h, c)``).
        input_mapping, output_mapping, solver, constraint, epsilon: see :class:`LTCCell`
            (same defaults).
        sequence: ``num_layers``, ``bidirectional``, ``batch_first``,
            ``return_sequences``, ``proj_size`` (:class:`~liquidtorch.layers.SequenceOptions`).

    >>> from liquidtorch.wirings import AutoNCP
    >>> rnn = LTC(8, AutoNCP(16, 2))
    >>> y, h = rnn(torch.randn(4, 20, 8))
    >>> y.shape, h.shape
    (torch.Size([4, 20, 2]), torch.Size([4, 16]))
    """

    def __init__(
        self,
        input_size: int,
        units: int | Wiring | WiringSpec,
        *,
        mixed_memory: bool = False,
        input_mapping: Mapping | str = Mapping.AFFINE,
        output_mapping: Mapping | str = Mapping.AFFINE,
        solver: Solver | None = None,
        constraint: Constraint | str = Constraint.SOFTPLUS,
        epsilon: float = 1e-8,
        **sequence: Unpack[SequenceOptions],
    ):
        def make_cell(n_in: int):
            cell = LTCCell(
                n_in,
                units,
                input_mapping=input_mapping,
                output_mapping=output_mapping,
                solver=solver,
                constraint=constraint,
                epsilon=epsilon,
            )
            return MixedMemoryCell(cell) if mixed_memory else cell

        super().__init__(
            input_size,
            make_cell,
            **sequence,
        )
        self.mixed_memory = mixed_memory

    def project_(self) -> None:
        """Project raw parameters onto their constraints (``Constraint.CLAMP`` only)."""
        for m in self.modules():
            if isinstance(m, LTCCell):
                m.project_()
