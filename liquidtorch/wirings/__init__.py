"""NCP and other wirings: immutable connectivity data and the seeded builders that make it.

Example:
    >>> from liquidtorch.wirings import AutoNCP
    >>> wiring = AutoNCP(units=19, output_size=1).build(input_size=32)
    >>> wiring.layer_sizes
    (11, 7, 1)
"""

from ._builders import (
    NCP,
    AutoNCP,
    CustomWiring,
    FullyConnected,
    MultiLayerNCP,
    RandomSparse,
    as_wiring,
)
from ._wiring import Wiring, WiringSpec

__all__ = [
    "NCP",
    "AutoNCP",
    "CustomWiring",
    "FullyConnected",
    "MultiLayerNCP",
    "RandomSparse",
    "Wiring",
    "WiringSpec",
    "as_wiring",
]
