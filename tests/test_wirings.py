"""Wirings: bit-for-bit agreement with ncps 1.0.1, and invariants as hypothesis properties."""

import dataclasses
import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liquidtorch.wirings import (
    NCP,
    AutoNCP,
    CustomWiring,
    FullyConnected,
    MultiLayerNCP,
    RandomSparse,
    Wiring,
    WiringSpec,
    as_wiring,
)

ncps_wirings = pytest.importorskip("ncps.wirings")

PROPERTY = settings(max_examples=50, deadline=None, database=None)


def ncps_built(wiring, input_size):
    wiring.build(input_size)
    return wiring


def assert_same_matrices(ours: Wiring, ref) -> None:
    np.testing.assert_array_equal(ours.adjacency, ref.adjacency_matrix)
    np.testing.assert_array_equal(ours.sensory_adjacency, ref.sensory_adjacency_matrix)
    assert ours.output_size == ref.output_dim


# ---------------------------------------------------------------------------------------------
# Agreement with ncps 1.0.1
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("self_connections", [True, False])
@pytest.mark.parametrize(
    ("units", "input_size", "seed"), [(1, 1, 1111), (5, 3, 0), (8, 2, 7), (16, 9, 123)]
)
def test_fully_connected_matches_ncps(units, input_size, seed, self_connections):
    ref = ncps_built(
        ncps_wirings.FullyConnected(units, erev_init_seed=seed, self_connections=self_connections),
        input_size,
    )
    ours = FullyConnected(units, self_connections=self_connections, seed=seed).build(input_size)
    assert_same_matrices(ours, ref)
    diagonal = np.count_nonzero(np.diag(ours.adjacency))
    assert diagonal == (units if self_connections else 0)
    assert ours.synapse_count == units * units - (0 if self_connections else units)
    assert ours.sensory_synapse_count == input_size * units


@pytest.mark.parametrize(
    "args",
    [
        (6, 4, 2, 3, 2, 3, 2),
        (10, 3, 2, 4, 3, 2, 2),
        (1, 1, 1, 1, 1, 0, 1),
        (12, 8, 4, 2, 1, 10, 1),  # sparse: many unreached neurons to fix up
    ],
)
@pytest.mark.parametrize(("input_size", "seed"), [(1, 22222), (5, 3), (16, 99)])
def test_ncp_matches_ncps(args, input_size, seed):
    ref = ncps_built(ncps_wirings.NCP(*args, seed=seed), input_size)
    ours = NCP(*args, seed=seed).build(input_size)
    assert_same_matrices(ours, ref)
    assert Wiring.from_ncps(ref) == dataclasses.replace(ours, spec=None)


@pytest.mark.parametrize(("input_size", "seed"), [(1, 24), (3, 45), (3, 185)])
def test_ncp_keeps_ncps_fixup_cap(input_size, seed):
    # With these seeds all 6 inter neurons pick the same command neuron; ncps then wires the
    # other one from min(int(6 * 1 / 2), command_neurons=2) inter neurons, not from 3.
    ref = ncps_built(ncps_wirings.NCP(6, 2, 1, 2, 1, 1, 1, seed=seed), input_size)
    ours = NCP(6, 2, 1, 2, 1, 1, 1, seed=seed).build(input_size)
    assert_same_matrices(ours, ref)
    inter_to_command = ours.adjacency[3:, 1:3] != 0
    assert sorted(inter_to_command.sum(axis=0)) == [2, 6]


@pytest.mark.parametrize(
    ("units", "output_size", "input_size", "sparsity"),
    [(32, 4, 8, 0.5), (19, 1, 32, 0.5), (64, 4, 3, 0.5), (10, 2, 1, 0.1), (24, 3, 6, 0.9)],
)
@pytest.mark.parametrize("seed", [22222, 0, 5])
def test_auto_ncp_matches_ncps(units, output_size, input_size, sparsity, seed):
    ref = ncps_built(
        ncps_wirings.AutoNCP(units, output_size, sparsity_level=sparsity, seed=seed), input_size
    )
    spec = AutoNCP(units, output_size, sparsity_level=sparsity, seed=seed)
    ours = spec.build(input_size)
    assert_same_matrices(ours, ref)
    assert ours.synapse_count == np.count_nonzero(ref.adjacency_matrix)
    assert ours.sensory_synapse_count == np.count_nonzero(ref.sensory_adjacency_matrix)
    assert Wiring.from_ncps(ref, spec=spec) == ours
    assert ours.layers == tuple(
        (name, tuple(ref.get_neurons_of_layer(k)))
        for k, name in enumerate(["inter", "command", "motor"])
    )


