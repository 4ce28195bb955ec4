"""The quick start's main job: NCP-wired liquid models against LSTMs on real sensor data.

The task is smartwatch exercise recognition (``watch``: seglearn's recordings, bundled with
a core dependency, tested on subjects never seen in training). Every model trains through
the generic :class:`~liquidtorch.train.Trainer` with the settings the tuned quality suite
found for it on this task, on top of its registry defaults
(:func:`~liquidtorch.experiments.run.train_config`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .run import RunSpec, fit_run, load_task, train_config

DEMO_TASK = "watch"


@dataclass(frozen=True)
class DemoModel:
    """One row of the demo: a zoo model with its size, options and training settings."""

    label: str
    model: str
    units: int
    options: dict[str, Any]
    train: dict[str, Any]


# The settings the tuned quality suite found on `watch` (benchmarks/tuning/watch/*/best.json:
# 10 Optuna trials per model on the validation split, values rounded to 3 digits), and an
# LSTM with about as many parameters as the CfC-NCP, trained with the LSTM's tuned settings.
# Every model reads its sequence through the mean head (the per-step predictions averaged):
# with the last step's prediction the NCP-wired models lose 20-30 points on this task
# (docs/diagnosis/cfc_classification.md).
DEMO_MODELS: tuple[DemoModel, ...] = (
    DemoModel(
        "cfc_ncp",
        "cfc_ncp",
        64,
        {"head": "mean", "mode": "default", "motor_neurons": 5, "sparsity_level": 0.286},
        {"lr": 0.0441, "weight_decay": 0.001},
    ),
    DemoModel(
        "ltc_ncp",
        "ltc_ncp",
        48,
        {"head": "mean", "motor_neurons": 6, "sparsity_level": 0.109, "ode_unfolds": 4},
        {"lr": 0.0298, "weight_decay": 0.0},
    ),
    DemoModel("lstm", "lstm", 64, {"head": "mean"}, {"lr": 0.0103, "weight_decay": 0.001}),
    DemoModel(
        "lstm (25 units)", "lstm", 25, {"head": "mean"}, {"lr": 0.0103, "weight_decay": 0.001}
    ),
)
DEMO_EPOCHS = 30  # the watch task's default (cosine schedule over these epochs)
DEMO_QUICK_EPOCHS = 1


@dataclass
class DemoRow:
    """One model's result."""

    name: str
    metric: float
    parameters: int
    synapses: int
    seconds_per_epoch: float
    seconds: float


def run_demo(
    *,
    epochs: int | None = None,
    quick: bool = False,
    seed: int = 0,
    on_start: Callable[[Any], None] | None = None,
    on_row: Callable[[DemoRow], None] | None = None,
) -> tuple[Any, list[DemoRow]]:
    """Train the demo's models; ``(task, rows)``. ``on_start(task)`` once the data is
    loaded, ``on_row(row)`` after each model."""
    from ..zoo import effective_parameters, synapse_count

    epochs = epochs or (DEMO_QUICK_EPOCHS if quick else DEMO_EPOCHS)
    task = load_task(DEMO_TASK)
    if on_start is not None:
        on_start(task)
    rows = []
    for entry in DEMO_MODELS:
        spec = RunSpec(DEMO_TASK, entry.model, entry.units, seed, model_options=dict(entry.options))
        config = train_config(
            task, entry.model, epochs=epochs, seed=seed, progress=False, **entry.train
        )
        t0 = time.perf_counter()
        outcome = fit_run(spec, config, task=task)
        row = DemoRow(
            entry.label,
            float(outcome.test.metric),
            effective_parameters(outcome.model),
            synapse_count(outcome.model),
            outcome.seconds_per_epoch,
            time.perf_counter() - t0,
        )
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return task, rows
