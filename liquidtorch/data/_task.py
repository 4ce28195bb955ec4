"""What a task is: sequences with fixed train/validation/test splits, a metric and defaults.

Every loader returns a :class:`Task`; the trainer, the model zoo and the CLI know nothing
else about data. Loaders prepare data once and cache it (see :func:`cache_dir`); nothing is
downloaded at import time.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import torch


class TaskKind(str, Enum):
    CLASSIFICATION = "classification"  # y holds class indices (int64)
    REGRESSION = "regression"  # y holds real targets (float32)


class Metric(str, Enum):
    ACCURACY = "accuracy"  # higher is better
    MSE = "mse"  # lower is better
    MAE = "mae"  # lower is better
    AUC = "auc"  # higher is better (binary classification)

    @property
    def higher_is_better(self) -> bool:
        return self in (Metric.ACCURACY, Metric.AUC)


@dataclass(frozen=True)
class SequenceData:
    """A split: ``x`` (n, time, features) float32, padded with zeros after ``lengths``.

    ``y``: per-sequence targets (n,) int64 / (n, out) float32, or per-step targets
    (n, time) int64 / (n, time, out) float32. ``timespans`` (n, time) float32 elapsed time
    before each step (None: regularly sampled, 1.0). ``lengths`` (n,) int64 valid steps
    (None: all steps valid).
    """

    x: torch.Tensor
    y: torch.Tensor
    timespans: torch.Tensor | None = None
    lengths: torch.Tensor | None = None

    def __post_init__(self):
        n = self.x.shape[0]
        if self.x.dim() != 3:
            raise ValueError(f"x must be (n, time, features), got {tuple(self.x.shape)}")
        for name in ("y", "timespans", "lengths"):
            t = getattr(self, name)
            if t is not None and t.shape[0] != n:
                raise ValueError(f"{name} has {t.shape[0]} sequences, x has {n}")
        if self.timespans is not None and self.timespans.shape != self.x.shape[:2]:
            raise ValueError(
                f"timespans must be (n, time) = {tuple(self.x.shape[:2])}, "
                f"got {tuple(self.timespans.shape)}"
            )

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, index: torch.Tensor | slice) -> SequenceData:
        pick = lambda t: None if t is None else t[index]
        return SequenceData(self.x[index], self.y[index], pick(self.timespans), pick(self.lengths))


@dataclass(frozen=True)
class Task:
    """A dataset with fixed splits, its metric and sensible model defaults."""

    name: str
    kind: TaskKind
    metric: Metric
    per_step: bool  # targets at every step (True) or one per sequence (False)
    input_size: int
    output_size: int  # classes (classification) or target dimensions (regression)
    train: SequenceData
    val: SequenceData
    test: SequenceData
    description: str = ""
    source: str = ""  # where the data comes from (package, paper, licence)
    irregular: bool = False  # timespans vary (irregularly sampled)
    defaults: dict = field(default_factory=dict)  # e.g. {"units": 32, "epochs": 20, "lr": 5e-3}


def cache_dir() -> Path:
    """Where prepared data is cached: ``$LIQUIDTORCH_CACHE`` or ``~/.cache/liquidtorch``."""
    root = os.environ.get("LIQUIDTORCH_CACHE") or Path.home() / ".cache" / "liquidtorch"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached(key: str, build: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Load the tensors saved under ``key`` or build and save them (atomically).

    A cache file that cannot be read back (truncated, empty, garbage, or not a dict of
    tensors) is rebuilt and replaced, with a warning.
    """
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    path = cache_dir() / f"{key.split('/')[0]}-{digest}.pt"
    if path.exists():
        try:
            tensors = torch.load(path, weights_only=True)
        except Exception as e:  # any unreadable file: rebuild it
            reason = " ".join(str(e).split())[:200] or type(e).__name__
        else:
            if isinstance(tensors, dict) and all(
                isinstance(v, torch.Tensor) for v in tensors.values()
            ):
                return tensors
            reason = f"not a dict of tensors ({type(tensors).__name__})"
        warnings.warn(f"cache file {path} is unreadable ({reason}); rebuilding it", stacklevel=2)
    tensors = build()
    from ..train._io import save_atomic  # train imports data: resolved at call time

    save_atomic(tensors, path)
    return tensors


def split_indices(n: int, fractions=(0.7, 0.15, 0.15), seed: int = 0):
    """A fixed random partition of ``range(n)`` into train/val/test index tensors.

    ``fractions``: three numbers in [0, 1] that sum to 1 (a ``ValueError`` about the
    fractions otherwise; a split may still be empty when ``n`` is small).
    """
    check_fractions(fractions, allow_empty=True)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a = int(round(fractions[0] * n))
    b = a + int(round(fractions[1] * n))
    return perm[:a], perm[a:b], perm[b:]


def check_fractions(fractions, name: str = "split", *, allow_empty: bool = False) -> None:
    """``ValueError`` unless ``fractions`` is (train, val, test), each in (0, 1) (in [0, 1]
    with ``allow_empty``), summing to 1."""
    try:
        values = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: expected three fractions (train, val, test), got {fractions!r}"
        ) from None
    if len(values) != 3:
        raise ValueError(f"{name}: expected three fractions (train, val, test), got {fractions!r}")
    low = (lambda v: v >= 0) if allow_empty else (lambda v: v > 0)
    if not all(math.isfinite(v) and low(v) and v <= 1 for v in values) or (
        not allow_empty and max(values) >= 1
    ):
        bounds = ">= 0 and <= 1" if allow_empty else "> 0 and < 1 (every split needs data)"
        raise ValueError(
            f"{name}: each of the fractions (train, val, test) must be {bounds}, "
            f"got {tuple(fractions)}"
        )
    if abs(sum(values) - 1.0) > 1e-9:
        raise ValueError(
            f"{name}: the fractions must sum to 1, got {tuple(fractions)} = {sum(values):g}"
        )