def test_from_ncps_fully_connected_and_unbuilt():
    ref = ncps_built(ncps_wirings.FullyConnected(6, output_dim=2, erev_init_seed=3), 4)
    spec = FullyConnected(6, output_size=2, seed=3)
    assert Wiring.from_ncps(ref, spec=spec) == spec.build(4)
    assert Wiring.from_ncps(ref).layers == (("all", tuple(range(6))),)
    with pytest.raises(ValueError, match="not built"):
        Wiring.from_ncps(ncps_wirings.FullyConnected(6))


ncp_sizes = st.fixed_dictionaries(
    {"inter": st.integers(1, 8), "command": st.integers(1, 6), "motor": st.integers(1, 4)}
)


@st.composite
def ncp_arguments(draw, inter_layers=None):
    """Valid NCP arguments, positional order of ``NCP`` (first entry: inter size(s))."""
    sizes = draw(ncp_sizes)
    inter = sizes["inter"] if inter_layers is None else draw(inter_layers)
    first = inter if isinstance(inter, int) else inter[0]
    command = sizes["command"]
    return dict(
        command_neurons=command,
        motor_neurons=sizes["motor"],
        sensory_fanout=draw(st.integers(1, first)),
        inter_fanout=draw(st.integers(1, command)),
        recurrent_command_synapses=draw(st.integers(0, 8)),
        motor_fanin=draw(st.integers(1, command)),
        seed=draw(st.integers(0, 2**32 - 1)),
    ), inter


@PROPERTY
@given(arguments=ncp_arguments(), input_size=st.integers(1, 6))
def test_ncp_matches_ncps_property(arguments, input_size):
    kwargs, inter = arguments
    ref = ncps_built(ncps_wirings.NCP(inter, **kwargs), input_size)
    assert_same_matrices(NCP(inter, **kwargs).build(input_size), ref)


@PROPERTY
@given(
    units=st.integers(4, 40),
    data=st.data(),
    sparsity=st.floats(0.1, 0.95),
    seed=st.integers(0, 2**32 - 1),
    input_size=st.integers(1, 8),
)
def test_auto_ncp_matches_ncps_property(units, data, sparsity, seed, input_size):
    output_size = data.draw(st.integers(1, units - 3))
    ref = ncps_built(ncps_wirings.AutoNCP(units, output_size, sparsity, seed), input_size)
    assert_same_matrices(AutoNCP(units, output_size, sparsity, seed).build(input_size), ref)


@PROPERTY
@given(arguments=ncp_arguments(), input_size=st.integers(1, 6))
def test_single_layer_multilayer_ncp_is_ncp(arguments, input_size):
    kwargs, inter = arguments
    ncp = NCP(inter, **kwargs).build(input_size)
    multi = MultiLayerNCP((inter,), **kwargs).build(input_size)
    np.testing.assert_array_equal(multi.adjacency, ncp.adjacency)
    np.testing.assert_array_equal(multi.sensory_adjacency, ncp.sensory_adjacency)
    assert [name for name, _ in multi.layers] == ["inter_0", "command", "motor"]
    assert [ids for _, ids in multi.layers] == [ids for _, ids in ncp.layers]


# ---------------------------------------------------------------------------------------------
# Properties of every builder
# ---------------------------------------------------------------------------------------------
seeds = st.integers(0, 2**32 - 1)
ncp_specs = ncp_arguments().map(lambda a: NCP(a[1], **a[0]))
multi_specs = ncp_arguments(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)).map(
    lambda a: MultiLayerNCP(a[1], **a[0])
)


@st.composite
def auto_specs(draw):
    units = draw(st.integers(4, 24))
    output_size = draw(st.integers(1, units - 3))
    return AutoNCP(units, output_size, draw(st.floats(0.0, 0.99)), draw(seeds))


