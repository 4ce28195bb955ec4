"""A trained run directory (written by ``liquidtorch train``) as a task and a model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data import SequenceData


@dataclass(frozen=True)
class Run:
    """A run rebuilt from its directory: ``name`` (e.g. ``ltc_ncp on watch``), the model's
    zoo name, the loaded task and the model with its best weights (eval mode)."""

    path: Path
    model_name: str
    task: Any  # liquidtorch.data.Task
    model: torch.nn.Module

    @property
    def name(self) -> str:
        return f"{self.model_name} on {self.task.name}"


def load_run(run_dir: str | Path, checkpoint: str = "best") -> Run:
    """Rebuild the task and the trained model (``checkpoint``: best or last) of ``run_dir``
    with :func:`liquidtorch.experiments.load_run`; ``ValueError`` where it is not a finished
    run directory."""
    from ..experiments import load_run as load_experiment

    loaded = load_experiment(run_dir, checkpoint)
    loaded.model.eval()
    return Run(Path(run_dir), loaded.spec.model, loaded.task, loaded.model)


def sample(data: SequenceData, n: int | None, seed: int = 0) -> SequenceData:
    """``n`` sequences of ``data`` drawn at random (seeded; splits are often sorted by
    class or recording, so the first ones would not do), in their original order."""
    if n is None or n >= len(data):
        return data
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.subset(pick.sort().values)
