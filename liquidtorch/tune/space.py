"""Search spaces: what a study may change about a model and its training.

A :class:`Space` maps parameter names to :class:`Dimension` s. Where a parameter goes is
fixed by its name:

- ``units`` -> the model's size (``build_model(units=...)``);
- ``lr``, ``weight_decay``, ``batch_size``, ``grad_clip`` -> the training settings;
- anything else -> a model option (``backbone_units``, ``mode``, ``sparsity_level``, ...;
  ``solver`` (a name) and ``ode_unfolds`` build an LTC solver in the zoo).

Every model has a default space by family (:func:`default_space`); the user narrows or
widens it with the compact text form of :func:`parse_dimension`::

    lr=1e-4:1e-2:log      a float range, sampled on a log scale
    units=16:64           an int range (both ends ints)
    units=16,32,64        a choice
    mode=default          fixed (not searched)
    mixed_memory=true,false

>>> space = default_space("lstm").updated({"lr": "1e-3:1e-2:log", "units": "16,32"})
>>> space["units"]
Categorical(choices=(16, 32))
>>> space.split({"units": 32, "lr": 0.004, "weight_decay": 0.0, "batch_size": 64})
Settings(units=32, model_options={}, train={'lr': 0.004, 'weight_decay': 0.0, 'batch_size': 64})
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAIN_KEYS = ("lr", "weight_decay", "batch_size", "grad_clip")
SIZE_KEY = "units"


@dataclass(frozen=True)
class FloatRange:
    """A float in ``[low, high]``, uniform or on a log scale."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"range {self.low}:{self.high} must have finite low <= high")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def first(self) -> float:
        return self.low

    def contains(self, value) -> bool:
        return isinstance(value, (int, float)) and self.low <= value <= self.high

    def to_text(self) -> str:
        return f"{self.low!r}:{self.high!r}" + (":log" if self.log else "")


@dataclass(frozen=True)
class IntRange:
    """An int in ``[low, high]``, uniform or on a log scale."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self):
        if self.low > self.high:
            raise ValueError(f"range {self.low}:{self.high} must have low <= high")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def first(self) -> int:
        return self.low

    def contains(self, value) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high

    def to_text(self) -> str:
        return f"{self.low}:{self.high}" + (":log" if self.log else "")


@dataclass(frozen=True)
class Categorical:
    """One of a few values (JSON scalars: numbers, strings, booleans)."""

    choices: tuple

    def __post_init__(self):
        if not self.choices:
            raise ValueError("a choice needs at least one value")

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, list(self.choices))

    def first(self):
        return self.choices[0]

    def contains(self, value) -> bool:
        return any(value == c and type(value) is type(c) for c in self.choices)

    def to_text(self) -> str:
        return ",".join(_scalar_text(c) for c in self.choices)


@dataclass(frozen=True)
class Fixed:
    """A value that is set, not searched."""

    value: Any

    def suggest(self, trial, name: str):
        return self.value

    def first(self):
        return self.value

    def contains(self, value) -> bool:
        return value == self.value

    def to_text(self) -> str:
        return _scalar_text(self.value)


Dimension = FloatRange | IntRange | Categorical | Fixed


def _scalar_text(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _scalar(text: str):
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True, anything else a string."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_dimension(spec: str | int | float | bool | list | dict) -> Dimension:
    """A dimension from its text form (see the module doc) or its JSON form: a list is a
    choice, ``{"low": .., "high": .., "log": ..}`` a range, a scalar a fixed value."""
    if isinstance(spec, list):
        return Categorical(tuple(spec))
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {"low", "high", "log", "choices", "value"})
        if unknown:
            raise ValueError(f"unknown keys {unknown} in dimension {spec!r}")
        if "choices" in spec:
            return Categorical(tuple(spec["choices"]))
        if "value" in spec:
            return Fixed(spec["value"])
        if "low" not in spec or "high" not in spec:
            raise ValueError(f"dimension {spec!r} needs low and high (or choices, or value)")
        return _range(spec["low"], spec["high"], bool(spec.get("log", False)))
    if not isinstance(spec, str):
        return Fixed(spec)
    if ":" in spec:
        parts = spec.split(":")
        log = parts[-1].strip() == "log"
        if log:
            parts = parts[:-1]
        if len(parts) != 2:
            raise ValueError(f"range {spec!r} must look like LOW:HIGH or LOW:HIGH:log")
        low, high = (_scalar(p) for p in parts)
        return _range(low, high, log)
    if "," in spec:
        return Categorical(tuple(_scalar(p) for p in spec.split(",") if p.strip()))
    return Fixed(_scalar(spec))


def _range(low, high, log: bool) -> Dimension:
    numbers = (int, float)
    if not all(isinstance(v, numbers) and not isinstance(v, bool) for v in (low, high)):
        raise ValueError(f"range bounds must be numbers, got {low!r}:{high!r}")
    if isinstance(low, int) and isinstance(high, int):
        return IntRange(low, high, log)
    return FloatRange(float(low), float(high), log)


@dataclass(frozen=True)
class Settings:
    """A point of a space split by where it goes: the model's size, its options, training."""

    units: int | None
    model_options: dict[str, Any]
    train: dict[str, Any]


