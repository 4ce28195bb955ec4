"""liquidtorch: Liquid Neural Networks (LTC, CfC, NCP wirings) for PyTorch.

The public API, listed once. Adding a cell type means one module in ``cells/``, one
registration in ``zoo.py`` and one line here (its sequence layer can come from
:func:`~liquidtorch.layers.layer_class`; see ``docs/architecture.md``).
"""

from ._threads import configure_threads, flush_denormals
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
from .layers import LTC, CfC, SequenceLayer, SequenceOptions, layer_class
from .serialization import load, save
from .solvers import RK4, Dopri5, Euler, SemiImplicit, Solver
from .streaming import FrozenStep, StreamingPredictor
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
    "configure_threads",
    "Constraint",
    "CustomWiring",
    "Dopri5",
    "Euler",
    "FrozenStep",
    "flush_denormals",
    "FullyConnected",
    "get_activation",
    "layer_class",
    "load",
    "LTCCell",
    "Mapping",
    "MixedMemoryCell",
    "MultiLayerNCP",
    "RandomSparse",
    "save",
    "SemiImplicit",
    "SequenceLayer",
    "SequenceOptions",
    "Solver",
    "FrozenStep",
    "StreamingPredictor",
    "WiredCfCCell",
    "WiredRecurrence",
    "Wiring",
    "WiringSpec",
]
