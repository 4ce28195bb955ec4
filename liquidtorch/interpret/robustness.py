"""How a trained model's test metric degrades under input perturbations it never saw.

Perturbations (inputs are standardised, so levels are in units of a channel's std):
Gaussian noise of std ``level``; a fraction ``level`` of the samples dropped at random (the
kept samples carry the elapsed time since the previous kept one: irregular sampling);
every channel scaled by ``level``; every channel offset by ``level``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import torch
from torch import nn

from ..data import SequenceData
from .runs import sample


class Perturbation(str, Enum):
    NOISE = "noise"  # x + level * N(0, 1)
    DROP = "drop"  # drop a fraction `level` of the samples (irregular sampling)
    SCALE = "scale"  # x * level
    OFFSET = "offset"  # x + level

    @property
    def neutral(self) -> float:
        """The level that leaves the data unchanged."""
        return 1.0 if self is Perturbation.SCALE else 0.0

    @property
    def label(self) -> str:
        return {
            Perturbation.NOISE: "Gaussian noise std (input stds)",
            Perturbation.DROP: "fraction of samples dropped",
            Perturbation.SCALE: "every channel scaled by",
            Perturbation.OFFSET: "every channel offset by (input stds)",
        }[self]


DEFAULT_LEVELS: dict[Perturbation, tuple[float, ...]] = {
    Perturbation.NOISE: (0.0, 0.1, 0.25, 0.5, 1.0),
    Perturbation.DROP: (0.0, 0.2, 0.4, 0.6, 0.8),
    Perturbation.SCALE: (0.25, 0.5, 1.0, 1.5, 2.0),
    Perturbation.OFFSET: (0.0, 0.25, 0.5, 1.0, 2.0),
}


def _drop(data: SequenceData, fraction: float, gen: torch.Generator) -> SequenceData:
    """Keep each sample with probability ``1 - fraction`` (the first always), compacted to
    the front; timespans sum the elapsed time of the dropped samples into the next kept one."""
    n, steps = data.x.shape[:2]
    dts = torch.ones(n, steps) if data.timespans is None else data.timespans
    lengths = torch.full((n,), steps) if data.lengths is None else data.lengths
    keep = torch.rand(n, steps, generator=gen) >= fraction
    keep[:, 0] = True
    keep &= torch.arange(steps) < lengths.reshape(-1, 1)
    x, ts = torch.zeros_like(data.x), torch.ones(n, steps)
    per_step_y = data.y.dim() == (3 if data.y.is_floating_point() else 2)
    y = torch.zeros_like(data.y) if per_step_y else data.y
    new_lengths = keep.sum(1)
    for i in range(n):
        idx = torch.nonzero(keep[i]).squeeze(1)
        elapsed = torch.cumsum(dts[i], 0)[idx]
        k = len(idx)
        x[i, :k] = data.x[i, idx]
        ts[i, :k] = torch.diff(elapsed, prepend=elapsed[:1] - dts[i, 0])
        if per_step_y:
            y[i, :k] = data.y[i, idx]
    return SequenceData(x, y, ts, new_lengths)


def perturb(data: SequenceData, kind: Perturbation, level: float, seed: int = 0) -> SequenceData:
    """A perturbed copy of ``data`` (see the module docstring)."""
    kind = Perturbation(kind)
    gen = torch.Generator().manual_seed(seed)
    if kind is Perturbation.NOISE:
        x = data.x + level * torch.randn(data.x.shape, generator=gen)
    elif kind is Perturbation.DROP:
        if not 0.0 <= level < 1.0:
            raise ValueError(f"drop level must be in [0, 1), got {level}")
        return _drop(data, level, gen)
    elif kind is Perturbation.SCALE:
        x = data.x * level
    else:
        x = data.x + level
    if data.lengths is not None:  # padding stays zero
        x = torch.where((torch.arange(x.shape[1]) < data.lengths.reshape(-1, 1))[..., None], x, 0)
    return SequenceData(x, data.y, data.timespans, data.lengths)


@torch.no_grad()
def evaluate(model: nn.Module, task, data: SequenceData, *, batch_size: int = 256) -> float:
    """The task's metric of ``model`` on ``data``."""
    from ..train import task_metric

    preds = []
    for s in range(0, len(data), batch_size):
        part = data.subset(slice(s, s + batch_size))
        preds.append(model(part.x, part.timespans, lengths=part.lengths))
    batch = {"y": data.y, "lengths": data.lengths} if data.lengths is not None else {"y": data.y}
    return float(task_metric(task)(torch.cat(preds), batch))


@dataclass
class Curve:
    """The metric at each level of one perturbation: ``values[i]`` holds one number per seed
    (and per run, when runs are pooled)."""

    perturbation: Perturbation
    levels: list[float]
    values: list[list[float]] = field(default_factory=list)

    @property
    def mean(self) -> list[float]:
        return [statistics.fmean(v) for v in self.values]

    @property
    def std(self) -> list[float]:
        return [statistics.pstdev(v) for v in self.values]

    def to_dict(self) -> dict:
        return {
            "perturbation": self.perturbation.value,
            "levels": self.levels,
            "values": self.values,
            "mean": self.mean,
            "std": self.std,
        }


def robustness_curves(
    model: nn.Module,
    task,
    *,
    perturbations: tuple[Perturbation, ...] = tuple(Perturbation),
    levels: dict[Perturbation, tuple[float, ...]] | None = None,
    seeds: int = 2,
    data: SequenceData | None = None,
    max_sequences: int | None = None,
) -> list[Curve]:
    """The task metric of ``model`` on ``task.test`` (or ``data``) under each perturbation.

    Random perturbations (noise, drop) are drawn with seeds ``0..seeds-1``; the
    deterministic ones are evaluated once per level. ``max_sequences`` evaluates a seeded
    random subset of that size (faster).
    """
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    data = task.test if data is None else data
    if max_sequences is not None:
        data = sample(data, max_sequences)
    levels = {**DEFAULT_LEVELS, **(levels or {})}
    model.eval()
    curves = []
    for kind in map(Perturbation, perturbations):
        random = kind in (Perturbation.NOISE, Perturbation.DROP)
        curve = Curve(kind, [float(v) for v in levels[kind]])
        for level in curve.levels:
            runs = range(seeds) if random and level != kind.neutral else range(1)
            curve.values.append(
                [evaluate(model, task, perturb(data, kind, level, seed)) for seed in runs]
            )
        curves.append(curve)
    return curves


def pool(curves: list[list[Curve]]) -> list[Curve]:
    """Several runs' curves (same perturbations and levels) pooled into one per perturbation."""
    pooled = []
    for parts in zip(*curves, strict=True):
        first = parts[0]
        if any(c.levels != first.levels or c.perturbation != first.perturbation for c in parts):
            raise ValueError("curves: runs must share perturbations and levels to be pooled")
        values = [
            list(np.concatenate([c.values[i] for c in parts])) for i in range(len(first.levels))
        ]
        pooled.append(
            Curve(first.perturbation, first.levels, [[float(v) for v in vs] for vs in values])
        )
    return pooled
