"""liquidtorch: Liquid Neural Networks (LTC, CfC, NCP wirings) for PyTorch.

The public API, listed once. Adding a cell type means one module in ``cells/`` and one line
here (plus, for a sequence layer, a subclass of :class:`SequenceLayer`).
"""

from .cells import (
    CfCCell,
    CfCMode,
    Constraint,
    LTCCell,
    Mapping,
    MixedMemoryCell,
    WiredCfCCell,
    WiredRecurrence,
    get_activation,
)
from .layers import LTC, CfC, SequenceLayer
from .serialization import load, save
from .solvers import RK4, Euler, SemiImplicit, Solver
from .streaming import StreamingPredictor
from .wirings import (
    NCP,
    AutoNCP,
    CustomWiring,
    FullyConnected,
    MultiLayerNCP,
    RandomSparse,
    Wiring,
    WiringSpec,
)

__version__ = "0.1.0"

__all__ = [
    "LTC",
    "NCP",
    "RK4",
    "AutoNCP",
    "CfC",
    "CfCCell",
    "CfCMode",
    "Constraint",
    "CustomWiring",
    "Euler",
    "FullyConnected",
    "LTCCell",
    "Mapping",
    "MixedMemoryCell",
    "MultiLayerNCP",
    "RandomSparse",
    "SemiImplicit",
    "SequenceLayer",
    "Solver",
    "StreamingPredictor",
    "WiredCfCCell",
    "WiredRecurrence",
    "Wiring",
    "WiringSpec",
    "get_activation",
    "load",
    "save",
]
