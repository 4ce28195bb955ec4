"""Why the LTC-NCP stays at chance on the event-based 8-bit XOR: targeted measurements.

    OMP_NUM_THREADS=1 python benchmarks/diagnosis/ltc_xor.py

In ``xor_irregular`` only the changes of a bit stream are fed, with the time since the
previous change: the number of ones is the sum of the elapsed times of the runs of ones, so
the parity must be read from the elapsed times. The LSTM and GRU baselines get the elapsed
time as an input feature; the CfC reads it in its time gate; the LTC only integrates its ODE
for that long. Measured here, seed 0, the zoo's untuned settings with the last-step head:

1. ``retention``: for an LTC-NCP at initialisation on the task's inputs, the fraction of the
   state kept per input step, ``prod_k (cm/h) / (cm/h + gleak + sum_e s_e)`` over the
   unfolds (mean and max over neurons and samples), and ``||dv_T / dv_0||``: how much of a
   run's length can survive to the end of the stream;
2. ``train``: test accuracy after 40 epochs of the LTC-NCP (a) as in the suite, (b) with the
   elapsed time appended as an input feature (as the LSTM gets it), (c) with its elapsed
   times divided by 10 (slower forgetting), and (d) on the regular 8-bit XOR (one bit per
   unit step, no elapsed times to read); the CfC-NCP and LSTM as references on (a); the
   fully connected LTC, the LTC with mixed memory and the CfC-NCP on (d); the LTC-NCP on
   regular streams of 2 to 6 bits, with slower time (0.1 and 0.02 per bit), one unfold,
   RK4, 64 and 128 neurons, and 150 epochs.

Results: ``benchmarks/diagnosis/results/ltc_xor.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from liquidtorch.data._task import SequenceData
from liquidtorch.experiments import load_task
from liquidtorch.train import TrainConfig, Trainer, task_loss, task_metric, write_json_atomic
from liquidtorch.zoo import build_model, training_defaults

RESULTS = Path(__file__).resolve().parent / "results"
EPOCHS = 40


def _with_time_feature(task):
    """The task with each step's elapsed time appended to its features."""

    def add(split: SequenceData) -> SequenceData:
        x = torch.cat([split.x, split.timespans.unsqueeze(-1)], -1)
        return dataclasses.replace(split, x=x)

    return dataclasses.replace(
        task,
        input_size=task.input_size + 1,
        train=add(task.train),
        val=add(task.val),
        test=add(task.test),
    )


def _scaled_time(task, factor: float):
    def scale(split: SequenceData) -> SequenceData:
        dt = torch.ones(split.x.shape[:2]) if split.timespans is None else split.timespans
        return dataclasses.replace(split, timespans=dt * factor)

    return dataclasses.replace(
        task, train=scale(task.train), val=scale(task.val), test=scale(task.test)
    )


def retention(task) -> dict:
    """Per-step state retention of an initialised LTC-NCP on the first 256 training streams
    (reference path: the solver's terms are read from the cell)."""
    torch.manual_seed(0)
    model = build_model("ltc_ncp", task, seed=0)
    cell = model.layer.cells[0]
    data = task.train.subset(slice(0, 256))
    x, dt = data.x, data.timespans
    unfolds = cell.solver.unfolds
    cm = cell.positive(cell.cm)
    v = cell.init_state(x.shape[0], x.device, x.dtype)
    kept = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            u = cell.map_inputs(x[:, t])
            terms = cell._terms_fn(u)
            h = (dt[:, t] / unfolds).unsqueeze(-1)
            factor = torch.ones_like(v)
            for _ in range(unfolds):
                num, den = terms(v)
                c = cm / h
                factor = factor * c / (c + den + cell.epsilon)
                v = (c * v + num) / (c + den + cell.epsilon)
            valid = t < data.lengths
            kept.append(factor[valid])
    kept_all = torch.cat(kept)
    # Sensitivity of the final state to the initial state through the whole stream.
    v0 = cell.init_state(8, x.device, x.dtype).requires_grad_(True)
    out, _ = model.layer(x[:8], hx=v0, timespans=dt[:8], lengths=data.lengths[:8])
    final = out[torch.arange(8), data.lengths[:8] - 1] if out.dim() == 3 else out
    grad = torch.autograd.grad(final.pow(2).sum(), v0)[0]
    return {
        "kept_per_step_mean": float(kept_all.mean()),
        "kept_per_step_max": float(kept_all.max()),
        "kept_per_step_median": float(kept_all.median()),
        "mean_elapsed_time": float(dt[dt > 0].mean()),
        "grad_final_wrt_initial_state": float(grad.norm() / 8),
    }


