"""Why the LTC-NCP's error on HalfCheetah is 3-4x the LSTM's (the LTC paper: 0.92x).

    OMP_NUM_THREADS=1 python benchmarks/diagnosis/ltc_halfcheetah.py [RUN ...]

Runs (seed 0, the zoo's untuned settings unless said; each run's per-epoch training and
validation losses are kept, so under- and overfitting show):

- ``ltc_ncp_60``: the LTC-NCP (64 units, 17 motor neurons) for 60 epochs instead of 20:
  is it still learning when the suite stops?
- ``ltc_dense``: a fully connected LTC of 32 units (the LTC paper's model was not NCP-wired)
  for 10 epochs: the wiring or the neuron model?
- ``ltc_ncp_unfolds1``: one unfold instead of six (a coarser but less contractive step).
- ``lstm_60``: the LSTM for 60 epochs (the reference for the longer run).

Results: ``benchmarks/diagnosis/results/ltc_halfcheetah.json`` (finished runs are kept).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from liquidtorch import flush_denormals
from liquidtorch.experiments import load_task
from liquidtorch.train import TrainConfig, Trainer, task_loss, task_metric, write_json_atomic
from liquidtorch.zoo import build_model, effective_parameters, training_defaults

RESULTS = Path(__file__).resolve().parent / "results" / "ltc_halfcheetah.json"

RUNS = {
    "ltc_ncp_60": ("ltc_ncp", None, {}, 60),
    "ltc_dense": ("ltc", 32, {}, 10),
    "ltc_ncp_unfolds1": ("ltc_ncp", None, {"ode_unfolds": 1}, 20),
    "lstm_60": ("lstm", None, {}, 60),
}


def run(task, tag: str) -> dict:
    model, units, options, epochs = RUNS[tag]
    net = build_model(model, task, units=units, seed=0, **options)
    settings = {k: v for k, v in training_defaults(model, task).items() if k != "units"}
    settings["epochs"] = epochs
    config = TrainConfig.for_task(task, **settings, seed=0, progress=False)
    trainer = Trainer(
        net, task_loss(task), task.train, task.val, config, metric_fn=task_metric(task)
    )
    started = time.perf_counter()
    result = trainer.fit()
    test = trainer.evaluate(task.test)
    return {
        "model": model,
        "units": units,
        "options": options,
        "epochs": epochs,
        "parameters": effective_parameters(net),
        "test": float(test.metric),
        "best_val": float(result.best_metric),
        "best_epoch": result.best_epoch,
        "train_loss": [float(r["train_loss"]) for r in result.history],
        "val_metric": [float(r["val_metric"]) for r in result.history],
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    torch.set_num_threads(1)
    flush_denormals()
    tags = sys.argv[1:] or list(RUNS)
    task = load_task("halfcheetah")
    done = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for tag in tags:
        if tag in done:
            continue
        done[tag] = run(task, tag)
        row = done[tag]
        print(f"{tag}: test {row['test']:.4f} (best epoch {row['best_epoch']}, "
              f"{row['seconds']:.0f}s)", flush=True)  # fmt: skip
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(RESULTS, done)


if __name__ == "__main__":
    main()
