"""Does the scale of elapsed time hold the dense CfC back on `event_mnist`?

    OMP_NUM_THREADS=1 python benchmarks/diagnosis/cfc_time_scale.py

`event_mnist`'s elapsed times count pixels since the previous change (1 to several
hundred); the CfC's time gate ``sigmoid(-f * t)`` saturates for such ``t``. Seed 0, the
zoo's untuned settings with the mean head, 20 epochs; the elapsed times divided by 1
(as the suite), 28 (image rows) and 784 (whole images). Results:
``benchmarks/diagnosis/results/cfc_time_scale.json`` (finished runs are kept).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from liquidtorch import flush_denormals
from liquidtorch.experiments import load_task
from liquidtorch.train import TrainConfig, Trainer, task_loss, task_metric, write_json_atomic
from liquidtorch.zoo import build_model, training_defaults

RESULTS = Path(__file__).resolve().parent / "results" / "cfc_time_scale.json"
RUNS = [
    ("cfc", 1.0),
    ("cfc", 28.0),
    ("cfc", 784.0),
    ("cfc_ncp", 28.0),
    ("lstm", 28.0),
    ("cfc_ncp", 1.0),
    ("lstm", 1.0),
]


def scaled(task, divisor: float):
    def scale(split):
        return dataclasses.replace(split, timespans=split.timespans / divisor)

    return dataclasses.replace(
        task, train=scale(task.train), val=scale(task.val), test=scale(task.test)
    )


def main() -> None:
    torch.set_num_threads(1)
    flush_denormals()
    task = load_task("event_mnist")
    done = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for model, divisor in RUNS:
        tag = f"{model} / {divisor:g}"
        if tag in done:
            continue
        data = scaled(task, divisor)
        net = build_model(model, data, seed=0, head="mean")
        settings = {k: v for k, v in training_defaults(model, data).items() if k != "units"}
        config = TrainConfig.for_task(data, **settings, seed=0, progress=False)
        started = time.perf_counter()
        trainer = Trainer(
            net, task_loss(data), data.train, data.val, config, metric_fn=task_metric(data)
        )
        result = trainer.fit()
        done[tag] = {
            "model": model,
            "divisor": divisor,
            "test": float(trainer.evaluate(data.test).metric),
            "best_val": float(result.best_metric),
            "seconds": time.perf_counter() - started,
        }
        print(tag, done[tag], flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(RESULTS, done)


if __name__ == "__main__":
    main()
