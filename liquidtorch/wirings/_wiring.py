"""The built wiring (immutable data) and the base class of the wiring builders.

A :class:`Wiring` is what a cell consumes: a signed recurrent adjacency, a signed sensory
adjacency, the number of motor (output) neurons and a partition of the neurons into layers.
A :class:`WiringSpec` is a pure, seeded recipe that builds one for a given input size.
NumPy only: nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

Layers = tuple[tuple[str, tuple[int, ...]], ...]

_SPEC_REGISTRY: dict[str, type[WiringSpec]] = {}


def _signed_matrix(name: str, value: Any) -> np.ndarray:
    """Return a read-only int8 copy of `value`, checking it is 2-D with entries in {-1, 0, 1}."""
    try:
        arr = np.array(value)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular 2-D array, got {value!r:.80}") from err
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf" or not np.isin(arr, (-1, 0, 1)).all():
        raise ValueError(f"{name} entries must be -1 (inhibitory), 0 (none) or +1 (excitatory)")
    out = arr.astype(np.int8)
    out.flags.writeable = False
    return out


def check_layers(layers: Any, units: int, output_size: int) -> Layers:
    """Normalise `layers` to nested tuples and check it partitions ``range(units)``.

    With more than one layer, the last one must hold exactly the motor neurons
    ``0..output_size-1``; a layer named "motor" must always be exactly those neurons.
    """
    if layers is None:
        return (("all", tuple(range(units))),)
    try:
        norm = tuple((name, tuple(int(i) for i in ids)) for name, ids in layers)
    except (TypeError, ValueError) as err:
        raise ValueError("layers must be a sequence of (name, neuron_ids) pairs") from err
    if not norm:
        raise ValueError("layers must hold at least one (name, neuron_ids) pair, or be None")
    names = [name for name, _ in norm]
    for name, ids in norm:
        if not isinstance(name, str) or not name or name == "sensory":
            raise ValueError(f"layer name {name!r} is invalid: use a non-empty str, not 'sensory'")
        if not ids:
            raise ValueError(f"layer {name!r} is empty: remove it or give it neurons")
    if len(set(names)) != len(names):
        raise ValueError(f"layer names must be unique, got {names}")
    ids = sorted(i for _, layer in norm for i in layer)
    if ids != list(range(units)):
        raise ValueError(f"layers must partition the neurons 0..{units - 1}, each exactly once")
    motor = set(range(output_size))
    for k, (name, layer) in enumerate(norm):
        if name == "motor" and (set(layer) != motor or k != len(norm) - 1):
            raise ValueError(f"layer 'motor' must be the last layer, neurons 0..{output_size - 1}")
    if len(norm) > 1 and set(norm[-1][1]) != motor:
        raise ValueError(
            f"the last layer {norm[-1][0]!r} must hold exactly the motor neurons "
            f"0..{output_size - 1} (output_size={output_size})"
        )
    return norm


@dataclasses.dataclass(frozen=True, eq=False)
class Wiring:
    """A built wiring: immutable, exactly serialisable connectivity of a liquid network.

    Attributes:
        adjacency: ``(units, units)`` int8 in {-1, 0, 1}, indexed ``[src, dst]``.
        sensory_adjacency: ``(input_size, units)`` int8, indexed ``[src_input, dst]``.
        output_size: number of motor neurons; they are always the neuron ids
            ``0..output_size-1`` (the ncps convention).
        layers: ``((name, neuron_ids), ...)`` from the input side to the output side; a
            partition of ``range(units)``. ``None`` means one layer ``"all"``.
        spec: ``to_dict()`` of the builder that made it (provenance), ``None`` if hand-made.

    Example:
        >>> w = Wiring([[0, 1], [-1, 0]], [[1, 1]], output_size=1)
        >>> w.units, w.input_size, w.synapse_count, w.sensory_synapse_count
        (2, 1, 2, 2)
    """

    adjacency: np.ndarray
    sensory_adjacency: np.ndarray
    output_size: int
    layers: Layers = None  # type: ignore[assignment]  # None -> (("all", all ids),)
    spec: dict | None = None

    def __post_init__(self) -> None:
        adj = _signed_matrix("adjacency", self.adjacency)
        if adj.shape[0] != adj.shape[1]:
            raise ValueError(f"adjacency must be square (units, units), got shape {adj.shape}")
        units = adj.shape[0]
        sens = _signed_matrix("sensory_adjacency", self.sensory_adjacency)
        if sens.shape[1] != units:
            raise ValueError(
                f"sensory_adjacency must have shape (input_size, {units}) to match adjacency, "
                f"got {sens.shape}"
            )
        out = self.output_size
        if isinstance(out, bool) or not isinstance(out, (int, np.integer)) or not 1 <= out <= units:
            raise ValueError(f"output_size must be an int in [1, units={units}], got {out!r}")
        spec = self.spec
        if spec is not None:
            if not isinstance(spec, Mapping):
                raise ValueError(f"spec must be a dict or None, got {type(spec).__name__}")
            try:  # a JSON round-trip both checks serialisability and takes a deep copy
                spec = json.loads(json.dumps(dict(spec)))
            except (TypeError, ValueError) as err:
                raise ValueError(
                    "spec must be JSON-compatible (str, int, float, list, dict)"
                ) from err
        layers = check_layers(self.layers, units, int(out))
        layer_of = np.empty(units, dtype=np.int64)
        for k, (_, ids) in enumerate(layers):
            layer_of[list(ids)] = k
        for name, value in [
            ("adjacency", adj),
            ("sensory_adjacency", sens),
            ("output_size", int(out)),
            ("layers", layers),
            ("spec", spec),
            ("_layer_of", layer_of),
        ]:
            object.__setattr__(self, name, value)

    # -- sizes and counts ---------------------------------------------------------------------
    @property
    def units(self) -> int:
        """Number of neurons (the state size)."""
        return self.adjacency.shape[0]

    @property
    def input_size(self) -> int:
        """Number of input features (sensory neurons)."""
        return self.sensory_adjacency.shape[0]

    @property
    def synapse_count(self) -> int:
        """Number of neuron-to-neuron synapses (nonzeros of ``adjacency``)."""
        return int(np.count_nonzero(self.adjacency))

    @property
    def sensory_synapse_count(self) -> int:
        """Number of input-to-neuron synapses (nonzeros of ``sensory_adjacency``)."""
        return int(np.count_nonzero(self.sensory_adjacency))

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return tuple(len(ids) for _, ids in self.layers)

    @property
    def groups(self) -> dict[str, np.ndarray]:
        """Layer name -> neuron ids (read-only arrays); ``"motor"`` is always present."""
        groups = {name: np.array(ids, dtype=np.int64) for name, ids in self.layers}
        groups.setdefault("motor", np.arange(self.output_size, dtype=np.int64))
        for ids in groups.values():
            ids.flags.writeable = False
        return groups

    def layer_of(self, neuron: int) -> int:
        """Index into ``layers`` of the layer holding neuron id `neuron`."""
        if not 0 <= neuron < self.units:
            raise ValueError(f"neuron must be in [0, {self.units}), got {neuron}")
        return int(self._layer_of[neuron])

    def neuron_type(self, neuron: int) -> str:
        """Name of the layer holding neuron id `neuron` (e.g. "inter", "command", "motor")."""
        return self.layers[self.layer_of(neuron)][0]

    # -- building -----------------------------------------------------------------------------
    def build(self, input_size: int) -> Wiring:
        """Return self if it was built for `input_size` inputs; a built wiring cannot change."""
        if input_size != self.input_size:
            raise ValueError(
                f"this wiring was built for {self.input_size} inputs, not {input_size}: pass its "
                "spec (a WiringSpec such as AutoNCP) instead to reuse it with other input sizes"
            )
        return self

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-compatible dict; ``Wiring.from_dict(w.to_dict()) == w``."""
        return {
            "adjacency": self.adjacency.tolist(),
            "sensory_adjacency": self.sensory_adjacency.tolist(),
            "output_size": self.output_size,
            "layers": [[name, list(ids)] for name, ids in self.layers],
            "spec": json.loads(json.dumps(self.spec)),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Wiring:
        """Inverse of :meth:`to_dict`; a one-line ``ValueError`` for anything else."""
        if not isinstance(d, Mapping):
            raise ValueError(f"a wiring is a dict (JSON object), got {type(d).__name__}")
        required = ("adjacency", "sensory_adjacency", "output_size")
        missing = [k for k in required if k not in d]
        if missing:
            raise ValueError(
                f"a wiring dict needs the keys {list(required)} (optional: layers, spec); "
                f"missing {missing}"
            )
        unknown = sorted(set(d) - {*required, "layers", "spec"})
        if unknown:
            raise ValueError(f"a wiring dict has unknown keys {unknown}")
        try:
            return cls(
                adjacency=d["adjacency"],
                sensory_adjacency=d["sensory_adjacency"],
                output_size=d["output_size"],
                layers=d.get("layers"),
                spec=d.get("spec"),
            )
        except (TypeError, KeyError, IndexError) as e:  # malformed values deep inside
            raise ValueError(f"invalid wiring dict: {' '.join(str(e).split())}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, s: str) -> Wiring:
        """Inverse of :meth:`to_json`; a one-line ``ValueError`` for invalid JSON or content."""
        try:
            d = json.loads(s)
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"invalid wiring JSON: {' '.join(str(e).split())}") from None
        return cls.from_dict(d)

    @classmethod
    def from_ncps(cls, wiring: Any, *, spec: Any = None) -> Wiring:
        """Convert a BUILT ``ncps.wirings.Wiring`` (duck-typed; ncps is not imported).

        Layers come from ``get_neurons_of_layer``: named inter/command/motor for an ncps NCP,
        ``layer_0, ...`` for another multi-layer wiring, a single ``"all"`` otherwise.
        `spec` (a WiringSpec or its dict) is stored as provenance if given.
        """
        if getattr(wiring, "sensory_adjacency_matrix", None) is None:
            raise ValueError("the ncps wiring is not built: call wiring.build(input_dim) first")
        layers = None
        if int(wiring.num_layers) > 1:
            layer_ids = [list(wiring.get_neurons_of_layer(k)) for k in range(wiring.num_layers)]
            names = [f"layer_{k}" for k in range(len(layer_ids))]
            typer = getattr(wiring, "get_type_of_neuron", None)
            if typer is not None:
                types = [typer(ids[0]) if ids else None for ids in layer_ids]
                if types == ["inter", "command", "motor"]:
                    names = types
            layers = list(zip(names, layer_ids, strict=True))
        if spec is not None and hasattr(spec, "to_dict"):
            spec = spec.to_dict()
        return cls(
            adjacency=wiring.adjacency_matrix,
            sensory_adjacency=wiring.sensory_adjacency_matrix,
            output_size=int(wiring.output_dim),
            layers=layers,
            spec=spec,
        )

    def to_networkx(self):
        """Directed graph with nodes ``sensory_{k}`` / ``neuron_{j}`` (networkx imported lazily).

        Node attrs: ``neuron_type`` (layer name or "sensory"), ``layer`` (-1 for sensory).
        Edge attrs: ``polarity`` ("excitatory"/"inhibitory") and ``weight`` (+1/-1).
        """
        from .._optional import require

        nx = require("networkx", "viz", feature="Wiring.to_networkx")

        graph = nx.DiGraph()
        for k in range(self.input_size):
            graph.add_node(f"sensory_{k}", neuron_type="sensory", layer=-1)
        for j in range(self.units):
            graph.add_node(f"neuron_{j}", neuron_type=self.neuron_type(j), layer=self.layer_of(j))
        for prefix, matrix in [("sensory", self.sensory_adjacency), ("neuron", self.adjacency)]:
            for src, dst in zip(*np.nonzero(matrix), strict=True):
                sign = int(matrix[src, dst])
                graph.add_edge(
                    f"{prefix}_{src}",
                    f"neuron_{dst}",
                    polarity="excitatory" if sign > 0 else "inhibitory",
                    weight=sign,
                )
        return graph

    # -- comparison ---------------------------------------------------------------------------
    def _key(self) -> tuple:
        return (
            self.adjacency.shape,
            self.adjacency.tobytes(),
            self.sensory_adjacency.shape,
            self.sensory_adjacency.tobytes(),
            self.output_size,
            self.layers,
            json.dumps(self.spec, sort_keys=True),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Wiring):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        sizes = "/".join(f"{name}:{len(ids)}" for name, ids in self.layers)
        return (
            f"Wiring(units={self.units}, inputs={self.input_size}, outputs={self.output_size}, "
            f"synapses={self.synapse_count}, sensory_synapses={self.sensory_synapse_count}, "
            f"layers={sizes})"
        )


class WiringSpec:
    """Base of the wiring builders: frozen dataclasses that build a :class:`Wiring`.

    Subclasses provide ``units``, ``output_size`` and ``_build(input_size)``; ``build`` is
    pure (same spec + same input size -> equal wiring). Every subclass is registered under
    its class name so ``WiringSpec.from_dict(spec.to_dict()) == spec``.

    Example:
        >>> from liquidtorch.wirings import AutoNCP
        >>> spec = AutoNCP(units=16, output_size=2)
        >>> WiringSpec.from_dict(spec.to_dict()) == spec
        True
    """

    units: int
    output_size: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _SPEC_REGISTRY[cls.__name__] = cls

    def build(self, input_size: int) -> Wiring:
        """Build the wiring for `input_size` input features (sensory neurons)."""
        if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)):
            raise ValueError(f"input_size must be an int >= 1, got {input_size!r}")
        if input_size < 1:
            raise ValueError(f"input_size must be >= 1, got {input_size}")
        return self._build(int(input_size))

    def _build(self, input_size: int) -> Wiring:
        raise NotImplementedError

    def to_dict(self) -> dict:
        """JSON-compatible dict of the arguments, plus ``"kind"``: the class name."""
        d = {"kind": type(self).__name__}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            d[f.name] = _to_plain(getattr(self, f.name))
        return d

    @staticmethod
    def from_dict(d: Mapping) -> WiringSpec:
        """Restore the spec of the class named by ``d["kind"]``."""
        d = dict(d)
        kind = d.pop("kind", None)
        if kind not in _SPEC_REGISTRY:
            raise ValueError(f"unknown wiring kind {kind!r}; known: {sorted(_SPEC_REGISTRY)}")
        return _SPEC_REGISTRY[kind](**d)


def _to_plain(value: Any) -> Any:
    """Tuples (possibly nested) to lists, NumPy scalars to Python scalars."""
    if isinstance(value, (tuple, list)):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