@st.composite
def flat_specs(draw):
    units = draw(st.integers(1, 8))
    output_size = draw(st.none() | st.integers(1, units))
    seed = draw(seeds)
    kind = draw(st.sampled_from(["full", "sparse", "custom"]))
    if kind == "full":
        return FullyConnected(units, output_size, draw(st.booleans()), seed)
    if kind == "sparse":
        return RandomSparse(units, output_size, draw(st.floats(0.0, 0.99)), seed)
    signs = st.lists(st.sampled_from([-1, 0, 1]), min_size=units, max_size=units)
    adjacency = draw(st.lists(signs, min_size=units, max_size=units))
    return CustomWiring(adjacency, output_size or units, seed=seed)


ncp_like_specs = ncp_specs | multi_specs | auto_specs()
all_specs = ncp_like_specs | flat_specs()


@PROPERTY
@given(spec=all_specs, input_size=st.integers(1, 6))
def test_build_invariants(spec, input_size):
    wiring = spec.build(input_size)
    assert spec.build(input_size) == wiring  # pure and deterministic
    assert (wiring.units, wiring.input_size) == (spec.units, input_size)
    assert wiring.output_size == spec.output_size
    assert wiring.adjacency.shape == (spec.units, spec.units)
    assert wiring.sensory_adjacency.shape == (input_size, spec.units)
    for matrix in (wiring.adjacency, wiring.sensory_adjacency):
        assert matrix.dtype == np.int8
        assert set(np.unique(matrix)) <= {-1, 0, 1}
    assert wiring.synapse_count == int(np.abs(wiring.adjacency.astype(int)).sum())
    assert wiring.sensory_synapse_count == int(np.abs(wiring.sensory_adjacency.astype(int)).sum())
    ids = [i for _, layer in wiring.layers for i in layer]
    assert sorted(ids) == list(range(wiring.units))
    assert sum(wiring.layer_sizes) == wiring.units == len(ids)
    motor = tuple(range(wiring.output_size))
    assert tuple(wiring.groups["motor"]) == motor
    if wiring.num_layers > 1:
        assert wiring.layers[-1] == ("motor", motor)
    for k, (name, layer) in enumerate(wiring.layers):
        assert all(wiring.layer_of(i) == k and wiring.neuron_type(i) == name for i in layer)
    assert wiring.spec == spec.to_dict()


@PROPERTY
@given(spec=all_specs, input_size=st.integers(1, 6))
def test_round_trips_are_exact(spec, input_size):
    wiring = spec.build(input_size)
    restored = Wiring.from_dict(json.loads(json.dumps(wiring.to_dict())))
    assert restored == wiring
    assert Wiring.from_json(wiring.to_json()) == wiring
    np.testing.assert_array_equal(restored.adjacency, wiring.adjacency)
    assert restored.layers == wiring.layers and restored.spec == wiring.spec
    spec_again = WiringSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert type(spec_again) is type(spec) and spec_again == spec
    assert WiringSpec.from_dict(wiring.spec).build(input_size) == wiring


@PROPERTY
@given(spec=all_specs, input_size=st.integers(1, 6))
def test_networkx_graph_matches_matrices(spec, input_size):
    wiring = spec.build(input_size)
    graph = wiring.to_networkx()
    assert graph.number_of_nodes() == wiring.units + wiring.input_size
    assert graph.number_of_edges() == wiring.synapse_count + wiring.sensory_synapse_count
    for src, dst, data in graph.edges(data=True):
        matrix = wiring.sensory_adjacency if src.startswith("sensory") else wiring.adjacency
        sign = matrix[int(src.split("_")[1]), int(dst.split("_")[1])]
        assert data["weight"] == sign
        assert data["polarity"] == ("excitatory" if sign > 0 else "inhibitory")
    assert graph.nodes["neuron_0"]["neuron_type"] == wiring.neuron_type(0)
    assert graph.nodes["sensory_0"]["neuron_type"] == "sensory"


@PROPERTY
@given(spec=all_specs)
def test_one_spec_serves_several_input_sizes(spec):
    small, large = spec.build(3), spec.build(7)
    assert (small.input_size, large.input_size) == (3, 7)
    assert small.units == large.units == spec.units
    assert small.layers == large.layers
    with pytest.raises(ValueError, match="built for 3 inputs"):
        small.build(7)
    assert small.build(3) is small
    assert as_wiring(small, 3) is small and as_wiring(spec, 7) == large


