"""Commands for single runs: ``tasks``, ``models``, ``train``, ``evaluate``.

They parse options, call :mod:`liquidtorch.experiments` and print; the library raises
``ValueError`` for bad input and :func:`~liquidtorch.cli._common.cli_errors` turns it into
one line on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ._common import cli_errors, fmt, make_console, parse_options, user_file_options

TimeColumn = Annotated[
    str | None, typer.Option(help="For a data file: the time column (else regular steps).")
]
Target = Annotated[
    list[str] | None,
    typer.Option("--target", help="For a data file: the target column (repeatable)."),
]
IdColumn = Annotated[
    str | None, typer.Option(help="For a data file: the sequence id column (else windows).")
]
Kind = Annotated[
    str | None,
    typer.Option("--kind", help="For a data file: regression (default) or classification."),
]
Threads = Annotated[
    int | None,
    typer.Option(
        min=1, help="CPU threads for torch and numba (default: chosen for the machine's load)."
    ),
]


def set_threads(threads: int | None) -> None:
    """Before any work starts: the thread policy (``liquidtorch._threads``) and denormal
    floats flushed to zero (trained liquid models drift into denormals, which take the
    CPU's slow path: a training step of an NCP-wired LTC or a dense CfC 4-6x slower)."""
    from liquidtorch._threads import configure_threads, flush_denormals

    configure_threads(threads)
    flush_denormals()


def task_options_for(
    task: str, items: list[str] | None, file_options: dict[str, Any]
) -> dict[str, Any]:
    """``-o KEY=VALUE`` options plus, for a data file, the file's column options."""
    from liquidtorch.experiments import is_file_task

    options = parse_options(items, "task")
    if file_options and not is_file_task(task):
        raise ValueError(
            f"--time-column/--target/--id-column/--kind are for data files, not task {task!r}"
        )
    if is_file_task(task) and "target_column" not in (options | file_options):
        raise ValueError(f"data file {task!r}: pass --target COLUMN")
    return options | file_options


@cli_errors
def tasks_command() -> None:
    """List the tasks (data sets) with a summary and where their data comes from."""
    from liquidtorch.data import list_tasks, task_origin

    table = Table(title="liquidtorch tasks")
    table.add_column("task", style="bold", no_wrap=True)
    table.add_column("data", no_wrap=True)
    table.add_column("summary")
    for name, summary in list_tasks().items():
        table.add_row(name, escape(task_origin(name)), escape(summary))
    make_console().print(table)


@cli_errors
def models_command() -> None:
    """List the model registry: names for `train --model`, family and description."""
    from liquidtorch.zoo import list_models, model_info

    table = Table(title="liquidtorch models")
    table.add_column("model", style="bold", no_wrap=True)
    table.add_column("family", no_wrap=True)
    table.add_column("description")
    for name in list_models():
        info = model_info(name)
        table.add_row(name, info.family.value, escape(info.description))
    make_console().print(table)


@cli_errors
def train_command(
    task: Annotated[
        str, typer.Argument(help="Task name (see `liquidtorch tasks`) or a CSV/Parquet file.")
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (see `liquidtorch models`).")
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="Settings from `liquidtorch tune` (best.json); options win."),
    ] = None,
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
    time_column: TimeColumn = None,
    target: Target = None,
    id_column: IdColumn = None,
    kind: Kind = None,
    threads: Threads = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar; print the result only.")
    ] = False,
) -> None:
    """Train MODEL on TASK (a task name or your own CSV/Parquet file) and print the test
    metric.

    The run directory receives config.json, cli.json, metrics.csv, best.pt and last.pt;
    `liquidtorch evaluate RUN_DIR` evaluates it later and `--resume` continues it.
    """
    from liquidtorch.experiments import (
        RunSpec,
        check_task,
        fit_run,
        load_task,
        resume_settings,
        train_config,
    )

    set_threads(threads)
    tuned: dict[str, Any] = {}
    if config_file is not None:
        from liquidtorch.tune import load_best

        tuned = load_best(config_file)
        model = model or tuned.get("model")
    if model is None:
        raise ValueError("pass --model NAME (or --config best.json from `liquidtorch tune`)")
    from liquidtorch.zoo import model_info

    model_info(model)  # a clear error for an unknown name before any data loads
    check_task(task)
    run_dir = run_dir or Path("runs") / f"{Path(task).stem}-{model}-{seed}"
    file_options = user_file_options(time_column, target, id_column, kind)
    if resume:
        spec, config = resume_settings(run_dir, task, model, epochs, progress=not quiet)
        loaded = load_task(spec.task, spec.task_options)
    else:
        options = dict(tuned.get("model_options", {})) | parse_options(model_option, "model")
        spec = RunSpec(
            task,
            model,
            units if units is not None else tuned.get("units"),
            seed,
            dict(tuned.get("task_options", {})) | task_options_for(task, task_option, file_options),
            options,
        )
        loaded = load_task(spec.task, spec.task_options)
        overrides = dict(tuned.get("train", {}))
        given = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "patience": patience}
        overrides |= {k: v for k, v in given.items() if v is not None}
        config = train_config(
            loaded,
            spec.model,
            seed=seed,
            amp=amp,
            device=device,
            run_dir=run_dir,
            progress=not quiet,
            **overrides,
        )
    console = make_console()
    if not quiet:
        what = "resuming" if resume else "training"
        console.print(f"{what} {spec.model} on {spec.task} -> {run_dir}")
    outcome = fit_run(spec, config, task=loaded)
    console.print(
        f"test {loaded.metric.value}: {fmt(outcome.test.metric)}  "
        f"test loss: {fmt(outcome.test.loss)}  ({len(outcome.history)} epochs, run dir {run_dir})"
    )


@cli_errors
def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `train`.")],
    split: Annotated[str, typer.Option(help="Which split to evaluate: test or val.")] = "test",
    checkpoint: Annotated[
        str, typer.Option(help="Which checkpoint: best (best.pt) or last (last.pt).")
    ] = "best",
) -> None:
    """Print the loss and metric of a trained run (rebuilt from its run directory)."""
    from liquidtorch.experiments import evaluate_run

    if split not in ("test", "val"):
        raise ValueError(f"--split must be test or val, got {split!r}")
    if checkpoint not in ("best", "last"):
        raise ValueError(f"--checkpoint must be best or last, got {checkpoint!r}")
    run, result = evaluate_run(run_dir, split, checkpoint)
    make_console().print(
        f"{run.spec.model} on {run.spec.task} ({split}, {checkpoint}.pt): "
        f"loss {fmt(result.loss)}  {run.task.metric.value} {fmt(result.metric)}"
    )


def register(app: typer.Typer) -> None:
    app.command("tasks")(tasks_command)
    app.command("models")(models_command)
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
