"""Sequence layers: one loop (:class:`SequenceLayer`) serving every cell."""

from ._config import layer_from_config
from ._scan import scan
from ._sequence import SequenceLayer, SequenceOptions, layer_class
from .cfc import CfC
from .ltc import LTC

__all__ = [
    "LTC",
    "CfC",
    "SequenceLayer",
    "SequenceOptions",
    "layer_class",
    "layer_from_config",
    "scan",
]
