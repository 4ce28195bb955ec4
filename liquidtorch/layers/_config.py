"""Constructor settings as JSON-ready data, and back.

Every :class:`~liquidtorch.layers.SequenceLayer` subclass records the arguments it was built
with (:func:`record_init`), so ``layer.config`` describes it and
:func:`layer_from_config` builds it again, in a fresh process, without the code that made
it. Only plain data is produced and accepted (numbers, strings, lists, dicts); objects are
tagged: wirings and wiring specs as their own dicts, solvers and enums by name. Decoding
never imports or calls anything outside this small vocabulary.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

_TAG = "__liquidtorch__"
_LAYERS: dict[str, type] = {}  # class name -> SequenceLayer subclass (filled by record_init)


def record_init(cls: type) -> None:
    """Wrap ``cls.__init__`` so an instance keeps its bound arguments (the outermost
    class's, for a subclass of a subclass) and register ``cls`` by name for decoding."""
    _LAYERS[cls.__name__] = cls
    init = cls.__dict__.get("__init__")
    if init is None:
        return
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self) is cls:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop("self")
            for name, p in signature.parameters.items():  # **kwargs flattened
                if p.kind is inspect.Parameter.VAR_KEYWORD:
                    arguments |= arguments.pop(name)
            self.__dict__["_init_arguments"] = arguments

    cls.__init__ = wrapped  # type: ignore[misc]


def layer_config(layer: Any) -> dict[str, Any]:
    """``{"class": name, "args": {...}}`` for a layer built by a recorded ``__init__``."""
    arguments = layer.__dict__.get("_init_arguments")
    if arguments is None:
        raise TypeError(f"{type(layer).__name__} does not record its constructor arguments")
    return {"class": type(layer).__name__, "args": encode(arguments)}


def layer_from_config(config: Mapping[str, Any]) -> Any:
    """Build the layer that :func:`layer_config` described (fresh weights)."""
    name = config.get("class") if isinstance(config, Mapping) else None
    if name not in _LAYERS:
        raise ValueError(f"layer config: unknown class {name!r}; known: {sorted(_LAYERS)}")
    args = decode(config.get("args", {}))
    if not isinstance(args, dict):
        raise ValueError("layer config: args must be a mapping")
    try:
        return _LAYERS[name](**args)
    except TypeError as e:
        raise ValueError(f"layer config for {name}: {e}") from None


# ----------------------------------------------------------------------- encoding
def _codecs() -> dict[str, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]]:
    """tag -> (base type, to plain data, from plain data); imported late (no cycles)."""
    from .. import solvers
    from ..wirings import Wiring, WiringSpec

    def solver_to(s: Any) -> dict:
        return {"kind": type(s).__name__} | {
            f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.init
        }

    def solver_from(d: Mapping) -> Any:
        d = dict(d)
        kind = d.pop("kind", None)
        cls = getattr(solvers, str(kind), None)
        if not (isinstance(cls, type) and issubclass(cls, solvers.Solver)):
            raise ValueError(f"unknown solver {kind!r}")
        return cls(**d)

    return {
        "wiring": (Wiring, Wiring.to_dict, Wiring.from_dict),
        "wiring_spec": (WiringSpec, WiringSpec.to_dict, WiringSpec.from_dict),
        "solver": (solvers.Solver, solver_to, solver_from),
    }


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (tagged objects); ``TypeError`` for anything else
    (e.g. a custom activation function: pass it by name to make a model describable)."""
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only mappings with string keys can be described")
        return {k: encode(v) for k, v in value.items()}
    for tag, (base, to_plain, _) in _codecs().items():
        if isinstance(value, base):
            return {_TAG: tag, "value": to_plain(value)}
    raise TypeError(
        f"cannot describe {type(value).__name__} {value!r} as data; use a built-in option "
        "(a name instead of a function)"
    )


def decode(data: Any) -> Any:
    """The inverse of :func:`encode` (enums come back as their values, which every
    constructor accepts)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, Mapping):
        if _TAG in data:
            codecs = _codecs()
            tag = data[_TAG]
            if tag not in codecs:
                raise ValueError(f"unknown tagged value {tag!r}")
            return codecs[tag][2](data.get("value", {}))
        return {k: decode(v) for k, v in data.items()}
    return data
