"""The model zoo: every model builds for both kinds of task, has the right output shape,
ignores padding, takes a gradient step; parameter and synapse counts."""

import pytest
import torch

from liquidtorch.cells import LTCCell, WiredCfCCell
from liquidtorch.data import Metric, SequenceData, Task, TaskKind
from liquidtorch.train import task_loss
from liquidtorch.zoo import (
    MODELS,
    build_model,
    count_parameters,
    effective_parameters,
    list_models,
    model_info,
    synapse_count,
    training_defaults,
)

STEPS, FEATURES, BATCH = 6, 3, 4


pytestmark = pytest.mark.usefixtures("one_thread")


def _data(per_step: bool, out: int, seed: int = 0) -> SequenceData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, STEPS, FEATURES, generator=g)
    timespans = torch.rand(BATCH, STEPS, generator=g) * 2 + 0.1  # irregular
    lengths = torch.tensor([STEPS, 4, 1, 5])
    if per_step:
        y = torch.randn(BATCH, STEPS, out, generator=g)
    else:
        y = torch.randint(0, out, (BATCH,), generator=g)
    return SequenceData(x, y, timespans, lengths)


def _task(per_step: bool) -> Task:
    # per sequence: 3-class classification; per step: 2-dimensional regression
    out = 2 if per_step else 3
    data = _data(per_step, out)
    return Task(
        name="step-regression" if per_step else "sequence-classification",
        kind=TaskKind.REGRESSION if per_step else TaskKind.CLASSIFICATION,
        metric=Metric.MSE if per_step else Metric.ACCURACY,
        per_step=per_step,
        input_size=FEATURES,
        output_size=out,
        train=data,
        val=data,
        test=data,
        irregular=True,
    )


@pytest.mark.parametrize("per_step", [False, True], ids=["sequence_cls", "step_reg"])
@pytest.mark.parametrize("name", list(MODELS))
def test_builds_forward_and_steps(name, per_step):
    task = _task(per_step)
    model = build_model(name, task, units=8, seed=1)
    d = task.train
    out = model(d.x, d.timespans, lengths=d.lengths)
    expected = (BATCH, STEPS, task.output_size) if per_step else (BATCH, task.output_size)
    assert out.shape == expected and torch.isfinite(out).all()
    batch = {"y": d.y, "lengths": d.lengths}
    loss = task_loss(task)(out, batch)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    opt.step()
    changed = [not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True)]
    assert any(changed)
    # Padding is ignored: garbage after each sequence's length changes no valid output.
    x = d.x.clone()
    pad = torch.arange(STEPS) >= d.lengths[:, None]
    x[pad] = 1e3
    model.eval()
    with torch.no_grad():
        a = model(d.x, d.timespans, lengths=d.lengths)
        b = model(x, d.timespans, lengths=d.lengths)
    if per_step:
        a, b = a[~pad], b[~pad]
    torch.testing.assert_close(a, b)


def test_unknown_name_and_options():
    task = _task(False)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("transformer", task)
    with pytest.raises(ValueError, match="return_sequences"):
        build_model("cfc", task, return_sequences=True)
    model = build_model("cfc", task, units=8, backbone_units=16, mode="pure")
    assert model.layer.cell.mode.value == "pure"


def test_seed_decides_weights_and_leaves_global_rng():
    task = _task(False)
    state = torch.get_rng_state()
    a, b = build_model("ltc", task, units=8, seed=3), build_model("ltc", task, units=8, seed=3)
    c = build_model("ltc", task, units=8, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not all(
        torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )


def test_units_default_from_task():
    task = _task(False)
    object.__setattr__(task, "defaults", {"units": 12})
    assert build_model("gru", task).layer.cell.units == 12


def test_training_defaults_scale_the_task_lr():
    task = _task(False)
    object.__setattr__(task, "defaults", {"lr": 1e-3, "epochs": 7, "schedule": "cosine"})
    assert training_defaults("lstm", task) == {"lr": 1e-3, "epochs": 7, "schedule": "cosine"}
    scales = {name: model_info(name).lr_scale for name in list_models()}
    assert scales["ltc_ncp"] == scales["cfc_ncp"] == 4.0 and scales["lstm"] == 1.0
    for name, scale in scales.items():
        assert training_defaults(name, task)["lr"] == pytest.approx(1e-3 * scale)
    assert task.defaults["lr"] == 1e-3  # the task is not changed
    object.__setattr__(task, "defaults", {"epochs": 3})
    assert training_defaults("cfc_ncp", task) == {"epochs": 3}  # no lr: the trainer's default
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        training_defaults("nope", task)


def test_ncp_motor_neurons():
    task = _task(False)  # 3 outputs -> 4 motor neurons
    assert build_model("ltc_ncp", task, units=16).layer.output_size == 4
    assert build_model("cfc_ncp", task, units=16, motor_neurons=3).layer.output_size == 3
    assert build_model("cfc_ncp", task, units=6).layer.output_size == 3  # at most units - 3


def test_parameter_counts():
    task = _task(False)
    dense = build_model("gru", task, units=8)
    manual = sum(p.numel() for p in dense.parameters())
    assert count_parameters(dense) == effective_parameters(dense) == manual
    assert synapse_count(dense) == 0
    # fully connected LTC: every mask entry is 1
    ltc = build_model("ltc", task, units=8)
    assert effective_parameters(ltc) == count_parameters(ltc)
    assert synapse_count(ltc) == 8 * 8 + FEATURES * 8
    # NCP-wired LTC: w, sigma, mu, erev (and sensory twins) count only existing synapses
    ncp = build_model("ltc_ncp", task, units=16)
    cell = next(m for m in ncp.modules() if isinstance(m, LTCCell))
    n, i = cell.wiring.units, cell.wiring.input_size
    missing = 4 * (n * n - int(cell.mask.sum())) + 4 * (i * n - int(cell.sensory_mask.sum()))
    assert missing > 0
    assert effective_parameters(ncp) == count_parameters(ncp) - missing
    assert synapse_count(ncp) == cell.wiring.synapse_count + cell.wiring.sensory_synapse_count
    # wired CfC: the masked fused heads
    cfc = build_model("cfc_ncp", task, units=16)
    wired = next(m for m in cfc.modules() if isinstance(m, WiredCfCCell))
    missing = sum(int((layer.mask == 0).sum()) for layer in wired.layers)
    assert effective_parameters(cfc) == count_parameters(cfc) - missing
    assert synapse_count(cfc) == wired.wiring.synapse_count + wired.wiring.sensory_synapse_count
    frozen = build_model("gru", task, units=8)
    frozen.head.requires_grad_(False)
    assert count_parameters(frozen) == manual - frozen.head.weight.numel() - 3
    assert count_parameters(frozen, trainable_only=False) == manual


def test_mean_head_options_are_checked():
    with pytest.raises(ValueError, match="per-sequence tasks"):
        build_model("lstm", _task(True), units=4, head="mean")
    with pytest.raises(ValueError, match="head"):
        build_model("lstm", _task(False), units=4, head="median")
    with pytest.raises(ValueError, match="batch-first"):
        build_model("lstm", _task(False), units=4, head="mean", batch_first=False)


def test_a_pooled_head_is_refused_by_export_and_streaming():
    from liquidtorch.export._step import split_model

    model = build_model("cfc", _task(False), units=4, head="mean")
    with pytest.raises(ValueError, match="head='mean'"):
        split_model(model)
    layer, head = split_model(build_model("cfc", _task(False), units=4))
    assert head is not None
