"""Sequence layers: one loop (:class:`SequenceLayer`) serving every cell."""

from ._sequence import SequenceLayer, scan
from .cfc import CfC
from .ltc import LTC

__all__ = ["CfC", "LTC", "SequenceLayer", "scan"]