def train(task, model: str, tag: str, epochs: int = EPOCHS, **options) -> dict:
    net = build_model(model, task, seed=0, **options)
    settings = {k: v for k, v in training_defaults(model, task).items() if k != "units"}
    settings["epochs"] = epochs
    config = TrainConfig.for_task(task, **settings, seed=0, progress=False)
    started = time.perf_counter()
    trainer = Trainer(
        net, task_loss(task), task.train, task.val, config, metric_fn=task_metric(task)
    )
    result = trainer.fit()
    test = trainer.evaluate(task.test)
    row = {
        "tag": tag,
        "model": model,
        "epochs": epochs,
        "test": float(test.metric),
        "val": float(result.best_metric),
        "train_loss_last": float(result.history[-1]["train_loss"]),
        "seconds": time.perf_counter() - started,
    }
    print(row, flush=True)
    return row


def main() -> None:
    torch.set_num_threads(1)
    path = RESULTS / "ltc_xor.json"
    out = json.loads(path.read_text()) if path.exists() else {"epochs": EPOCHS}
    events = load_task("xor_irregular", {"length": 8})
    regular = load_task("xor", {"length": 8})
    if "retention" not in out:
        out["retention"] = retention(events)
        out["retention_time_over_10"] = retention(_scaled_time(events, 0.1))
        out["retention_regular"] = retention(_scaled_time(regular, 1.0))
    runs = [
        (events, "ltc_ncp", "events (as in the suite)"),
        (_with_time_feature(events), "ltc_ncp", "events + elapsed time as a feature"),
        (_scaled_time(events, 0.1), "ltc_ncp", "events, elapsed times / 10"),
        (regular, "ltc_ncp", "regular (one bit per step)"),
        (events, "cfc_ncp", "events (as in the suite)"),
        (events, "lstm", "events (as in the suite)"),
        (regular, "ltc", "regular (one bit per step)"),
        (regular, "ltc_mixed", "regular (one bit per step)"),
        (regular, "cfc_ncp", "regular (one bit per step)"),
    ]
    # How many bits can the LTC-NCP's parity span (regular streams)?
    runs += [
        (load_task("xor", {"length": n}), "ltc_ncp", f"regular, {n} bits") for n in (2, 3, 4, 5, 6)
    ]
    # Slower forgetting: the same 8-bit streams with each step's elapsed time shrunk.
    runs += [
        (_scaled_time(regular, f), "ltc_ncp", f"regular, elapsed time {f} per bit")
        for f in (0.1, 0.02)
    ]
    done = {(r["model"], r["tag"]) for r in out.get("runs", [])}
    for task, model, tag in runs:
        if (model, tag) in done:
            continue
        out.setdefault("runs", []).append(train(task, model, tag))
        RESULTS.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, out)
    # Other solvers and steps, and more neurons (6 and 8 bits).
    six = load_task("xor", {"length": 6})
    variants = [
        (six, "regular, 6 bits, 1 unfold", {"ode_unfolds": 1}),
        (six, "regular, 6 bits, RK4 (2 unfolds)", {"solver": "rk4", "ode_unfolds": 2}),
        (six, "regular, 6 bits, 64 units", {"units": 64}),
        (regular, "regular (one bit per step), 64 units", {"units": 64}),
        (regular, "regular (one bit per step), 128 units", {"units": 128}),
    ]
    for task, tag, options in variants:
        if ("ltc_ncp", tag) not in done:
            out["runs"].append(train(task, "ltc_ncp", tag, **options))
            write_json_atomic(path, out)
    long = (regular, "ltc_ncp", "regular (one bit per step), 150 epochs")
    if ("ltc_ncp", long[2]) not in done:
        out["runs"].append(train(*long, epochs=150))
        write_json_atomic(path, out)


if __name__ == "__main__":
    main()
