"""The training configuration: one typed, serialisable dataclass (minGPT's ``TrainerConfig``)."""

from __future__ import annotations

import dataclasses
import json
import numbers
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np


class Schedule(str, Enum):
    """How the learning rate changes over the epochs."""

    CONSTANT = "constant"
    COSINE = "cosine"  # cosine annealing from ``lr`` to 0 over ``epochs``, stepped per epoch


@dataclass
class TrainConfig:
    """Everything :class:`~liquidtorch.train.Trainer` needs to know besides model, loss, data.

    Args:
        epochs: passes over the training data.
        batch_size: sequences per optimiser step (per process in distributed training).
        eval_batch_size: sequences per evaluation batch (default: ``batch_size``).
        lr, weight_decay: AdamW's learning rate and decoupled weight decay (0: plain Adam).
        schedule: :class:`Schedule` of the learning rate.
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        patience: stop after this many epochs without improvement of the validation metric
            by more than ``min_delta`` (None: never stop early).
        restore_best: load the best epoch's weights into the model when ``fit`` ends.
        seed: seeds Python, NumPy and torch at the start of a fresh run (``seed_everything``)
            and the per-epoch shuffling.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... or ``"auto"`` (CUDA when available).
        amp: mixed precision with ``torch.autocast``: bfloat16 on CPU, float16 with a
            ``GradScaler`` on CUDA.
        num_workers: ``DataLoader`` worker processes (0: load in the main process).
        run_dir: where ``config.json``, ``metrics.csv``, ``best.pt``, ``last.pt`` and
            ``learning_curve.png`` go (None: nothing is written; the best weights are kept
            in memory).
        resume: continue from ``run_dir/last.pt`` when it exists.
        progress: a ``rich`` progress bar (plain log lines when False or rich is missing).
        log_every: also log the running training loss every this many steps (0: per epoch).
        flush_denormals: train with denormal floats flushed to zero (restored afterwards):
            trained liquid models drift into denormals, which the CPU computes on a slow
            path (a dense CfC epoch on ``watch`` 6.7 s against 1.0 s flushed); the values
            lost are below 1.2e-38.

    >>> TrainConfig(epochs=5, lr=1e-2).to_dict()["lr"]
    0.01
    """

    epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int | None = None
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Schedule = Schedule.CONSTANT
    grad_clip: float | None = 1.0
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = True
    seed: int = 0
    device: str = "cpu"
    amp: bool = False
    num_workers: int = 0
    run_dir: Path | None = None
    resume: bool = False
    progress: bool = True
    log_every: int = 0
    flush_denormals: bool = True

    def __post_init__(self):
        self._check_types()
        if isinstance(self.schedule, str) and not isinstance(self.schedule, Schedule):
            try:
                self.schedule = Schedule(self.schedule)
            except ValueError:
                allowed = [s.value for s in Schedule]
                raise ValueError(f"schedule={self.schedule!r}; use one of {allowed}") from None
        if self.run_dir is not None and not isinstance(self.run_dir, Path):
            self.run_dir = Path(self.run_dir)
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be None or >= 1, got {self.eval_batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be None or > 0, got {self.grad_clip}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be None or >= 1, got {self.patience}")
        if self.num_workers < 0 or self.log_every < 0:
            raise ValueError("num_workers and log_every must be >= 0")
        if self.resume and self.run_dir is None:
            raise ValueError("resume=True needs a run_dir to resume from")

    def _check_types(self) -> None:
        """A one-line ``TypeError`` naming the field for a value of the wrong type (e.g. a
        string from a hand-edited config.json), before any comparison trips over it."""
        kinds = {
            "int": (numbers.Integral,),
            "float": (numbers.Real,),
            "bool": (bool, np.bool_),
            "str": (str,),
        }
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            annotation = str(f.type)
            optional = "None" in annotation
            if value is None and optional:
                continue
            base = annotation.split("|")[0].strip()
            allowed = kinds.get(base)
            if allowed is None:
                continue
            wrong_bool = isinstance(value, bool) and base != "bool"
            if wrong_bool or not isinstance(value, allowed):
                raise TypeError(
                    f"{f.name} must be {'an' if base == 'int' else 'a'} {base}"
                    f"{' or None' if optional else ''}, got {value!r}"
                )
            # NumPy scalars become Python ones (JSON-ready, as to_json needs).
            setattr(
                self, f.name, {"int": int, "float": float, "bool": bool, "str": str}[base](value)
            )

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (enums as their values, paths as strings)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo must not pass)."""
        if not isinstance(d, dict):
            raise ValueError(f"a TrainConfig is a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known: {sorted(names)}")
        return cls(**d)

    def to_json(self, path: str | Path | None = None) -> str:
        """The config as JSON; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            from ._io import write_text_atomic

            write_text_atomic(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> TrainConfig:
        """Read a config from a JSON string or from a ``.json`` file (a one-line
        ``ValueError`` naming the file when it is not a valid config)."""
        from ._io import one_line, read_json

        text = str(text_or_path)
        if text.lstrip().startswith("{"):
            where, d = "config", json.loads(text)
        else:
            where = f"config file {text!r}"
            d = read_json(text_or_path, "config file")
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where} is not a valid TrainConfig: {one_line(e)}") from None

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def for_task(cls, task, **overrides) -> TrainConfig:
        """Defaults from ``task.defaults`` (e.g. ``epochs``, ``lr``, ``batch_size``) that are
        config fields, then ``overrides``."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in getattr(task, "defaults", {}).items() if k in names}
        values.update(overrides)
        return cls(**values)
