"""Typed options for the cells. Each enum also accepts its string value (``"affine"``)."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

E = TypeVar("E", bound=Enum)


class Mapping(str, Enum):
    """Per-feature input/output mapping of an LTC cell."""

    AFFINE = "affine"  # x * a + b
    LINEAR = "linear"  # x * a
    NONE = "none"  # x


class Constraint(str, Enum):
    """How LTC keeps ``w``, ``sensory_w``, ``gleak`` and ``cm`` positive."""

    SOFTPLUS = "softplus"  # reparametrise: the parameter used is softplus(raw)
    CLAMP = "clamp"  # use max(raw, 0); ``LTCCell.project_()`` projects raw values explicitly


class CfCMode(str, Enum):
    """Which closed-form update a CfC cell uses (docs/maths.md, section 6)."""

    DEFAULT = "default"  # gated: tanh(ff1)*(1-g) + g*tanh(ff2)
    NO_GATE = "no_gate"  # tanh(ff1) + g*tanh(ff2)
    PURE = "pure"  # -A * exp(-t*(|w_tau| + |ff1|)) * ff1 + A


class WiredRecurrence(str, Enum):
    """Which synapses a wired CfC layer uses.

    ``WIRING`` honours every synapse of the wiring (feed-forward, recurrent and skip synapses)
    in all four heads. ``NCPS`` reproduces ncps 1.0.1: dense recurrence inside each layer,
    recurrent sparsity ignored, and dense time-constant heads.
    """

    WIRING = "wiring"
    NCPS = "ncps"


def coerce(enum_cls: type[E], value: E | str, name: str) -> E:
    """``enum_cls(value)`` with an error that names the argument and the allowed values."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        allowed = [m.value for m in enum_cls]
        raise ValueError(f"{name}={value!r} is not valid; use one of {allowed}") from None