# ---------------------------------------------------------------------------------------------
# NCP structure
# ---------------------------------------------------------------------------------------------
def allowed_pairs(wiring: Wiring) -> set[tuple[str, str]]:
    names = [name for name, _ in wiring.layers]
    pairs = set(zip(names[:-2], names[1:-1], strict=True))  # inter -> ... -> command
    return pairs | {("command", "command"), ("command", "motor")}


@PROPERTY
@given(spec=ncp_like_specs, input_size=st.integers(1, 6))
def test_ncp_structure(spec, input_size):
    wiring = spec.build(input_size)
    first = set(wiring.layers[0][1])
    assert wiring.layers[-2][0] == "command" and wiring.layers[-1][0] == "motor"
    sensory_dst = set(np.nonzero(wiring.sensory_adjacency)[1].tolist())
    assert sensory_dst == first  # every first-layer neuron has a sensory synapse, nothing else
    allowed = allowed_pairs(wiring)
    for src, dst in zip(*np.nonzero(wiring.adjacency), strict=True):
        assert (wiring.neuron_type(src), wiring.neuron_type(dst)) in allowed

    graph = wiring.to_networkx()
    sensory = [f"sensory_{k}" for k in range(input_size)]
    reached = set().union(*(nx.descendants(graph, node) for node in sensory))
    assert reached == {f"neuron_{j}" for j in range(wiring.units)}
    motors = [f"neuron_{j}" for j in range(wiring.output_size)]
    drives_motor = set(motors).union(*(nx.ancestors(graph, node) for node in motors))
    assert {f"neuron_{j}" for j in range(wiring.units)} <= drives_motor


@pytest.mark.parametrize(
    "spec",
    [
        NCP(6, 5, 2, 3, 2, 4, 2),
        AutoNCP(16, 2),
        MultiLayerNCP((6, 5), 4, 2, 3, 2, 4, 2),
        RandomSparse(6),
        FullyConnected(6),
        CustomWiring(np.ones((4, 4)), 1),
    ],
    ids=lambda spec: type(spec).__name__,
)
def test_different_seeds_give_different_wirings(spec):
    builds = {dataclasses.replace(spec, seed=seed).build(5) for seed in range(5)}
    matrices = {(w.adjacency.tobytes(), w.sensory_adjacency.tobytes()) for w in builds}
    assert len(matrices) >= 2


def test_random_sparse_counts_each_synapse_once():
    # ncps's Random draws every sensory synapse twice; we sample each exactly once.
    wiring = RandomSparse(10, output_size=2, sparsity=0.75, seed=4).build(4)
    assert (wiring.synapse_count, wiring.sensory_synapse_count) == (25, 10)
    dense = RandomSparse(5, sparsity=0.0).build(3)
    assert (dense.synapse_count, dense.sensory_synapse_count) == (25, 15)


