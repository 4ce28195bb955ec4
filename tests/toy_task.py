"""The small classification task the training, fault and distributed tests share."""

from __future__ import annotations

import torch

from liquidtorch.data import Metric, SequenceData, Task, TaskKind


def toy_split(n: int, seed: int, *, steps: int = 6, min_length: int = 2) -> SequenceData:
    """Irregular, padded sequences of 2 features; label: is the sum of feature 0 over the
    valid steps positive."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, 2, generator=g)
    lengths = torch.randint(min_length, steps + 1, (n,), generator=g)
    x = x * (torch.arange(steps) < lengths[:, None])[..., None]
    y = (x[..., 0].sum(1) > 0).long()
    return SequenceData(x, y, torch.rand(n, steps, generator=g) + 0.5, lengths)


def toy_task(*, held_out: int = 32, steps: int = 6, min_length: int = 2) -> Task:
    """64 training sequences, ``held_out`` each for validation and test (seeds 0, 1, 2)."""
    split = lambda n, seed: toy_split(n, seed, steps=steps, min_length=min_length)
    return Task(
        name="toy",
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.ACCURACY,
        per_step=False,
        input_size=2,
        output_size=2,
        train=split(64, 0),
        val=split(held_out, 1),
        test=split(held_out, 2),
    )
