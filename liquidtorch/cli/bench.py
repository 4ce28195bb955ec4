"""Commands for many runs: ``bench`` (the quality suite) and ``demo`` (the quick start).

The logic lives in :mod:`liquidtorch.experiments`; these parse, call and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._common import (
    cli_errors,
    fmt,
    make_console,
    model_names,
    parse_options,
    split_names,
    task_names,
)
from .run import Threads, set_threads


def _table(rows: list[dict], title: str) -> Table:
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


def _tuned(files: list[Path] | None, models: list[str] | None) -> tuple[list[str], dict, dict]:
    """Models and their per-model options from ``best.json`` files of ``liquidtorch tune``
    (the last file for a model wins); models without a file run with their defaults."""
    from liquidtorch.tune import load_best

    model_options: dict[str, dict[str, Any]] = {}
    train_options: dict[str, dict[str, Any]] = {}
    for path in files or []:
        best = load_best(path)
        model_options[best["model"]] = dict(best["model_options"]) | {"units": best["units"]}
        train_options[best["model"]] = dict(best["train"])
    names = list(models or [])
    names += [m for m in model_options if m not in names]
    return names, model_options, train_options


@cli_errors
def bench_command(
    tasks: Annotated[str, typer.Option(help="Comma-separated task names.")] = "watch,xor_irregular",
    models: Annotated[
        str | None, typer.Option(help="Comma-separated model names.")
    ] = "cfc_ncp,ltc_ncp,cfc,lstm",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per task and model (0..N-1).")] = 3,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs (default: each task's).")
    ] = None,
    units: Annotated[
        int | None, typer.Option(min=1, help="Units for every model (default: each task's).")
    ] = None,
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "--config",
            help="best.json of `liquidtorch tune`, repeatable: that model runs with its "
            "tuned settings (and is added to --models).",
        ),
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
        typer.Option("--resume", help="Keep the runs already in OUT/runs.jsonl; run the rest."),
    ] = False,
    threads: Threads = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the table only.")] = False,
) -> None:
    """The quality suite: tasks x models x seeds, written to OUT/bench.md and bench.json.

    For every task and model: the test metric's mean ± std over the seeds, the effective
    parameters and the seconds per epoch. Each finished run is appended to
    OUT/runs.jsonl at once, so an interrupted bench continues with --resume.
    """
    from liquidtorch.experiments import run_bench

    set_threads(threads)
    chosen_tasks = split_names(tasks, task_names(), "task") or []
    chosen = split_names(models, model_names(), "model") if models else []
    chosen_models, model_options, train_options = _tuned(config, chosen)
    if not chosen_models:
        raise ValueError("no models given (--models or --config)")
    console = make_console()

    def on_done(record: dict) -> None:
        if not quiet:
            console.print(
                f"{record['task']} {record['model']} seed {record['seed']}: test "
                f"{record['metric']} {fmt(record['value'])} "
                f"({record['seconds_per_epoch']:.2f} s/epoch)"
            )

    def on_resume(done: int, total: int) -> None:
        if not quiet:
            console.print(f"resuming: {done} of {total} runs already done")

    report = run_bench(
        chosen_tasks,
        chosen_models,
        seeds=seeds,
        epochs=epochs,
        units=units,
        out=out,
        task_options=parse_options(task_option, "task"),
        model_options=model_options,
        train_options=train_options,
        jobs=jobs,
        resume=resume,
        on_done=on_done,
        on_resume=on_resume,
    )
    console.print(_table(report["results"], "liquidtorch bench"))
    console.print(f"wrote {out / 'bench.md'} and {out / 'bench.json'}")


@cli_errors
def demo_command(
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs per model.")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="1 epoch per model (a smoke test).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seeds the weights and the training.")] = 0,
    threads: Threads = None,
) -> None:
    """Compare an NCP-wired CfC, an NCP-wired LTC and LSTMs on real data (~5 min on CPU).

    The task is smartwatch exercise recognition (`watch`, bundled with seglearn, offline);
    every model trains the settings the tuned quality suite found for it, the LSTMs at
    their tuned size and at the CfC-NCP's parameter count. The table shows test accuracy,
    effective parameters, synapses and seconds per epoch.
    """
    import time

    from liquidtorch.experiments import DEMO_TASK, run_demo
    from liquidtorch.experiments.demo import DEMO_EPOCHS, DEMO_QUICK_EPOCHS

    set_threads(threads)
    console = make_console()
    n_epochs = epochs or (DEMO_QUICK_EPOCHS if quick else DEMO_EPOCHS)
    table = Table(title=f"demo: {DEMO_TASK}, {n_epochs} epochs, best validation epoch")
    metric_name: list[str] = []

    def on_start(task) -> None:
        metric_name.append(task.metric.value)
        console.print(
            f"[bold]{DEMO_TASK}[/]: {len(task.train)} train / {len(task.val)} val / "
            f"{len(task.test)} test windows of {task.train.x.shape[1]} steps x "
            f"{task.input_size} channels, {task.output_size} exercises; test subjects unseen "
            "in training."
        )
        for col in ("model", f"test {task.metric.value}", "parameters", "synapses", "s/epoch"):
            table.add_column(col, no_wrap=True)

    def on_row(row) -> None:
        console.print(f"  {row.name}: test {metric_name[0]} {fmt(row.metric)} ({row.seconds:.1f}s)")
        table.add_row(
            row.name,
            f"{row.metric:.3f}",
            str(row.parameters),
            str(row.synapses or "-"),  # "-": not a wired model
            f"{row.seconds_per_epoch:.2f}",
        )

    started = time.perf_counter()
    _, rows = run_demo(epochs=n_epochs, seed=seed, on_start=on_start, on_row=on_row)
    console.print(table)
    console.print(demo_summary(rows, metric_name[0]))
    console.print(
        f"total {time.perf_counter() - started:.0f}s. One seed; docs/quality.md has the tuned "
        "quality suite (`liquidtorch bench` runs it)."
    )


def demo_summary(rows, metric: str) -> str:
    """One line saying what the demo's table shows: the best liquid model against the LSTM
    of about its size and the full-size LSTM."""
    liquid = [r for r in rows if not r.name.startswith("lstm")]
    lstms = [r for r in rows if r.name.startswith("lstm")]
    if not liquid or not lstms:
        return ""
    best = max(liquid, key=lambda r: r.metric)
    small = min(lstms, key=lambda r: abs(r.parameters - best.parameters))
    full = max(lstms, key=lambda r: r.parameters)
    verdict = "ahead of" if best.metric > small.metric else "behind"
    return (
        f"In short: {best.name} ({best.parameters} parameters) scores {metric} "
        f"{best.metric:.3f}, {verdict} the LSTM of about its size ({small.metric:.3f}, "
        f"{small.parameters} parameters); the full-size LSTM scores {full.metric:.3f} with "
        f"{full.parameters} parameters."
    )


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
    app.command("demo")(demo_command)
