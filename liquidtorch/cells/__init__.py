"""Cells: one time step with explicit state, ``(output, state) = cell(x, state, dt)``."""

from ._activations import LeCunTanh, get_activation
from .cfc import CfCCell
from .ltc import LTCCell
from .mixed import MemoryLSTMCell, MixedMemoryCell
from .options import CfCMode, Constraint, Mapping, WiredRecurrence
from .wired_cfc import WiredCfCCell

__all__ = [
    "CfCCell",
    "CfCMode",
    "Constraint",
    "LTCCell",
    "LeCunTanh",
    "Mapping",
    "MemoryLSTMCell",
    "MixedMemoryCell",
    "WiredCfCCell",
    "WiredRecurrence",
    "get_activation",
]