class Space(Mapping):
    """An immutable mapping of parameter names to dimensions."""

    def __init__(self, dims: Mapping[str, Dimension] | None = None):
        self._dims = dict(dims or {})

    def __getitem__(self, name: str) -> Dimension:
        return self._dims[name]

    def __iter__(self):
        return iter(self._dims)

    def __len__(self) -> int:
        return len(self._dims)

    def __repr__(self) -> str:
        return f"Space({self.to_json()})"

    @property
    def searched(self) -> list[str]:
        """Names of the dimensions that vary (not :class:`Fixed`)."""
        return [n for n, d in self._dims.items() if not isinstance(d, Fixed)]

    def updated(self, changes: Mapping[str, Any]) -> Space:
        """A copy with dimensions replaced or added (values in any form of
        :func:`parse_dimension`); the value ``"-"`` removes a dimension."""
        dims = dict(self._dims)
        for name, spec in changes.items():
            _check_name(name)
            if spec == "-":
                dims.pop(name, None)
                continue
            try:
                dims[name] = spec if _is_dimension(spec) else parse_dimension(spec)
            except ValueError as e:
                raise ValueError(f"search space parameter {name!r}: {e}") from None
        return Space(dims)

    def suggest(self, trial) -> dict[str, Any]:
        """One point: every dimension asked of an Optuna ``trial`` (fixed ones as given)."""
        return {name: dim.suggest(trial, name) for name, dim in self._dims.items()}

    def first(self) -> dict[str, Any]:
        """A point made of every dimension's first value (to check the options early)."""
        return {name: dim.first() for name, dim in self._dims.items()}

    @staticmethod
    def split(params: Mapping[str, Any]) -> Settings:
        """Sort a point's values into :class:`Settings`."""
        train = {k: v for k, v in params.items() if k in TRAIN_KEYS}
        options = {k: v for k, v in params.items() if k not in TRAIN_KEYS and k != SIZE_KEY}
        units = params.get(SIZE_KEY)
        return Settings(None if units is None else int(units), options, train)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (text specs), readable by :func:`load_space`."""
        return {name: dim.to_text() for name, dim in self._dims.items()}


def _is_dimension(value) -> bool:
    return isinstance(value, (FloatRange, IntRange, Categorical, Fixed))


def _check_name(name) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"search space parameter names must be identifiers, got {name!r}")


def load_space(path: str | Path) -> Space:
    """A space from a JSON file: an object of parameter name -> dimension (any form of
    :func:`parse_dimension`)."""
    from ..train._io import read_json

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"space file {str(path)!r} does not exist")
    try:
        data = read_json(path, "space file")
    except OSError as e:
        raise ValueError(f"space file {str(path)!r} cannot be read: {e.strerror}") from None
    if not isinstance(data, dict):
        raise ValueError(f"space file {str(path)!r} must hold a JSON object name -> dimension")
    return Space().updated(data)


def parse_items(items: list[str] | None) -> dict[str, str]:
    """``["lr=1e-4:1e-2:log", ...]`` (the CLI's ``-p``) -> ``{"lr": "1e-4:1e-2:log"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise ValueError(f"parameter {item!r} must look like NAME=SPEC (e.g. lr=1e-4:1e-2:log)")
        out[name.strip()] = spec.strip()
    return out


# ------------------------------------------------------------------ default spaces
_COMMON = {
    "lr": FloatRange(1e-3, 5e-2, log=True),
    "weight_decay": Categorical((0.0, 1e-4, 1e-3, 1e-2)),
    "batch_size": Categorical((32, 64, 128)),
}
_NCP = {
    "units": Categorical((16, 24, 32, 48)),
    "sparsity_level": FloatRange(0.1, 0.8),
    "motor_neurons": IntRange(4, 8),
}
_FAMILY = {
    "baseline": {"units": Categorical((16, 32, 64, 128))},
    "cfc": {
        "units": Categorical((16, 32, 64)),
        "backbone_units": Categorical((32, 64, 128, 256)),
        "backbone_layers": IntRange(0, 2),
    },
    "cfc_ncp": {**_NCP, "mode": Categorical(("default", "no_gate", "pure"))},
    "ltc": {"units": Categorical((8, 16, 32)), "ode_unfolds": Categorical((2, 4, 6))},
    "ltc_ncp": {**_NCP, "ode_unfolds": Categorical((2, 4, 6))},
}
# Models whose zoo entry fixes the CfC mode (passing it again would clash).
_MODE_FIXED = ("cfc_no_gate", "cfc_pure")


def family(model: str) -> str:
    """The default-space family of a zoo model (from its registry entry): ``baseline``,
    ``cfc``, ``cfc_ncp`` (wired), ``ltc`` or ``ltc_ncp`` (wired)."""
    from liquidtorch.zoo import model_info

    info = model_info(model)
    kind = info.family.value
    return f"{kind}_ncp" if info.wired and kind != "baseline" else kind


def default_space(model: str, task=None) -> Space:
    """The default search space of zoo ``model``: learning rate, weight decay and batch size
    for all; units; the backbone's width and depth and the mode for a dense CfC; sparsity
    and motor neurons for NCP wirings (and the mode for a wired CfC); the solver's unfolds
    for an LTC (semi-implicit: the fused path). Mixed memory and the other solvers are not
    searched by default (the zoo names the mixed-memory variants); add them with
    ``mixed_memory=true,false`` or ``solver=semi_implicit,euler,rk4``.

    ``task``: for an NCP model on a task with more than 8 outputs, the motor neurons are
    fixed at the number of outputs (the zoo's default; fewer would be a bottleneck in front
    of the head) and the units chosen from 32, 48, 64."""
    kind = family(model)
    dims = dict(_COMMON) | _FAMILY[kind]
    if kind == "cfc" and model not in _MODE_FIXED:
        dims["mode"] = Categorical(("default", "no_gate", "pure"))
    outputs = int(getattr(task, "output_size", 0) or 0)
    if kind.endswith("_ncp") and outputs > 8:
        dims |= {"motor_neurons": Fixed(outputs), "units": Categorical((32, 48, 64))}
    return Space(dims)


# The zoo's and the layers' defaults as space parameters (see default_point).
_OPTION_DEFAULTS = {
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "backbone_units": 128,
    "backbone_layers": 1,
    "mode": "default",
    "sparsity_level": 0.5,
    "ode_unfolds": 6,
    "solver": "semi_implicit",
}


def default_point(space: Space, model: str, task) -> dict[str, Any]:
    """The untuned settings of ``model`` on ``task`` (the task's defaults with the zoo's
    learning rate, the layers' default options) for the searched dimensions of ``space``
    that contain them: a study's first trial, so tuning starts from the defaults."""
    from liquidtorch.zoo import training_defaults

    train = training_defaults(model, task)
    units = int(task.defaults.get("units", 32))
    known = dict(_OPTION_DEFAULTS) | {
        "lr": train.get("lr"),
        "batch_size": train.get("batch_size"),
        "units": units,
        "motor_neurons": min(max(task.output_size, 4), units - 3),
    }
    return {n: known[n] for n in space.searched if n in known and space[n].contains(known[n])}
