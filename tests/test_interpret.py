"""liquidtorch.interpret: known answers for the analyses behind `liquidtorch explain`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from liquidtorch.data import Metric, SequenceData, Task, TaskKind
from liquidtorch.interpret import (
    Perturbation,
    circle,
    fit_tree,
    integrated_gradients,
    latent_trajectory,
    pca,
    perturb,
    record,
    robustness_curves,
    trajectory_length,
    trajectory_study,
)
from liquidtorch.interpret.explain import model_targets
from liquidtorch.interpret.report import synapse_table
from liquidtorch.kernels import use_fused
from liquidtorch.layers import SequenceLayer
from liquidtorch.zoo import SequenceModel, build_model

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------ helpers
class CopyCell(nn.Module):
    """A 'network' whose state is a copy of its input: ``h_next = x``."""

    def __init__(self, n: int):
        super().__init__()
        self.input_size = self.state_size = self.output_size = n
        self.dummy = nn.Parameter(torch.zeros(()))  # init_state reads the dtype from it

    def init_state(self, batch: int, device=None, dtype=None) -> torch.Tensor:
        return torch.zeros(batch, self.state_size, dtype=dtype or torch.float32)

    def forward(self, x, h, dt=1.0):
        return x, x


class LinearCell(CopyCell):
    """``h_next = A x`` (a linear map of the input), for the trajectory length."""

    def __init__(self, a: torch.Tensor):
        super().__init__(a.shape[1])
        self.state_size = self.output_size = a.shape[0]
        self.register_buffer("a", a)

    def forward(self, x, h, dt=1.0):
        y = x @ self.a.T
        return y, y


def copy_classifier(n_in: int = 3) -> SequenceModel:
    """Class 1 where the last step's first input is > 0, read off the copied state."""
    model = SequenceModel(SequenceLayer(n_in, CopyCell, return_sequences=False), 2, per_step=False)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.weight[1, 0] = 1.0  # logit 1 = x0, logit 0 = 0
    return model


def fake_task(n: int = 60, steps: int = 12, features: int = 3, seed: int = 0) -> Task:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, features, generator=gen)
    y = (x[:, -1, 0] > 0).long()
    data = SequenceData(x, y)
    return Task("fake", TaskKind.CLASSIFICATION, Metric.ACCURACY, False, features, 2,
                data, data, data)  # fmt: skip


# ------------------------------------------------------------------- decision tree
def test_tree_on_a_network_that_copies_its_input_is_faithful():
    model = copy_classifier()
    train, test = fake_task(200, seed=1).train, fake_task(200, seed=2).test
    fit_trace = record(model, train.x)
    test_trace = record(model, test.x)
    assert np.array_equal(fit_trace.final_states(), train.x[:, -1].numpy())
    x_fit, y_fit = model_targets(fit_trace, classification=True)
    held_out = model_targets(test_trace, classification=True)
    assert np.array_equal(y_fit, (train.x[:, -1, 0] > 0).numpy())
    fit = fit_tree(x_fit, y_fit, held_out, depth=1)
    assert fit.fidelity >= 0.98  # one split on x0 (at a threshold between samples)
    assert fit.tree.tree_.feature[0] == 0
    # Trees of a network that reads x0 can't be faithful from the other inputs alone.
    other = fit_tree(x_fit[:, 1:], y_fit, (held_out[0][:, 1:], held_out[1]), depth=1)
    assert other.fidelity < 0.8


def test_tree_regression_fidelity_is_r2():
    x = np.linspace(-1, 1, 200)[:, None]
    fit = fit_tree(x, np.sign(x[:, 0]), (x, np.sign(x[:, 0])), depth=1, classification=False)
    assert fit.fidelity == pytest.approx(1.0)


# ----------------------------------------------------------------------------- PCA
def test_pca_of_activity_on_a_line_is_one_component():
    rng = np.random.default_rng(0)
    t = rng.uniform(-3, 3, size=(500, 1))
    direction = rng.normal(size=(1, 7))
    points = 0.5 + t * direction
    fit = pca(points)
    assert fit.explained[0] == pytest.approx(1.0, abs=1e-12)
    assert fit.components_for(0.9) == 1
    # The component is the line's direction (up to sign).
    cos = abs(fit.components[0] @ direction[0]) / np.linalg.norm(direction)
    assert cos == pytest.approx(1.0, abs=1e-12)
    # Off the line by a little: still ~100 %, no longer exactly.
    noisy = pca(points + 1e-3 * rng.normal(size=points.shape))
    assert 0.9999 < noisy.explained[0] < 1.0


