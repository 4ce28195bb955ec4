"""The generic trainer: learning, early stopping, run files, exact resume, interrupts, AMP,
metrics and masked losses on hand-made examples, config round trip."""

import csv
import json
import logging
import math
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset
from toy_task import toy_task  # noqa: I001

from liquidtorch.baselines import GRU
from liquidtorch.data import Metric, Task, TaskKind
from liquidtorch.train import (
    Schedule,
    SequenceDataset,
    TrainConfig,
    Trainer,
    accuracy,
    auc,
    collate_sequences,
    mae,
    masked_cross_entropy,
    masked_mse,
    mse,
    task_loss,
    task_metric,
)
from liquidtorch.zoo import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


RUN_FILES = {"config.json", "metrics.csv", "best.pt", "last.pt", "learning_curve.png"}


def make_task() -> Task:
    return toy_task(steps=8, min_length=3)


class DropoutGRU(nn.Module):
    """Not from the zoo (the trainer is generic), with dropout so that resuming must restore
    the RNG states to reproduce the losses."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.rnn = GRU(2, 8, return_sequences=False)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(8, 2)

    def forward(self, x, timespans=None, *, lengths=None):
        out, _ = self.rnn(x, timespans=timespans, lengths=lengths)
        return self.head(self.drop(out))


def _trainer(task, model=None, **config) -> Trainer:
    cfg = TrainConfig(**{"epochs": 4, "batch_size": 16, "lr": 1e-2, "progress": False} | config)
    return Trainer(
        model or DropoutGRU(),
        task_loss(task),
        task.train,
        task.val,
        cfg,
        metric_fn=task_metric(task),
    )


def _losses(history):
    return [row["train_loss"] for row in history]


# ------------------------------------------------------------------------- training
def test_tiny_run_learns():
    task = make_task()
    trainer = _trainer(task, build_model("gru", task, units=16), epochs=12)
    result = trainer.fit()
    losses = _losses(result.history)
    assert losses[-1] < 0.7 * losses[0]
    assert result.monitor == "val_metric" and trainer.higher_is_better
    assert result.best_metric == max(r["val_metric"] for r in result.history)
    assert result.history[result.best_epoch - 1]["val_metric"] == result.best_metric
    test = trainer.evaluate(task.test)
    assert test.metric > 0.6 and math.isfinite(test.loss)


def test_early_stopping_stops():
    task = make_task()
    trainer = Trainer(
        DropoutGRU(),
        task_loss(task),
        task.train,
        task.val,
        TrainConfig(epochs=20, patience=2, progress=False),
        metric_fn=lambda pred, batch: 0.5,  # never improves after the first epoch
    )
    result = trainer.fit()
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1


def test_run_dir_files(tmp_path):
    task = make_task()
    config = dict(epochs=3, run_dir=tmp_path, schedule="cosine")
    trainer = _trainer(task, **config)
    result = trainer.fit()
    assert {p.name for p in tmp_path.iterdir()} == RUN_FILES
    assert TrainConfig.from_json(tmp_path / "config.json") == trainer.config
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "val_metric", "seconds", "lr"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == pytest.approx([1e-2, 1e-2 * 0.75, 1e-2 * 0.25], rel=1e-12)  # cosine schedule
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    for key in ("model", "optimizer", "best_model", "epoch", "rng", "history", "config"):
        assert key in last
    assert last["epoch"] == 3 and set(last["rng"][0]) >= {"torch", "numpy", "python"}
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == result.best_epoch and best["metric"] == result.best_metric
    # restore_best: the model ends with the best epoch's weights
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, best["model"][k])


def test_resume_continues_exactly(tmp_path):
    task = make_task()
    uninterrupted = _trainer(task, epochs=4, restore_best=False)
    full = uninterrupted.fit()
    first = _trainer(task, epochs=2, run_dir=tmp_path).fit()
    assert first.epochs_run == 2
    # A fresh model (other weights) and a longer run: the checkpoint decides everything.
    other = DropoutGRU()
    nn.init.zeros_(other.head.weight)
    trainer = _trainer(task, other, epochs=4, run_dir=tmp_path, resume=True, restore_best=False)
    resumed = trainer.fit()
    assert _losses(resumed.history) == _losses(full.history)
    assert [r["val_metric"] for r in resumed.history] == [r["val_metric"] for r in full.history]
    assert resumed.best_epoch == full.best_epoch
    for k, v in uninterrupted.model.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[k], v)


@pytest.mark.parametrize("where", ["callback", "loss"])
def test_keyboard_interrupt_saves_last_and_resumes(tmp_path, where):
    task = make_task()
    full = _trainer(task, epochs=3).fit()
    trainer = _trainer(task, epochs=3, run_dir=tmp_path)
    calls = {"n": 0}
    stop_at = 4 + 2  # mid-way through the second epoch (4 steps an epoch)

    def interrupt(*_):
        if not torch.is_grad_enabled():
            return  # the loss also scores validation batches
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise KeyboardInterrupt

    if where == "callback":
        trainer.add_callback("on_step_end", interrupt)
    else:
        loss = trainer.loss_fn
        trainer.loss_fn = lambda pred, batch: (interrupt(), loss(pred, batch))[1]
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["epoch"] == 1  # in the second epoch
    assert last["step"] == (2 if where == "callback" else 1)
    assert len(last["history"]) == 1
    resumed = _trainer(task, epochs=3, run_dir=tmp_path, resume=True).fit()
    assert _losses(resumed.history) == _losses(full.history)
    assert {p.name for p in tmp_path.iterdir()} == RUN_FILES


def test_amp_runs_on_cpu():
    task = make_task()
    result = _trainer(task, epochs=2, amp=True).fit()
    assert all(math.isfinite(r["train_loss"]) for r in result.history)


def test_generic_dataset_and_forward_fn():
    """Any Dataset of dicts, any model, any forward: nothing about sequences is needed."""

    class Points(Dataset):
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.x = torch.randn(96, 3, generator=g)
            self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]])

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"inputs": self.x[i], "target": self.y[i]}

    trainer = Trainer(
        nn.Linear(3, 1),
        lambda pred, batch: nn.functional.mse_loss(pred, batch["target"]),
        Points(),
        Points(),
        TrainConfig(epochs=10, batch_size=16, lr=5e-2, progress=False),
        forward_fn=lambda model, batch: model(batch["inputs"]),
    )
    result = trainer.fit()
    assert result.monitor == "val_loss" and not trainer.higher_is_better
    assert result.history[-1]["val_loss"] < 0.1 * result.history[0]["val_loss"]


def test_worker_processes_change_nothing():
    """Loading in a worker process (a DataLoader) gives the same run as in-process batches:
    the loader draws nothing from the global RNG (which resuming restores)."""
    task = make_task()
    in_process = _trainer(task, epochs=2).fit()
    workers = _trainer(task, epochs=2, num_workers=1).fit()
    assert _losses(workers.history) == _losses(in_process.history)


def test_without_validation_monitors_train_loss():
    task = make_task()
    trainer = Trainer(
        DropoutGRU(), task_loss(task), task.train, config=TrainConfig(epochs=2, progress=False)
    )
    result = trainer.fit()
    assert result.monitor == "train_loss" and result.history[0]["val_loss"] is None


def test_progress_bar_with_rich(caplog):
    pytest.importorskip("rich")
    task = make_task()
    assert _trainer(task, epochs=1, progress=True, log_every=2).fit().epochs_run == 1


def test_without_rich_and_matplotlib(tmp_path, monkeypatch, caplog):
    for name in ("rich", "rich.progress", "matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails
    task = make_task()
    with caplog.at_level(logging.INFO, logger="liquidtorch.train"):
        _trainer(task, epochs=2, progress=True, run_dir=tmp_path).fit()
    assert "rich is not installed" in caplog.text and "epoch 2/2: train_loss" in caplog.text
    assert "learning_curve.png skipped" in caplog.text
    assert {p.name for p in tmp_path.iterdir()} == RUN_FILES - {"learning_curve.png"}


@pytest.mark.slow
def test_heavy_dependencies_are_lazy():
    code = (
        "import sys, liquidtorch.train, liquidtorch.zoo; "
        "print([m for m in ('rich', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_evaluate_matches_metric_on_all_data():
    task = make_task()
    model = DropoutGRU()
    trainer = _trainer(task, model, eval_batch_size=5)
    ev = trainer.evaluate(task.val)
    model.eval()
    with torch.no_grad():
        pred = model(task.val.x, task.val.timespans, lengths=task.val.lengths)
    assert ev.metric == pytest.approx(accuracy(pred, task.val.y))
    assert ev.loss == pytest.approx(masked_cross_entropy(pred, task.val.y).item(), rel=1e-5)


def test_sequence_dataset_and_collate():
    data = make_task().train
    ds = SequenceDataset(data)
    batch = collate_sequences([ds[i] for i in (3, 1)])
    assert batch.keys() == {"x", "y", "timespans", "lengths"}
    for k, v in ds.batch([3, 1]).items():
        assert torch.equal(batch[k], v)
    assert batch["x"].shape == (2, 8, 2) and batch["lengths"].shape == (2,)


def test_non_finite_loss_raises():
    task = make_task()
    trainer = Trainer(
        DropoutGRU(),
        lambda pred, batch: pred.sum() * float("nan"),
        task.train,
        config=TrainConfig(epochs=1, progress=False),
    )
    with pytest.raises(FloatingPointError, match="epoch 1, step 1"):
        trainer.fit()


# ---------------------------------------------------------------------- config
def test_config_json_round_trip(tmp_path):
    config = TrainConfig(
        epochs=3, lr=2e-3, patience=4, run_dir=tmp_path / "run", schedule=Schedule.COSINE
    )
    assert TrainConfig.from_json(config.to_json()) == config
    config.to_json(tmp_path / "c.json")
    assert TrainConfig.from_json(tmp_path / "c.json") == config
    d = json.loads(config.to_json())
    assert d["schedule"] == "cosine" and d["run_dir"] == str(tmp_path / "run")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"epochs": 2, "lr_rate": 1.0})
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="resume"):
        TrainConfig(resume=True)
    task = make_task()
    object.__setattr__(task, "defaults", {"epochs": 7, "units": 64, "lr": 5e-3})
    assert TrainConfig.for_task(task, lr=1e-3) == TrainConfig(epochs=7, lr=1e-3)


# --------------------------------------------------------------------- metrics
def test_accuracy_per_sequence_and_per_step():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == pytest.approx(0.75)
    assert accuracy(torch.tensor([[0.3], [-1.0]]), torch.tensor([1, 1])) == 0.5  # one logit
    # per step: (2 sequences, 3 steps, 2 classes); padding is wrong on purpose
    pred = torch.tensor(
        [[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]]
    )
    y = torch.tensor([[0, 1, 0], [1, 1, 1]])
    lengths = torch.tensor([2, 1])
    assert accuracy(pred, y, lengths) == 1.0  # 3 valid steps, all right
    assert accuracy(pred, y) == pytest.approx(3 / 6)
    # per-sequence targets ignore lengths (they describe the inputs)
    assert accuracy(logits, torch.tensor([0, 1, 1, 1]), torch.tensor([1, 1, 1, 1])) == 0.75


def test_regression_metrics_masked():
    pred = torch.zeros(2, 3, 1)
    y = torch.tensor([[[1.0], [-3.0], [100.0]], [[2.0], [50.0], [60.0]]])
    lengths = torch.tensor([2, 1])
    assert mse(pred, y, lengths) == pytest.approx((1 + 9 + 4) / 3)
    assert mae(pred, y, lengths) == pytest.approx((1 + 3 + 2) / 3)
    assert masked_mse(pred, y, lengths).item() == pytest.approx((1 + 9 + 4) / 3)
    per_seq = torch.tensor([[1.0, 2.0]])
    assert mse(per_seq, torch.zeros(1, 2), torch.tensor([1])) == pytest.approx(2.5)


def test_masked_cross_entropy_ignores_padding():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, generator=g)
    y = torch.tensor([[0, 2, 1, 1], [2, 0, 0, 0]])
    lengths = torch.tensor([3, 1])
    expected = nn.functional.cross_entropy(
        torch.cat([logits[0, :3], logits[1, :1]]), torch.cat([y[0, :3], y[1, :1]])
    )
    garbage = logits.clone()
    garbage[0, 3], garbage[1, 1:] = 1e6, -1e6
    assert masked_cross_entropy(garbage, y, lengths).item() == pytest.approx(expected.item())


def test_auc_by_hand():
    y = torch.tensor([0, 0, 1, 1])
    assert auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), y) == pytest.approx(0.75)
    assert auc(torch.tensor([0.1, 0.2, 0.3, 0.4]), y) == 1.0
    assert auc(torch.tensor([0.4, 0.3, 0.2, 0.1]), y) == 0.0
    # ties count one half: pairs (neg, pos): (.5,.5)=.5, (.5,.9)=1, (.2,.5)=1, (.2,.9)=1
    assert auc(torch.tensor([0.5, 0.2, 0.5, 0.9]), y) == pytest.approx(3.5 / 4)
    # two logits: l1 - l0 ranks like p(class 1)
    logits = torch.stack([torch.zeros(4), torch.tensor([0.1, 0.4, 0.35, 0.8])], -1)
    assert auc(logits, y) == pytest.approx(0.75)
    assert math.isnan(auc(torch.rand(3), torch.ones(3, dtype=torch.long)))
    # per step with padding: only the valid steps count
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.0, 1.0]])
    labels = torch.tensor([[0, 1, 1], [1, 0, 0]])
    assert auc(scores, labels, torch.tensor([2, 1])) == 1.0
    with pytest.raises(ValueError, match="binary"):
        auc(torch.rand(3), torch.tensor([0, 1, 2]))


def test_task_loss_and_metric():
    task = make_task()
    metric = task_metric(task)
    assert metric.higher_is_better and metric.name == "accuracy"
    reg = Task("r", TaskKind.REGRESSION, Metric.MAE, True, 2, 1, task.train, task.val, task.test)
    assert not task_metric(reg).higher_is_better
    pred = torch.zeros(2, 3, 1)
    batch = {"y": torch.ones(2, 3, 1), "lengths": torch.tensor([1, 3])}
    batch["y"][0, 1:] = 99.0  # padding
    assert task_loss(reg)(pred, batch).item() == pytest.approx(1.0)
    assert task_metric(reg)(pred, batch) == pytest.approx(1.0)


# ------------------------------------------------------------ exact bookkeeping values
def _lrs_used(trainer) -> dict[int, set[float]]:
    """The learning rate the optimiser held at every step, by (1-based) epoch."""
    used: dict[int, set[float]] = {}
    trainer.add_callback(
        "on_step_end",
        lambda t: used.setdefault(t.epoch + 1, set()).add(t.optimizer.param_groups[0]["lr"]),
    )
    return used


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_learning_rate_used_in_every_epoch(schedule):
    task = make_task()
    trainer = _trainer(task, epochs=4, schedule=schedule)
    used = _lrs_used(trainer)
    result = trainer.fit()
    lr = 1e-2
    if schedule == "cosine":
        expected = [lr * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
        assert expected == pytest.approx(
            [lr, lr * 0.8535533905932737, lr / 2, lr * 0.1464466094067262]
        )
    else:
        expected = [lr] * 4
    assert used == {e + 1: {expected[e]} for e in range(4)}  # exactly, every step
    assert [row["lr"] for row in result.history] == expected


def test_resume_with_more_epochs_follows_the_new_cosine_schedule(tmp_path):
    """A finished 3-epoch cosine run resumed with epochs=5: epochs 4 and 5 train at the
    5-epoch curve's rates (never at lr 0, never rising)."""
    task = make_task()
    first = _trainer(task, epochs=3, schedule="cosine", run_dir=tmp_path).fit()
    lr = 1e-2
    assert [r["lr"] for r in first.history] == [
        lr * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)
    ]
    trainer = _trainer(task, epochs=5, schedule="cosine", run_dir=tmp_path, resume=True)
    used = _lrs_used(trainer)
    result = trainer.fit()
    new = [lr * (1 + math.cos(math.pi * e / 5)) / 2 for e in (3, 4)]
    assert used == {4: {new[0]}, 5: {new[1]}}
    assert new == pytest.approx([lr * 0.3454915028125263, lr * 0.09549150281252629])
    assert [r["lr"] for r in result.history] == [r["lr"] for r in first.history] + new
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 5


