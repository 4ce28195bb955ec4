"""S9 of the speed suite: seconds per training epoch of every zoo model on real tasks.

Used by ``speed.py`` (``--only S9``) and ``threads.py``; see ``speed.py`` for the options.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time

import torch

EPOCH_TASKS = ("watch", "halfcheetah")


def is_liquid(name: str) -> bool:
    return name.startswith(("ltc", "cfc"))


def _trainer(name: str, task, train, val):
    """The project's Trainer for zoo model ``name`` on ``task`` with the task's defaults and
    the model's ``training_defaults`` (batch size, learning rate, schedule, clipping)."""
    from liquidtorch.train import TrainConfig, Trainer, task_loss, task_metric
    from liquidtorch.zoo import build_model, training_defaults

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = {k: v for k, v in training_defaults(name, task).items() if k in fields}
    config = TrainConfig.for_task(task, **settings | {"epochs": 1, "progress": False})
    model = build_model(name, task, seed=0)
    return Trainer(model, task_loss(task), train, val, config, metric_fn=task_metric(task))


def _epoch_runner(name: str, task, quick: bool):
    """A function ``epoch(fraction=1.0)`` running one epoch (``Trainer.fit``, training steps
    and the validation pass) of zoo model ``name`` on ``task`` and returning its seconds as
    the Trainer reports them; with ``fraction`` < 1 on that share of the training and
    validation data, scaled up to a whole epoch. Used by ``threads.py``."""
    trainer = _trainer(name, task, task.train, task.val)
    bs = trainer.config.batch_size
    train, val = task.train, task.val
    if quick:
        train, val = train.subset(slice(0, 4 * bs)), val.subset(slice(0, 2 * bs))

    def epoch(fraction: float = 1.0) -> float:
        t, v = train, val
        if fraction < 1.0:
            t = train.subset(slice(0, max(bs, round(len(train) * fraction))))
            v = val.subset(slice(0, max(1, round(len(val) * fraction))))
        fresh = type(trainer)(
            trainer.model, trainer.loss_fn, t, v, trainer.config, metric_fn=trainer.metric_fn
        )
        seconds = fresh.fit().history[0]["seconds"]
        return seconds * (len(train) + len(val)) / (len(t) + len(v))

    return epoch, {"batch_size": bs, "batches": -(-len(train) // bs)}


def _takes(i: int, share: float) -> bool:
    """Whether a model running ``share`` of the batches steps on batch ``i`` (evenly spread)."""
    return int((i + 1) * share) > int(i * share)


def _epoch_times(trainers: dict, batches, data, val, share: dict) -> dict[str, float]:
    """One epoch of every model, interleaved batch by batch (the models' order rotates from
    batch to batch), then the validation passes: seconds per model scaled to a whole epoch.
    A training step is the Trainer's own (``Trainer._train_step``: forward, loss, backward,
    clipping, AdamW); validation is ``Trainer.evaluate``."""
    names = list(trainers)
    train_s = dict.fromkeys(names, 0.0)
    stepped = dict.fromkeys(names, 0)
    for i, idx in enumerate(batches):
        batch = data.batch(idx)
        for n in names[i % len(names) :] + names[: i % len(names)]:
            if _takes(i, share[n]):
                t0 = time.perf_counter()
                trainers[n]._train_step(batch, len(idx))
                train_s[n] += time.perf_counter() - t0
                stepped[n] += 1
    out = {}
    for n in names:
        part = val.subset(slice(0, max(1, round(len(val) * share[n]))))
        t0 = time.perf_counter()
        trainers[n].evaluate(part)
        val_s = time.perf_counter() - t0
        out[n] = train_s[n] * len(batches) / max(stepped[n], 1) + val_s * len(val) / len(part)
    return out


def bench_epochs(reps: int, quick: bool, budget: float, models=None, flush: bool = True):
    """S9: seconds per training epoch of every zoo model on ``watch`` and ``halfcheetah``,
    all models interleaved batch by batch within each epoch (so that they share the load of
    a busy machine alike), median of ``reps`` epochs. A model whose epoch would take more
    than ``budget`` seconds (projected from two steps after a warm-up step) steps on an
    evenly spread share of the batches (and validates on that share of the validation set)
    that should take about ``budget`` seconds, scaled up to the whole epoch (marked).

    ``flush``: denormals flushed while training, as ``Trainer.fit`` does by default
    (``TrainConfig.flush_denormals``); False measures a training loop of one's own that
    leaves them on."""
    from liquidtorch._threads import flushing_denormals

    with flushing_denormals(flush):
        return _bench_epochs(reps, quick, budget, models)


def _bench_epochs(reps: int, quick: bool, budget: float, models):
    from liquidtorch.data import get_task
    from liquidtorch.train import SequenceDataset
    from liquidtorch.zoo import MODELS

    rows = []
    for task_name in EPOCH_TASKS:
        task = get_task(task_name)
        names = [n for n in MODELS if models is None or n in models or n in ("lstm", "gru")]
        train, val = task.train, task.val
        trainers = {n: _trainer(n, task, train, val) for n in names}
        sizes = {t.config.batch_size for t in trainers.values()}
        if len(sizes) != 1:
            raise ValueError(f"S9 expects one batch size per task, got {sorted(sizes)}")
        bs = sizes.pop()
        if quick:
            train, val = train.subset(slice(0, 4 * bs)), val.subset(slice(0, 2 * bs))
        data = SequenceDataset(train)
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
        batches = [order[i : i + bs] for i in range(0, len(order), bs)]
        share = {}
        for n, trainer in trainers.items():
            steps = []
            for idx in batches[:3]:  # the first is the warm-up (numba compilation)
                t0 = time.perf_counter()
                trainer._train_step(data.batch(idx), len(idx))
                steps.append(time.perf_counter() - t0)
            projected = statistics.median(steps[1:]) * len(batches) * 1.1  # + validation
            share[n] = min(1.0, budget / projected)
        times: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(reps):
            for n, t in _epoch_times(trainers, batches, data, val, share).items():
                times[n].append(t)
            print(
                f"  S9 {task_name}: "
                + ", ".join(f"{n} {ts[-1]:.1f}" for n, ts in times.items())
                + f" s (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        seconds = {n: statistics.median(ts) for n, ts in times.items()}
        rows.append(
            {
                "id": "S9",
                "what": f"{task_name}: seconds per training epoch",
                "task": task_name,
                "seconds": seconds,
                "reps": {n: len(ts) for n, ts in times.items()},
                "share": share,
                "ratio_to_lstm": {n: t / seconds["lstm"] for n, t in seconds.items()},
                "quick": quick,
                "batch_size": bs,
                "batches": len(batches),
                "goal": "every liquid model <= 1.5x the task's LSTM",
            }
        )
    return rows


def render_epochs(rows) -> str:
    """S9 as one table: a row per model, per task its seconds per epoch and ratio to LSTM."""
    rows = [r for r in rows if r["id"] == "S9"]
    if not rows:
        return ""
    head = "| model | " + " | ".join(
        f"{r['task']} s/epoch ({r['batches']} batches of {r['batch_size']}) | {r['task']} / LSTM"
        for r in rows
    )
    lines = [head + " |", "|" + "---|" * (1 + 2 * len(rows))]
    for name in rows[0]["seconds"]:
        cells = []
        for r in rows:
            t, ratio = r["seconds"].get(name), r["ratio_to_lstm"].get(name)
            part = r.get("share", {}).get(name, 1.0)
            once = f" (from {part:.0%} of the batches)" if part < 1.0 else ""
            mark = " **over**" if is_liquid(name) and ratio and ratio > 1.5 else ""
            cells += [f"{t:.2f}{once}" if t else "", f"{ratio:.2f}x{mark}" if ratio else ""]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