def test_pca_explained_matches_known_variances():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, 2)) * np.array([3.0, 1.0])  # variances 9 and 1
    assert pca(x).explained == pytest.approx([0.9, 0.1], abs=0.01)


# ------------------------------------------------------------------ trajectory length
def test_trajectory_length_of_a_linear_map_of_a_circle():
    steps = 100
    inputs, dt = circle(steps)
    assert dt == pytest.approx(2 * math.pi / steps)
    theta = 0.3
    rotation = torch.tensor(
        [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
    )
    a = torch.cat([2.0 * rotation, torch.zeros(1, 2)])  # into 3-D, radius 2
    path = latent_trajectory([LinearCell(a)], inputs, dt)
    # 99 chords of a circle of radius 2 between points 2 pi / 100 apart.
    assert trajectory_length(path) == pytest.approx(
        2 * 99 * 2 * math.sin(math.pi / steps), rel=1e-6
    )
    # Onto one axis: 3 cos t runs 3 -> -3 (at t = pi, a sample) -> 3 cos(2 pi 99/100).
    flat = latent_trajectory([LinearCell(torch.tensor([[0.0, 3.0]]))], inputs, dt)
    assert trajectory_length(flat) == pytest.approx(
        6 + 3 + 3 * math.cos(2 * math.pi / steps), rel=1e-6
    )


@pytest.mark.parametrize("family", ["ltc", "ctrnn", "node"])
def test_gain_scales_the_weights_before_the_nonlinearity(family):
    from liquidtorch.interpret.expressivity import make_cell

    torch.manual_seed(3)
    plain = make_cell(family, 2, 5, "default")
    torch.manual_seed(3)
    scaled = make_cell(family, 2, 5, "default", gain=2.5)
    changed = {n for n, p in plain.state_dict().items()
               if not torch.equal(p, scaled.state_dict()[n])}  # fmt: skip
    expected = {
        "ltc": {"sigma", "sensory_sigma"},
        "ctrnn": {"input_map.weight", "recurrent_map.weight"},
        "node": {n for n in plain.state_dict() if n.endswith("weight")},
    }[family]
    assert changed == expected and expected
    for name in changed:
        assert torch.allclose(scaled.state_dict()[name], 2.5 * plain.state_dict()[name])


def test_trajectory_length_rejects_bad_shapes():
    with pytest.raises(ValueError, match="points"):
        trajectory_length(np.zeros(5))


def test_trajectory_study_covers_the_axes():
    records = trajectory_study(widths=(4, 6), depths=(1, 2), activations=("default", "relu"),
                               gains=(1.0, 2.0), base_width=4, seeds=1, steps=16)  # fmt: skip
    families = {r.family for r in records}
    assert families == {"ltc", "ctrnn", "node"}
    # Per family: widths {4, 6} + depth 2 + relu + gain 2, the base (4, 1, default, 1)
    # counted once.
    assert len(records) == 3 * 5
    assert {r.gain for r in records} == {1.0, 2.0}
    finite = [r.length for r in records if math.isfinite(r.length)]
    assert finite and all(v > 0 for v in finite)


# -------------------------------------------------------------------------- robustness
class Constant(nn.Module):
    """Ignores its input: the same logits for every sequence."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor([0.2, -0.1]))

    def forward(self, x, timespans=None, *, lengths=None, mask=None):
        return self.logits.expand(x.shape[0], 2)


def test_robustness_of_a_model_that_ignores_its_input_is_flat():
    task = fake_task(80)
    curves = robustness_curves(Constant(), task, seeds=2)
    assert [c.perturbation for c in curves] == list(Perturbation)
    expected = float((task.test.y == 0).float().mean())
    for c in curves:
        assert len(c.levels) >= 4
        assert c.mean == pytest.approx([expected] * len(c.levels), abs=0)
        assert c.std == [0.0] * len(c.levels)


def test_robustness_of_a_model_that_reads_its_input_is_not_flat():
    curves = {c.perturbation: c for c in robustness_curves(copy_classifier(), fake_task(200))}
    noise = curves[Perturbation.NOISE]
    assert noise.mean[0] == 1.0 and noise.mean[-1] < 0.9
    assert curves[Perturbation.OFFSET].mean[-1] < 0.9  # x0 + 2 > 0 almost always
    assert curves[Perturbation.SCALE].mean == [1.0] * len(curves[Perturbation.SCALE].levels)


def test_drop_keeps_elapsed_time_and_order():
    x = torch.arange(20, dtype=torch.float32).reshape(2, 10, 1)
    data = SequenceData(x, torch.zeros(2, dtype=torch.long))
    same = perturb(data, Perturbation.DROP, 0.0)
    assert torch.equal(same.x, x) and torch.equal(same.timespans, torch.ones(2, 10))
    dropped = perturb(data, Perturbation.DROP, 0.5, seed=3)
    for i in range(2):
        k = int(dropped.lengths[i])
        kept = dropped.x[i, :k, 0]
        assert kept[0] == x[i, 0, 0] and bool((kept.diff() > 0).all())  # first kept, in order
        # Each kept sample's timespan is the index distance from the previous kept one.
        idx = kept - x[i, 0, 0]
        assert torch.equal(dropped.timespans[i, 1:k], idx.diff())
        assert bool((dropped.x[i, k:] == 0).all())
    assert 4 <= int(dropped.lengths.sum()) <= 16


# -------------------------------------------------------------- integrated gradients
def test_integrated_gradients_completeness_on_an_ltc():
    task = fake_task(8, steps=10)
    model = build_model("ltc", task, units=8).eval()
    x = task.test.x[:3]
    fn = lambda z: model(z)[:, 1]
    with use_fused(False):  # the reference loop: no kernel to compile for 10 steps
        attr = integrated_gradients(fn, x, steps=64)
        diff = (fn(x) - fn(torch.zeros_like(x))).detach()
    assert attr.values.shape == x.shape
    assert torch.allclose(attr.difference, diff)
    assert diff.abs().min() > 0.05  # a real difference to share out
    # Attributions sum to the output difference (midpoint rule, 64 steps).
    assert torch.allclose(attr.values.sum((1, 2)), diff, rtol=2e-3, atol=1e-5)
    assert attr.delta.abs().max() < 2e-3 * diff.abs().max()
    # Too few steps break completeness measurably: the check above can fail.
    with use_fused(False):
        coarse = integrated_gradients(fn, x, steps=1)
    assert coarse.delta.abs().max() > attr.delta.abs().max()


def test_integrated_gradients_of_a_linear_function_are_exact():
    w = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    x = torch.randn(4, 2, 2)
    attr = integrated_gradients(lambda z: (z * w).sum((1, 2)), x, steps=1, chunk=3)
    assert torch.allclose(attr.values, x * w)
    assert attr.delta.abs().max() < 1e-5


@pytest.mark.slow  # importing captum takes seconds
def test_integrated_gradients_agree_with_captum():
    captum_attr = pytest.importorskip("captum.attr")
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, 1))
    x = torch.randn(3, 4, 3)
    ours = integrated_gradients(lambda z: net(z)[:, 0], x, steps=20).values
    theirs = captum_attr.IntegratedGradients(net).attribute(
        x, baselines=torch.zeros_like(x), target=0, n_steps=20, method="riemann_middle"
    )
    assert torch.allclose(ours, theirs.detach(), atol=1e-5)


# ------------------------------------------------------------------ recording activity
@pytest.mark.parametrize("name", ["ltc_ncp", "cfc_ncp", "cfc", "lstm", "ltc_mixed"])
def test_record_reproduces_the_model(name):
    task = fake_task(6, steps=7)
    model = build_model(name, task, units=8).eval()
    x = task.test.x
    lengths = torch.tensor([7, 5, 7, 3, 7, 6])
    trace = record(model, x, lengths=lengths)
    with torch.no_grad():
        expected = model(x, lengths=lengths)
    assert torch.allclose(torch.from_numpy(trace.predictions), expected, atol=1e-5)
    assert trace.states.shape == (6, 7, model.layer.state_size)
    assert trace.valid.sum(1).tolist() == lengths.tolist()
    # Past a sequence's length the state is held.
    assert np.array_equal(trace.states[3, 3:], np.repeat(trace.states[3, 2:3], 4, 0))
    if name.startswith("ltc"):
        assert trace.family == "ltc" and trace.gate is None
        assert trace.tau.shape == trace.states.shape and (trace.tau > 0).all()
    elif name.startswith("cfc"):
        assert trace.family == "cfc" and trace.tau is None
        assert ((trace.gate > 0) & (trace.gate < 1)).all()
    else:
        assert trace.tau is None and trace.gate is None
    if name.endswith("ncp"):
        assert list(trace.groups) == ["inter", "command", "motor"]


def test_record_tau_is_the_cells_time_constant():
    task = fake_task(4, steps=5)
    model = build_model("ltc_ncp", task, units=8).eval()
    x = task.test.x
    trace = record(model, x)
    cell = model.layer.cells[0]
    with torch.no_grad():
        v1 = cell(x[:, 0], cell.init_state(4), 1.0)[1]
        tau = cell.time_constant(x[:, 1], v1)
    assert np.allclose(trace.tau[:, 1], tau.numpy(), atol=1e-6)
    assert np.allclose(trace.states[:, 0], v1.numpy(), atol=1e-6)


def test_synapse_table_counts_every_synapse():
    task = fake_task(4)
    wiring = build_model("ltc_ncp", task, units=12).layer.cells[0].wiring
    rows = synapse_table(wiring)
    assert rows[0][:2] == ["sensory", "inter"]
    total = sum(r[2] + r[3] for r in rows)
    assert total == wiring.synapse_count + wiring.sensory_synapse_count
    excitatory = sum(r[2] for r in rows)
    assert excitatory == int((wiring.adjacency == 1).sum() + (wiring.sensory_adjacency == 1).sum())


def test_diverged_trajectories_are_null_in_json():
    from liquidtorch.interpret.expressivity import TrajectoryRecord, records_to_json

    rows = records_to_json([TrajectoryRecord("ltc", 4, 1, "tanh", 0, math.inf),
                            TrajectoryRecord("ltc", 4, 1, "default", 0, 2.5)])  # fmt: skip
    assert [(r["length"], r["diverged"]) for r in rows] == [(None, True), (2.5, False)]


def test_analyse_a_per_step_regression_run():
    from liquidtorch.interpret import ExplainOptions, Run, analyse

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 9, 2, generator=gen)
    data = SequenceData(x, x.cumsum(1)[..., :1], lengths=torch.randint(4, 10, (30,), generator=gen))
    task = Task("fake_steps", TaskKind.REGRESSION, Metric.MSE, True, 2, 1, data, data, data)
    model = build_model("cfc_ncp", task, units=8).eval()
    options = ExplainOptions(shown=2, fit_sequences=20, test_sequences=10, depths=(1, 2),
                             ig_steps=16)  # fmt: skip
    with use_fused(False):
        a = analyse(Run(Path("."), "cfc_ncp", task, model), options)
    assert not a.classification
    assert a.test.predictions.shape == (10, 9, 1)  # per step
    assert set(a.fidelity) == {1, 2} and all(v <= 1.0 for v in a.fidelity.values())  # R^2
    assert a.shown.gate is not None and a.attribution.values.shape == (2, 9, 2)
    # The attribution's target is the output at each sequence's last valid step.
    last = torch.from_numpy(a.shown.valid.sum(1) - 1)
    with torch.no_grad():
        out = model(a.test_data.x[a.shown_index], lengths=a.test_data.lengths[a.shown_index])
    expected = (
        out[torch.arange(2), last, 0]
        - model(torch.zeros(2, 9, 2), lengths=a.test_data.lengths[a.shown_index])[
            torch.arange(2), last, 0
        ]
    )
    assert torch.allclose(a.attribution.difference, expected.detach(), atol=1e-5)
    with use_fused(False):
        curves = robustness_curves(model, task, seeds=1)
    assert all(math.isfinite(v) for c in curves for v in c.mean)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sklearn.tree", None)  # import fails
    x = np.zeros((4, 1))
    with pytest.raises(ModuleNotFoundError, match=r"liquidtorch\[explain\]"):
        fit_tree(x, np.zeros(4), (x, np.zeros(4)))
