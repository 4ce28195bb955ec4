"""The quality suite: tasks x models x seeds, each run trained and tested, the results
combined into a table (mean ± std of the test metric, parameters, seconds per epoch).

Each finished run is appended to ``OUT/runs.jsonl`` at once, keyed by everything that
changes its result (the resolved training settings and the data, see :func:`fingerprint`),
so an interrupted suite continues with ``resume=True`` and a change of defaults reruns.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .run import RunSpec, fit_run, load_task, train_config

BENCH_RUNS_FILE = "runs.jsonl"  # one line per finished run, read back on resume


@dataclass(frozen=True)
class BenchRun:
    """One cell-seed of the suite (picklable: worker processes get it)."""

    task: str
    model: str
    seed: int
    units: int | None
    epochs: int | None
    task_options: dict[str, Any] = field(default_factory=dict, hash=False)
    # What the defaults resolved to (see fingerprint): a change of the library's defaults
    # or of the data makes a resumed suite run the cell again instead of reusing it.
    fingerprint: str = ""
    model_options: dict[str, Any] = field(default_factory=dict, hash=False)
    train_options: dict[str, Any] = field(default_factory=dict, hash=False)

    def key(self) -> str:
        """Identifies the run in ``runs.jsonl`` (everything that changes its result)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def fingerprint(task, model: str, units: int | None, epochs: int | None, **train) -> str:
    """A digest of the resolved training settings, model size and the task's data shapes
    and description (which states the data's parameters)."""
    import hashlib

    config = train_config(task, model, epochs=epochs, progress=False, **train).to_dict()
    config.pop("seed")
    facts = {
        "config": config,
        "units": units if units is not None else task.defaults.get("units"),
        "data": [list(getattr(task, s).x.shape) for s in ("train", "val", "test")],
        "description": task.description,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def bench_one(run: BenchRun, threads: int | None = None, task=None) -> dict[str, Any]:
    """Train and test one run; a JSON-ready record (used in-process and by workers).

    ``task``: the loaded task of ``run`` (None: load it, as a worker process does)."""
    from ..zoo import effective_parameters, synapse_count

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if task is None:
        task = load_task(run.task, run.task_options)
    spec = RunSpec(run.task, run.model, run.units, run.seed, run.task_options, run.model_options)
    config = train_config(
        task, run.model, epochs=run.epochs, seed=run.seed, progress=False, **run.train_options
    )
    outcome = fit_run(spec, config, task=task)
    return {
        "key": run.key(),
        "task": run.task,
        "model": run.model,
        "seed": run.seed,
        "units": outcome.spec.units,
        "metric": task.metric.value,
        "higher_is_better": task.metric.higher_is_better,
        "value": float(outcome.test.metric),
        "parameters": effective_parameters(outcome.model),
        "synapses": synapse_count(outcome.model),
        "epochs": len(outcome.history),
        "seconds_per_epoch": outcome.seconds_per_epoch,
    }


def bench_row(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The table row of one task and model from its runs' records (one per seed)."""
    first = records[0]
    values = [r["value"] for r in records]
    return {
        "task": first["task"],
        "model": first["model"],
        "units": first["units"],
        "metric": first["metric"],
        "higher_is_better": first["higher_is_better"],
        "seeds": [r["seed"] for r in records],
        "values": values,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "parameters": first["parameters"],
        "synapses": first["synapses"],
        "epochs": statistics.fmean(r["epochs"] for r in records),
        "seconds_per_epoch": statistics.fmean(r["seconds_per_epoch"] for r in records),
    }


def finished_runs(path: Path) -> dict[str, dict]:
    """Records of ``runs.jsonl`` by key (a torn last line, from a killed suite, is skipped)."""
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
                done[record["key"]] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return done


def run_all(runs: list[BenchRun], jobs: int, on_done: Callable[[dict], None], tasks: dict) -> None:
    """Run ``runs`` (in this process with the loaded ``tasks`` by name, or in ``jobs``
    worker processes that load their own); ``on_done(record)`` after each."""
    if jobs == 1:
        for run in runs:
            on_done(bench_one(run, task=tasks[run.task]))
        return
    tasks.clear()  # the workers load their own; free this process's copies
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # fork after torch threads can deadlock
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(bench_one, run, threads) for run in runs]
        for future in as_completed(futures):
            on_done(future.result())


def bench_markdown(rows: list[dict], settings: dict) -> str:
    """The suite's table as markdown."""
    lines = [
        "# liquidtorch bench",
        "",
        f"Settings: `{json.dumps(settings, sort_keys=True)}`",
        "",
        "| task | model | metric | test mean ± std | seeds | parameters (effective) "
        "| synapses | s/epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['model']} | {r['metric']} | {r['mean']:.4f} ± {r['std']:.4f} "
            f"| {len(r['values'])} | {r['parameters']} | {r['synapses']} "
            f"| {r['seconds_per_epoch']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def run_bench(
    tasks: list[str],
    models: list[str],
    *,
    seeds: int = 3,
    epochs: int | None = None,
    units: int | None = None,
    out: Path = Path("bench"),
    task_options: dict[str, Any] | None = None,
    model_options: dict[str, dict[str, Any]] | None = None,
    train_options: dict[str, dict[str, Any]] | None = None,
    jobs: int = 1,
    resume: bool = False,
    on_done: Callable[[dict], None] | None = None,
    on_resume: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the suite and write ``out/bench.json`` and ``out/bench.md``; returns the report.

    ``model_options`` / ``train_options``: per model name, settings on top of the defaults
    (e.g. a tuned ``best.json``'s). ``on_done(record)`` after each run; ``on_resume(done,
    total)`` once when resuming.
    """
    from ..train import write_json_atomic, write_text_atomic

    if seeds < 1 or jobs < 1:
        raise ValueError("seeds and jobs must be >= 1")
    options = dict(task_options or {})
    model_options = model_options or {}
    train_options = train_options or {}
    loaded = {t: load_task(t, options) for t in tasks}  # bad options fail now, not in a worker
    runs = {}
    for t in tasks:
        for m in models:
            extra = dict(train_options.get(m, {}))
            print_ = fingerprint(loaded[t], m, units, epochs, **extra)
            for seed in range(seeds):
                runs[t, m, seed] = BenchRun(
                    t, m, seed, units, epochs, options, print_, model_options.get(m, {}), extra
                )
    out.mkdir(parents=True, exist_ok=True)
    log = out / BENCH_RUNS_FILE
    done = finished_runs(log) if resume else {}
    if not resume:
        write_text_atomic(log, "")
    todo = [run for run in runs.values() if run.key() not in done]
    if resume and on_resume is not None:
        on_resume(len(runs) - len(todo), len(runs))
    started = time.perf_counter()

    def record_done(record: dict) -> None:
        done[record["key"]] = record
        with log.open("a") as f:  # an append per run: a kill loses at most the torn line
            f.write(json.dumps(record) + "\n")
        if on_done is not None:
            on_done(record)

    run_all(todo, jobs, record_done, loaded)
    rows = [
        bench_row([done[runs[t, m, s].key()] for s in range(seeds)]) for t in tasks for m in models
    ]
    settings = {"tasks": tasks, "models": models, "seeds": seeds, "epochs": epochs}
    settings |= {"units": units, "task_options": options, "jobs": jobs}
    if model_options or train_options:
        settings |= {"model_options": model_options, "train_options": train_options}
    report = {"settings": settings, "seconds": time.perf_counter() - started, "results": rows}
    write_json_atomic(out / "bench.json", report)
    write_text_atomic(out / "bench.md", bench_markdown(rows, settings))
    return report
