"""Fused execution paths: whole sequences at once, checked against the reference loop.

The fast paths are used automatically where they apply (a supported configuration; for the
LTC also CPU tensors and numba installed, while the dense CfC's needs only torch) and are
numerically equivalent to the reference loop in :mod:`liquidtorch.layers` (tests prove it).
``use_fused(False)`` turns them off, e.g. to compare or to debug::

    with liquidtorch.kernels.use_fused(False):
        y, h = model(x)           # the reference Python loop
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import warnings

_state = {"enabled": True, "warned": False}


@functools.cache
def numba_available() -> bool:
    """Whether numba can be imported (asked once per process: every fused call checks it)."""
    return importlib.util.find_spec("numba") is not None


def fused_switch_on() -> bool:
    """Whether ``use_fused`` allows fused paths (those that need only torch check just this)."""
    return _state["enabled"]


def fused_enabled() -> bool:
    """Whether fused paths may run (the switch is on and numba can be imported)."""
    if not _state["enabled"]:
        return False
    if numba_available():
        return True
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(
            "liquidtorch: numba is not installed; using the (slower) reference loop. "
            "`pip install numba` enables the fused CPU kernels.",
            RuntimeWarning,
            stacklevel=3,
        )
    return False


@contextlib.contextmanager
def use_fused(enabled: bool = True):
    """Context manager that turns the fused paths on or off (restored on exit)."""
    previous = _state["enabled"]
    _state["enabled"] = bool(enabled)
    try:
        yield
    finally:
        _state["enabled"] = previous


__all__ = ["fused_enabled", "fused_switch_on", "numba_available", "use_fused"]
