"""Metrics and losses for sequence tasks, with padding masked out of per-step targets.

Shapes follow :class:`~liquidtorch.data.SequenceData`. Whether targets are per step is read
from ``y`` alone: class indices (integer) ``(n,)`` per sequence / ``(n, time)`` per step,
real targets (float) ``(n, out)`` per sequence / ``(n, time, out)`` per step. ``lengths``
(n,) masks the steps ``t >= lengths[i]`` of per-step targets; it is ignored for per-sequence
targets (where it only describes the inputs).

Predictions: class logits ``y.shape + (classes,)`` (one logit, ``classes == 1``, is a binary
logit thresholded at 0); regression outputs of ``y``'s shape.

>>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
>>> accuracy(logits, torch.tensor([0, 1, 1]))
0.6666666865348816
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import Metric, TaskKind


def is_per_step(y: torch.Tensor) -> bool:
    """Whether targets ``y`` hold one value per step (see the module docstring)."""
    return y.dim() == (3 if y.is_floating_point() else 2)


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(n, steps) bool, True at the valid steps ``t < lengths[i]``."""
    lengths = torch.as_tensor(lengths)
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(-1)


def _valid(pred: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None):
    """Flatten per-step predictions and targets to their valid steps (time axis 1)."""
    if lengths is None or not is_per_step(y):
        return pred, y
    m = step_mask(lengths.to(y.device), y.shape[1])
    return pred[m], y[m]


def _labels(logits: torch.Tensor) -> torch.Tensor:
    if logits.shape[-1] == 1:
        return (logits.squeeze(-1) > 0).long()
    return logits.argmax(-1)


# --------------------------------------------------------------------------- metrics
@torch.no_grad()
def accuracy(logits: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
    """Fraction of correct classes: per sequence, or pooled over every valid step."""
    logits, y = _valid(logits, y, lengths)
    return (_labels(logits) == y).float().mean().item()


@torch.no_grad()
def mse(pred: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
    """Mean squared error over every (valid) element."""
    pred, y = _valid(pred, y, lengths)
    return F.mse_loss(pred.float(), y.float()).item()


@torch.no_grad()
def mae(pred: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
    """Mean absolute error over every (valid) element."""
    pred, y = _valid(pred, y, lengths)
    return F.l1_loss(pred.float(), y.float()).item()


@torch.no_grad()
def auc(scores: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
    """Area under the ROC curve of a binary task (labels 0/1), by ranks (Mann-Whitney U).

    ``scores`` has ``y``'s shape (any score, higher means class 1) or ``y.shape + (2,)``
    (two logits: ``l1 - l0`` ranks like the probability of class 1) or ``+ (1,)`` (one
    logit). Tied scores count one half. NaN when only one class is present.
    """
    if scores.dim() == y.dim() + 1:
        if scores.shape[-1] == 2:
            scores = scores[..., 1] - scores[..., 0]
        elif scores.shape[-1] == 1:
            scores = scores.squeeze(-1)
        else:
            raise ValueError(f"auc is binary: expected 1 or 2 logits, got {scores.shape[-1]}")
    if lengths is not None and y.dim() == 2:  # per-step labels (n, time)
        m = step_mask(lengths.to(y.device), y.shape[1])
        scores, y = scores[m], y[m]
    scores, y = scores.reshape(-1).double(), y.reshape(-1)
    if bool(((y != 0) & (y != 1)).any()):
        raise ValueError("auc needs binary labels 0/1")
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Average ranks (1-based) with ties: every member of a tie group gets the group's mean.
    sorted_scores, order = scores.sort()
    _, counts = torch.unique_consecutive(sorted_scores, return_counts=True)
    ends = counts.cumsum(0).double()
    group_rank = ends - (counts.double() - 1) / 2
    ranks = torch.empty_like(scores)
    ranks[order] = group_rank.repeat_interleave(counts)
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2
    return (u / (n_pos * n_neg)).item()


_METRICS = {Metric.ACCURACY: accuracy, Metric.MSE: mse, Metric.MAE: mae, Metric.AUC: auc}


# ---------------------------------------------------------------------------- losses
def masked_cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy averaged over sequences, or over the valid steps of per-step labels."""
    logits, y = _valid(logits, y, lengths)
    if logits.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), y.to(logits.dtype))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))


def masked_mse(
    pred: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error over every (valid) element."""
    pred, y = _valid(pred, y, lengths)
    return F.mse_loss(pred.float(), y.float())


# ------------------------------------------------------- a task's loss and metric
# Callable dataclasses rather than closures: they pickle, so distributed workers get them.
@dataclass(frozen=True)
class TaskLoss:
    """``loss(predictions, batch) -> scalar``: cross-entropy (classification) or MSE
    (regression, whatever the metric), padding of per-step targets ignored."""

    kind: TaskKind

    def __call__(self, pred: torch.Tensor, batch: dict) -> torch.Tensor:
        fn = masked_cross_entropy if self.kind is TaskKind.CLASSIFICATION else masked_mse
        return fn(pred, batch["y"], batch.get("lengths"))


@dataclass(frozen=True)
class TaskMetric:
    """``metric(predictions, batch) -> float`` for a :class:`~liquidtorch.data.Metric`."""

    metric: Metric

    @property
    def higher_is_better(self) -> bool:
        return self.metric.higher_is_better

    @property
    def name(self) -> str:
        return self.metric.value

    def __call__(self, pred: torch.Tensor, batch: dict) -> float:
        return _METRICS[self.metric](pred, batch["y"], batch.get("lengths"))


def task_loss(task) -> TaskLoss:
    """The training loss of a :class:`~liquidtorch.data.Task` (see :class:`TaskLoss`)."""
    return TaskLoss(TaskKind(task.kind))


def task_metric(task) -> TaskMetric:
    """The metric of a :class:`~liquidtorch.data.Task`; ``.higher_is_better`` tells its sense."""
    return TaskMetric(Metric(task.metric))