class Scripted:
    """A metric that returns the given values, one per evaluation, and remembers the model's
    weights at each (so that the restored ones can be checked)."""

    def __init__(self, values, higher_is_better):
        self.values, self.higher_is_better, self.weights = list(values), higher_is_better, []
        self.model = None

    def __call__(self, pred, batch):
        self.weights.append({k: v.clone() for k, v in self.model.state_dict().items()})
        return self.values[len(self.weights) - 1]


@pytest.mark.parametrize(
    "values, higher, min_delta, best",
    [
        ([0.5, 0.3, 0.4, 0.3, 0.35], False, 0.0, 2),  # a tie (epoch 4) is no improvement
        ([0.5, 0.3, 0.4, 0.29, 0.35], False, 0.0, 4),
        ([0.5, 0.3, 0.4, 0.29, 0.35], False, 0.02, 2),  # 0.29 < 0.3 but not by min_delta
        ([0.5, 0.7, 0.6, 0.7, 0.65], True, 0.0, 2),
        ([0.5, 0.7, 0.6, 0.75, 0.65], True, 0.0, 4),
    ],
)
def test_best_epoch_choice_and_restored_weights(tmp_path, values, higher, min_delta, best):
    task = make_task()
    model = DropoutGRU()
    metric = Scripted(values, higher)
    metric.model = model
    trainer = Trainer(
        model,
        task_loss(task),
        task.train,
        task.val,
        TrainConfig(epochs=5, batch_size=16, min_delta=min_delta, progress=False, run_dir=tmp_path),
        metric_fn=metric,
    )
    assert trainer.higher_is_better is higher
    result = trainer.fit()
    assert result.best_epoch == best and result.best_metric == values[best - 1]
    chosen = metric.weights[best - 1]
    for k, v in model.state_dict().items():  # restore_best: the chosen epoch's weights
        assert torch.equal(v, chosen[k]), k
    saved = torch.load(tmp_path / "best.pt", weights_only=True)
    assert saved["epoch"] == best and saved["metric"] == values[best - 1]
    for k, v in saved["model"].items():
        assert torch.equal(v, chosen[k]), k
    assert not torch.equal(metric.weights[-1]["head.weight"], chosen["head.weight"]) or best == 5


