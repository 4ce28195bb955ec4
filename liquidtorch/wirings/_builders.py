"""Wiring builders: pure, seeded recipes (frozen dataclasses) that build a :class:`Wiring`.

``FullyConnected``, ``NCP`` and ``AutoNCP`` reproduce ncps 1.0.1 bit for bit (same random
generators, same draw order), so a given spec and input size give ncps's exact matrices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ._wiring import Wiring, WiringSpec, _signed_matrix, check_layers

_MAX_SEED = 2**32 - 1  # np.random.RandomState accepts seeds in [0, 2**32 - 1]


def _check_int(name: str, value: Any, low: int, high: int | None = None, hint: str = "") -> int:
    """Return `value` as an int in [low, high] or raise a ValueError that names `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}={value} must be {bounds}{hint}")
    return int(value)


def _check_fanout(name: str, value: Any, layer: str, size: int) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > size:
        raise ValueError(
            f"{name}={value} exceeds {layer}={size}: lower {name} or add {layer.split('_')[0]} "
            "neurons"
        )
    return _check_int(name, value, 1)


def _set(spec: Any, **values: Any) -> None:
    """Assign normalised values to fields of a frozen dataclass in ``__post_init__``."""
    for name, value in values.items():
        object.__setattr__(spec, name, value)


@dataclasses.dataclass(frozen=True)
class FullyConnected(WiringSpec):
    """All-to-all wiring with random polarities (excitatory with probability 2/3), as ncps.

    Args:
        units: number of neurons.
        output_size: number of motor neurons ``0..output_size-1`` (default: all ``units``).
        self_connections: keep the diagonal (neuron -> itself) synapses.
        seed: seed of ``np.random.default_rng``, as ncps's ``erev_init_seed``.

    Example:
        >>> w = FullyConnected(8, output_size=2).build(3)
        >>> w.adjacency.shape, w.sensory_adjacency.shape, w.synapse_count
        ((8, 8), (3, 8), 64)
    """

    units: int
    output_size: int | None = None
    self_connections: bool = True
    seed: int = 1111

    def __post_init__(self) -> None:
        units = _check_int("units", self.units, 1)
        out = units if self.output_size is None else self.output_size
        _set(
            self,
            units=units,
            output_size=_check_int("output_size", out, 1, units, ": at most units"),
            self_connections=bool(self.self_connections),
            seed=_check_int("seed", self.seed, 0, _MAX_SEED),
        )

    def _build(self, input_size: int) -> Wiring:
        rng = np.random.default_rng(self.seed)
        mask = np.ones((self.units, self.units), dtype=bool)
        if not self.self_connections:
            np.fill_diagonal(mask, False)
        adjacency = np.zeros((self.units, self.units), dtype=np.int8)
        # Boolean-mask assignment is row-major: the same src-then-dst order as ncps's loops,
        # and one vectorised draw consumes the generator exactly like ncps's scalar draws.
        adjacency[mask] = rng.choice([-1, 1, 1], size=int(mask.sum()))
        sensory = rng.choice([-1, 1, 1], size=(input_size, self.units))
        return Wiring(adjacency, sensory, self.output_size, spec=self.to_dict())


@dataclasses.dataclass(frozen=True)
class RandomSparse(WiringSpec):
    """Random sparse wiring: exactly ``round(n * (1 - sparsity))`` distinct synapses of the
    ``n = units**2`` possible recurrent ones (and likewise of the ``input_size * units``
    sensory ones); polarity excitatory with probability 2/3.

    Example:
        >>> w = RandomSparse(10, output_size=2, sparsity=0.75).build(4)
        >>> w.synapse_count, w.sensory_synapse_count
        (25, 10)
    """

    units: int
    output_size: int | None = None
    sparsity: float = 0.5
    seed: int = 1111

    def __post_init__(self) -> None:
        units = _check_int("units", self.units, 1)
        out = units if self.output_size is None else self.output_size
        sparsity = self.sparsity
        if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.floating)):
            raise ValueError(f"sparsity must be a float in [0, 1), got {sparsity!r}")
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity={sparsity} must be in [0, 1): 0 is fully connected")
        _set(
            self,
            units=units,
            output_size=_check_int("output_size", out, 1, units, ": at most units"),
            sparsity=float(sparsity),
            seed=_check_int("seed", self.seed, 0, _MAX_SEED),
        )

    def _sample(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        count = int(np.round(rows * self.units * (1.0 - self.sparsity)))
        matrix = np.zeros((rows, self.units), dtype=np.int8)
        chosen = rng.choice(rows * self.units, size=count, replace=False)
        matrix.flat[chosen] = rng.choice([-1, 1, 1], size=count)
        return matrix

    def _build(self, input_size: int) -> Wiring:
        rng = np.random.default_rng(self.seed)
        adjacency = self._sample(rng, self.units)
        sensory = self._sample(rng, input_size)
        return Wiring(adjacency, sensory, self.output_size, spec=self.to_dict())


def _bipartite(
    rng: np.random.RandomState, a: list[int], b: list[int], n: int, cap: int
) -> Iterator[tuple[int, int, int]]:
    """Yield ``(a_id, b_id, polarity)`` in ncps's draw order.

    Each neuron of `a` draws `n` distinct partners in `b` (a polarity right after each);
    then each neuron of `b` left without a partner draws
    ``clip(int(len(a) * n / len(b)), 1, cap)`` distinct partners in `a`.
    """
    unreached = list(b)
    for i in a:
        for j in rng.choice(b, size=n, replace=False):
            if j in unreached:
                unreached.remove(j)
            yield i, int(j), int(rng.choice([-1, 1]))
    fix = int(np.clip(int(len(a) * n / len(b)), 1, cap))
    for j in unreached:
        for i in rng.choice(a, size=fix, replace=False):
            yield int(i), j, int(rng.choice([-1, 1]))


def _layered_ncp(
    spec: Any, input_size: int, inter_layers: Sequence[int], names: list[str]
) -> Wiring:
    """Build sensory -> inter_0 -> ... -> inter_k -> command (recurrent) -> motor.

    Neuron ids: motor ``0..M-1``, then command, then the inter layers in order (ncps's
    layout). With one inter layer this is exactly ncps's NCP, draw for draw.
    """
    rng = np.random.RandomState(spec.seed)
    motor = list(range(spec.motor_neurons))
    start = spec.motor_neurons + spec.command_neurons
    command = list(range(spec.motor_neurons, start))
    inters = []
    for size in inter_layers:
        inters.append(list(range(start, start + size)))
        start += size
    adjacency = np.zeros((start, start), dtype=np.int8)
    sensory = np.zeros((input_size, start), dtype=np.int8)

    inputs = list(range(input_size))
    for src, dst, sign in _bipartite(rng, inputs, inters[0], spec.sensory_fanout, len(inputs)):
        sensory[src, dst] = sign
    for pre, post in zip(inters, [*inters[1:], command], strict=True):
        fanout = min(spec.inter_fanout, len(post))
        # ncps caps the fix-up fan-in at the size of the receiving layer here (a quirk we keep).
        for src, dst, sign in _bipartite(rng, pre, post, fanout, len(post)):
            adjacency[src, dst] = sign
    for _ in range(spec.recurrent_command_synapses):
        src, dst = rng.choice(command), rng.choice(command)
        adjacency[src, dst] = rng.choice([-1, 1])
    # Motor neurons draw their inputs (fan-in), so the roles of the two sides swap.
    for dst, src, sign in _bipartite(rng, motor, command, spec.motor_fanin, len(motor)):
        adjacency[src, dst] = sign
    layers = tuple(zip(names, [*inters, command, motor], strict=True))
    return Wiring(adjacency, sensory, len(motor), layers=layers, spec=spec.to_dict())


def _check_ncp(spec: Any, first_inter: int, first_inter_name: str) -> dict[str, int]:
    command = _check_int("command_neurons", spec.command_neurons, 1)
    return dict(
        command_neurons=command,
        motor_neurons=_check_int("motor_neurons", spec.motor_neurons, 1),
        sensory_fanout=_check_fanout(
            "sensory_fanout", spec.sensory_fanout, first_inter_name, first_inter
        ),
        inter_fanout=_check_fanout("inter_fanout", spec.inter_fanout, "command_neurons", command),
        recurrent_command_synapses=_check_int(
            "recurrent_command_synapses", spec.recurrent_command_synapses, 0
        ),
        motor_fanin=_check_fanout("motor_fanin", spec.motor_fanin, "command_neurons", command),
        seed=_check_int("seed", spec.seed, 0, _MAX_SEED),
    )


@dataclasses.dataclass(frozen=True)
class NCP(WiringSpec):
    """Neural Circuit Policy wiring (Lechner et al. 2020), identical to ncps 1.0.1's ``NCP``.

    ``units = inter + command + motor``; ids: motor ``0..M-1``, command, inter. Each input
    synapses onto `sensory_fanout` inter neurons, each inter neuron onto `inter_fanout`
    command neurons, `recurrent_command_synapses` random command->command synapses, each
    motor neuron receives `motor_fanin` command synapses; polarity +-1 with probability 1/2;
    unreached neurons get synapses from the layer before (see ncps).

    Example:
        >>> w = NCP(6, 4, 2, sensory_fanout=3, inter_fanout=2, recurrent_command_synapses=3,
        ...         motor_fanin=2).build(5)
        >>> w.units, w.layer_sizes
        (12, (6, 4, 2))
    """

    inter_neurons: int
    command_neurons: int
    motor_neurons: int
    sensory_fanout: int
    inter_fanout: int
    recurrent_command_synapses: int
    motor_fanin: int
    seed: int = 22222

    def __post_init__(self) -> None:
        inter = _check_int("inter_neurons", self.inter_neurons, 1)
        _set(self, inter_neurons=inter, **_check_ncp(self, inter, "inter_neurons"))

    @property
    def units(self) -> int:
        return self.inter_neurons + self.command_neurons + self.motor_neurons

    @property
    def output_size(self) -> int:
        return self.motor_neurons

    def _build(self, input_size: int) -> Wiring:
        names = ["inter", "command", "motor"]
        return _layered_ncp(self, input_size, [self.inter_neurons], names)


@dataclasses.dataclass(frozen=True)
class AutoNCP(WiringSpec):
    """NCP with sizes derived from a total, exactly as ncps 1.0.1's ``AutoNCP``.

    ``command = max(int(0.4 * (units - output_size)), 1)``, inter = the rest; each fan-out
    is ``max(int(density * layer), 1)`` with ``density = 1 - sparsity_level``, and
    ``recurrent = max(int(2 * density * command), 1)``. See :attr:`ncp` for the result.

    Example:
        >>> AutoNCP(32, 4).ncp.inter_neurons, AutoNCP(32, 4).build(8).layer_sizes
        (17, (17, 11, 4))
    """

    units: int
    output_size: int
    sparsity_level: float = 0.5
    seed: int = 22222

    def __post_init__(self) -> None:
        units = _check_int("units", self.units, 4, hint=" (1 motor, 1 command, 2 inter)")
        out = _check_int(
            "output_size",
            self.output_size,
            1,
            units - 3,
            hint=f": it must be less than units - 2 = {units - 2}; lower it or add units",
        )
        level = self.sparsity_level
        if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)):
            raise ValueError(f"sparsity_level must be a float in [0, 1), got {level!r}")
        if not 0.0 <= level < 1.0:
            raise ValueError(f"sparsity_level={level} must be in [0, 1): 0 is densest")
        seed = _check_int("seed", self.seed, 0, _MAX_SEED)
        _set(self, units=units, output_size=out, sparsity_level=float(level), seed=seed)

    @property
    def ncp(self) -> NCP:
        """The equivalent explicit :class:`NCP` spec."""
        density = 1.0 - self.sparsity_level
        inter_and_command = self.units - self.output_size
        command = max(int(0.4 * inter_and_command), 1)
        inter = inter_and_command - command
        return NCP(
            inter_neurons=inter,
            command_neurons=command,
            motor_neurons=self.output_size,
            sensory_fanout=max(int(inter * density), 1),
            inter_fanout=max(int(command * density), 1),
            recurrent_command_synapses=max(int(command * density * 2), 1),
            motor_fanin=max(int(command * density), 1),
            seed=self.seed,
        )

    def _build(self, input_size: int) -> Wiring:
        return dataclasses.replace(self.ncp.build(input_size), spec=self.to_dict())


@dataclasses.dataclass(frozen=True)
class MultiLayerNCP(WiringSpec):
    """NCP with several inter layers: sensory -> inter_0 -> ... -> command -> motor.

    Each inter layer feeds the next with ``min(inter_fanout, next layer size)`` synapses per
    neuron (the last one feeds the command layer with `inter_fanout`), with NCP's
    unreached-neuron fix-up at every stage. Ids: motor, command, then inter layers in order;
    layer names ``"inter_0", ..., "command", "motor"``.

    Example:
        >>> w = MultiLayerNCP((8, 6), 4, 2, sensory_fanout=3, inter_fanout=2,
        ...                   recurrent_command_synapses=4, motor_fanin=2).build(3)
        >>> [name for name, _ in w.layers]
        ['inter_0', 'inter_1', 'command', 'motor']
    """

    inter_layers: tuple[int, ...]
    command_neurons: int
    motor_neurons: int
    sensory_fanout: int
    inter_fanout: int
    recurrent_command_synapses: int
    motor_fanin: int
    seed: int = 22222

    def __post_init__(self) -> None:
        if isinstance(self.inter_layers, (int, np.integer)) or not len(self.inter_layers):
            raise ValueError("inter_layers must be a non-empty sequence of layer sizes")
        sizes = tuple(
            _check_int(f"inter_layers[{k}]", n, 1) for k, n in enumerate(self.inter_layers)
        )
        _set(self, inter_layers=sizes, **_check_ncp(self, sizes[0], "inter_layers[0]"))

    @property
    def units(self) -> int:
        return sum(self.inter_layers) + self.command_neurons + self.motor_neurons

    @property
    def output_size(self) -> int:
        return self.motor_neurons

    def _build(self, input_size: int) -> Wiring:
        names = [f"inter_{k}" for k in range(len(self.inter_layers))] + ["command", "motor"]
        return _layered_ncp(self, input_size, self.inter_layers, names)


def _nested(name: str, value: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(row) for row in _signed_matrix(name, value).tolist())


@dataclasses.dataclass(frozen=True)
class CustomWiring(WiringSpec):
    """Any signed adjacency ``(units, units)`` indexed ``[src, dst]``, stored as nested tuples.

    Without `sensory_adjacency`, ``build(n)`` connects every input to every neuron with a
    seeded random polarity (excitatory with probability 2/3); with one ``(n, units)``, build
    checks the input size. `layers` as in :class:`Wiring` (None: one layer ``"all"``).

    Example:
        >>> w = CustomWiring([[0, 1], [1, 0]], output_size=1).build(3)
        >>> w.sensory_synapse_count
        6
    """

    adjacency: tuple[tuple[int, ...], ...]
    output_size: int
    sensory_adjacency: tuple[tuple[int, ...], ...] | None = None
    layers: tuple[tuple[str, tuple[int, ...]], ...] | None = None
    seed: int = 1111

    def __post_init__(self) -> None:
        adjacency = _nested("adjacency", self.adjacency)
        units = len(adjacency)
        if len(adjacency[0]) != units:
            raise ValueError(f"adjacency must be square (units, units), got {units} rows")
        out = _check_int("output_size", self.output_size, 1, units, ": at most units")
        sensory = self.sensory_adjacency
        if sensory is not None:
            sensory = _nested("sensory_adjacency", sensory)
            if len(sensory[0]) != units:
                raise ValueError(f"sensory_adjacency must have {units} columns (one per neuron)")
        layers = self.layers
        if layers is not None:
            layers = check_layers(layers, units, out)
        seed = _check_int("seed", self.seed, 0, _MAX_SEED)
        _set(
            self,
            adjacency=adjacency,
            output_size=out,
            sensory_adjacency=sensory,
            layers=layers,
            seed=seed,
        )

    @property
    def units(self) -> int:
        return len(self.adjacency)

    def _build(self, input_size: int) -> Wiring:
        if self.sensory_adjacency is None:
            rng = np.random.default_rng(self.seed)
            sensory = rng.choice([-1, 1, 1], size=(input_size, self.units))
        elif len(self.sensory_adjacency) != input_size:
            raise ValueError(
                f"sensory_adjacency has {len(self.sensory_adjacency)} rows but input_size is "
                f"{input_size}: give one row per input feature, or leave it None"
            )
        else:
            sensory = self.sensory_adjacency
        return Wiring(self.adjacency, sensory, self.output_size, self.layers, self.to_dict())


def as_wiring(obj: WiringSpec | Wiring | int, input_size: int) -> Wiring:
    """Resolve a spec, a built wiring or a unit count (fully connected) to a built Wiring.

    Example:
        >>> as_wiring(4, input_size=2).units
        4
    """
    if isinstance(obj, (WiringSpec, Wiring)):
        return obj.build(input_size)
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return FullyConnected(int(obj)).build(input_size)
    raise TypeError(
        f"expected a WiringSpec (e.g. AutoNCP), a built Wiring or an int, got {type(obj).__name__}"
    )
