"""Plotting helpers (optional extra: ``pip install liquidtorch[viz]``); matplotlib is imported
only when a function is called."""

from .wiring import draw_wiring

__all__ = ["draw_wiring"]