def test_patience_counts_epochs_without_improvement():
    task = make_task()
    metric = Scripted([0.5, 0.4, 0.45, 0.39, 0.41, 0.42, 0.3, 0.2], higher_is_better=False)
    model = DropoutGRU()
    metric.model = model
    trainer = Trainer(
        model,
        task_loss(task),
        task.train,
        task.val,
        TrainConfig(epochs=8, batch_size=32, patience=2, progress=False),
        metric_fn=metric,
    )
    result = trainer.fit()
    # Improvements at epochs 1, 2, 4 (epoch 3 alone does not stop it); 5 and 6 do not
    # improve: stop after 6, before the better epochs 7 and 8.
    assert result.stopped_early and result.epochs_run == 6 and result.best_epoch == 4


def test_resolve_device_errors():
    from liquidtorch.train import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device: unknown device 'nosuch'"):
        resolve_device("nosuch")
    with pytest.raises(ValueError, match="device: unknown device 'nosuch'"):
        Trainer(nn.Linear(1, 1), lambda p, b: p.sum(), [], config=TrainConfig(device="nosuch"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="asked for CUDA"):
            resolve_device("cuda")
    else:
        with pytest.raises(ValueError, match="does not exist"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_config_field_types_are_checked_and_numpy_scalars_normalised():
    import numpy as np

    with pytest.raises(TypeError, match="lr must be a float, got 'x'"):
        TrainConfig(lr="x")
    with pytest.raises(TypeError, match="patience must be an int or None, got '2'"):
        TrainConfig(patience="2")
    with pytest.raises(TypeError, match="amp must be a bool, got 1"):
        TrainConfig(amp=1)
    config = TrainConfig(epochs=np.int64(3), lr=np.float64(0.5))
    assert type(config.epochs) is int and type(config.lr) is float
    assert json.loads(config.to_json())["epochs"] == 3