def _excitatory_share(matrix: np.ndarray) -> float:
    signs = matrix[matrix != 0]
    assert set(np.unique(signs)) <= {-1, 1}
    return float((signs > 0).mean())


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_random_sparse_polarity_and_placement_distributions(seed):
    """Polarity excitatory with probability 2/3, synapses placed uniformly: checked within
    6 standard deviations on 20 000 recurrent and 10 000 sensory synapses."""
    wiring = RandomSparse(200, output_size=2, sparsity=0.5, seed=seed).build(100)
    for matrix, n in ((wiring.adjacency, 20_000), (wiring.sensory_adjacency, 10_000)):
        assert np.count_nonzero(matrix) == n
        sd = np.sqrt(2 / 9 / n)
        assert abs(_excitatory_share(matrix) - 2 / 3) < 6 * sd
        # Uniform placement: half the synapses in each half of the rows and of the columns.
        rows, cols = np.nonzero(matrix)
        for index, size in ((rows, matrix.shape[0]), (cols, matrix.shape[1])):
            assert abs((index < size // 2).mean() - 0.5) < 6 * np.sqrt(0.25 / n)
        # Polarity independent of position: the same 2/3 in the upper and lower halves.
        upper = np.where(np.arange(matrix.shape[0])[:, None] < matrix.shape[0] // 2, matrix, 0)
        assert abs(_excitatory_share(upper) - 2 / 3) < 6 * np.sqrt(2 / 9 / (n / 2))


def test_fully_connected_and_ncp_polarity_distributions():
    dense = FullyConnected(120, seed=3).build(60)
    for matrix in (dense.adjacency, dense.sensory_adjacency):
        n = np.count_nonzero(matrix)
        assert abs(_excitatory_share(matrix) - 2 / 3) < 6 * np.sqrt(2 / 9 / n)
    # NCP synapses: excitatory or inhibitory with probability 1/2 each.
    shares, counts = [], []
    for seed in range(20):
        ncp = NCP(20, 10, 4, 6, 4, 4, 6, seed=seed).build(8)
        for matrix in (ncp.adjacency, ncp.sensory_adjacency):
            counts.append(np.count_nonzero(matrix))
            shares.append(_excitatory_share(matrix) * counts[-1])
    n = sum(counts)
    assert abs(sum(shares) / n - 0.5) < 6 * np.sqrt(0.25 / n)


def test_multilayer_ncp_fanout_is_capped_by_next_layer():
    wiring = MultiLayerNCP((6, 2, 5), 4, 1, 2, 4, 2, 2, seed=1).build(3)
    inter_0, inter_1, inter_2 = (ids for _, ids in wiring.layers[:3])
    out_degree = (wiring.adjacency != 0).sum(axis=1)
    assert (out_degree[list(inter_0)] == 2).all()  # inter_fanout=4 capped at inter_1's size
    assert (out_degree[list(inter_1)] == 4).all()
    assert [len(ids) for _, ids in wiring.layers] == [6, 2, 5, 4, 1]


# ---------------------------------------------------------------------------------------------
# Wiring data: immutability, validation, equality
# ---------------------------------------------------------------------------------------------
def test_wiring_is_immutable():
    adjacency = np.array([[0, 1], [-1, 0]])
    wiring = Wiring(adjacency, [[1, 1]], output_size=1)
    adjacency[0, 1] = -1  # the wiring holds its own copy
    assert wiring.adjacency[0, 1] == 1
    with pytest.raises(ValueError, match="read-only"):
        wiring.adjacency[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        wiring.sensory_adjacency[0, 0] = 0
    with pytest.raises(ValueError, match="read-only"):
        wiring.groups["motor"][0] = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        wiring.output_size = 2
    spec = AutoNCP(16, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seed = 1
    built = spec.build(3)
    built.to_dict()["spec"]["seed"] = 1
    assert built.spec["seed"] == 22222


def test_equality_sees_every_field():
    base = CustomWiring([[0, 1, 0], [0, 0, 1], [1, 0, 0]], 1).build(2)
    assert base == Wiring.from_dict(base.to_dict()) and hash(base) == hash(
        Wiring.from_json(base.to_json())
    )
    flipped = base.adjacency.copy()
    flipped[0, 1] = -1
    layers = (("first", (1, 2)), ("motor", (0,)))
    variants = [
        dataclasses.replace(base, adjacency=flipped),
        dataclasses.replace(base, sensory_adjacency=-base.sensory_adjacency),
        dataclasses.replace(base, output_size=2),
        dataclasses.replace(base, layers=layers),
        dataclasses.replace(base, spec=None),
    ]
    assert all(variant != base for variant in variants)
    assert base != "not a wiring"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(adjacency=[[0, 1]], sensory_adjacency=[[1, 1]], output_size=1), "square"),
        (dict(adjacency=[[2]], sensory_adjacency=[[1]], output_size=1), "entries"),
        (dict(adjacency=[[0]], sensory_adjacency=[[1, 1]], output_size=1), "sensory_adjacency"),
        (dict(adjacency=[[0]], sensory_adjacency=np.zeros((0, 1)), output_size=1), "non-empty"),
        (dict(adjacency=[[0]], sensory_adjacency=[[1]], output_size=2), "output_size"),
        (dict(adjacency=np.eye(2), sensory_adjacency=[[1, 1]], output_size=1, layers=[("a", [0])]),
         "partition"),
        (dict(adjacency=np.eye(2), sensory_adjacency=[[1, 1]], output_size=1,
              layers=[("motor", [0]), ("b", [1])]), "motor"),
        (dict(adjacency=np.eye(2), sensory_adjacency=[[1, 1]], output_size=1,
              layers=[("a", [0]), ("b", [1])]), "last layer"),
        (dict(adjacency=[[0]], sensory_adjacency=[[1]], output_size=1, spec={"f": object()}),
         "JSON"),
    ],
)  # fmt: skip
def test_wiring_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Wiring(**kwargs)


ncp_ok = dict(
    inter_neurons=4,
    command_neurons=3,
    motor_neurons=2,
    sensory_fanout=2,
    inter_fanout=2,
    recurrent_command_synapses=2,
    motor_fanin=2,
)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: NCP(**{**ncp_ok, "motor_fanin": 5}), "motor_fanin=5 exceeds command_neurons=3"),
        (lambda: NCP(**{**ncp_ok, "sensory_fanout": 5}), "sensory_fanout=5 exceeds inter"),
        (lambda: NCP(**{**ncp_ok, "inter_fanout": 4}), "inter_fanout"),
        (lambda: NCP(**{**ncp_ok, "inter_neurons": 0}), "inter_neurons"),
        (lambda: NCP(**{**ncp_ok, "recurrent_command_synapses": -1}), "recurrent_command"),
        (lambda: NCP(**{**ncp_ok, "seed": -1}), "seed"),
        (lambda: AutoNCP(10, 8), "output_size"),
        (lambda: AutoNCP(3, 1), "units"),
        (lambda: AutoNCP(10, 2, sparsity_level=1.0), "sparsity_level"),
        (lambda: FullyConnected(0), "units"),
        (lambda: FullyConnected(4, output_size=5), "output_size"),
        (lambda: RandomSparse(4, sparsity=1.0), "sparsity"),
        (lambda: MultiLayerNCP((), 3, 2, 1, 1, 1, 1), "inter_layers"),
        (lambda: MultiLayerNCP((4, 0), 3, 2, 1, 1, 1, 1), r"inter_layers\[1\]"),
        (lambda: MultiLayerNCP((2, 4), 3, 2, 3, 1, 1, 1), "sensory_fanout=3 exceeds inter"),
        (lambda: CustomWiring([[0, 2], [0, 0]], 1), "adjacency"),
        (lambda: CustomWiring([[0, 1, 0], [0, 0, 1]], 1), "square"),
        (lambda: CustomWiring([[0, 1], [1, 0]], 3), "output_size"),
        (lambda: CustomWiring([[0, 1], [1, 0]], 1, sensory_adjacency=[[1]]), "columns"),
        (lambda: CustomWiring([[0, 1], [1, 0]], 1).build(3).build(2), "built for 3 inputs"),
        (lambda: CustomWiring([[0, 1], [1, 0]], 1, [[1, 1]]).build(2), "sensory_adjacency"),
        (lambda: AutoNCP(16, 2).build(0), "input_size"),
        (lambda: WiringSpec.from_dict({"kind": "Nope"}), "unknown wiring kind"),
    ],
)
def test_invalid_arguments_name_what_to_change(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---------------------------------------------------------------------------------------------
# Custom wirings, as_wiring, small accessors
# ---------------------------------------------------------------------------------------------
def test_custom_wiring():
    adjacency = [[0, 1, -1], [0, 0, 1], [1, 0, 0]]
    layers = [("hidden", [1, 2]), ("motor", [0])]
    spec = CustomWiring(adjacency, 1, layers=layers, seed=3)
    wiring = spec.build(4)
    np.testing.assert_array_equal(wiring.adjacency, adjacency)
    assert wiring.sensory_synapse_count == 12  # every input to every neuron
    assert wiring.groups.keys() == {"hidden", "motor"}
    assert wiring.neuron_type(2) == "hidden" and wiring.layer_of(0) == 1
    sensory = [[1, 0, 0], [0, -1, 0]]
    explicit = CustomWiring(adjacency, 1, sensory_adjacency=sensory).build(2)
    np.testing.assert_array_equal(explicit.sensory_adjacency, sensory)
    assert hash(spec) == hash(WiringSpec.from_dict(spec.to_dict()))


def test_as_wiring_and_repr():
    wiring = as_wiring(5, input_size=2)
    assert wiring == FullyConnected(5).build(2)
    assert wiring.groups.keys() == {"all", "motor"} and wiring.neuron_type(4) == "all"
    with pytest.raises(TypeError, match="WiringSpec"):
        as_wiring("ncp", 2)
    with pytest.raises(TypeError):
        as_wiring(True, 2)
    text = repr(AutoNCP(19, 1).build(32))
    assert text.startswith("Wiring(units=19, inputs=32, outputs=1,")
    assert "layers=inter:11/command:7/motor:1" in text
