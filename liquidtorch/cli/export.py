"""Commands to deploy a trained model: ``export`` (ONNX, int8, C99 and a model card) and
``predict`` (a CSV/Parquet file of sensor rows through the model, state kept per stream).

SOURCE is a run directory written by ``liquidtorch train`` (its task gives the metric) or a
model file written by ``liquidtorch.save``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import cli_errors, fmt, make_console

Source = Annotated[
    Path, typer.Argument(help="A run directory (`liquidtorch train`) or a model file (.lt).")
]
Checkpoint = Annotated[
    str, typer.Option(help="For a run directory: best (best.pt) or last (last.pt).")
]


def load_source(
    source: Path, checkpoint: str = "best", task_name: str | None = None
) -> tuple[Any, Any]:
    """``(model, task or None)`` from a run directory or a model file (``task_name``: a
    task to evaluate a model file on)."""
    import liquidtorch

    if source.is_dir():
        from liquidtorch.experiments import load_run

        run = load_run(source, checkpoint)
        return run.model, run.task
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such run directory or model file")
    model = liquidtorch.load(source)
    task = None
    if task_name is not None:
        from liquidtorch.experiments import load_task

        task = load_task(task_name)
    return model, task


@cli_errors
def export_command(
    source: Source,
    format: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", help="onnx or c (repeatable; default both)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the files and the model card.")] = Path(
        "export"
    ),
    name: Annotated[str, typer.Option(help="File stem and C prefix (a C identifier).")] = "model",
    int8: Annotated[
        bool, typer.Option("--int8", help="Also ONNX graphs with int8 matrix products.")
    ] = False,
    checkpoint: Checkpoint = "best",
    task: Annotated[
        str | None, typer.Option(help="For a model file: a task to measure the metric on.")
    ] = None,
    check_steps: Annotated[
        int, typer.Option(min=0, help="Steps streamed to compare each runtime with PyTorch.")
    ] = 1000,
    timing: Annotated[
        bool, typer.Option("--timing/--no-timing", help="Measure latency per step.")
    ] = True,
) -> None:
    """Export a trained model to ONNX (step and sequence graphs; --int8) and/or C99, check
    each against PyTorch and write the model card (OUT/NAME.card.md and .json)."""
    import torch

    from liquidtorch.export.bundle import Format, export_bundle

    known = [f.value for f in Format]
    bad = [f for f in format or [] if f.lower() not in known]
    if bad:
        raise ValueError(f"--format {bad[0]!r} is not known; use {' or '.join(known)}")
    formats = {Format(f.lower()) for f in (format or known)}
    torch.set_num_threads(1)  # latency at batch 1 on one thread
    model, loaded_task = load_source(source, checkpoint, task)
    card = export_bundle(
        model, out, formats=formats, name=name, int8=int8, task=loaded_task,
        check_steps=check_steps, timing=timing,
    )  # fmt: skip
    console = make_console()
    console.print(f"wrote {', '.join(card['files'].values())} and {name}.card.md to {out}")
    for section in ("error_vs_pytorch", "latency_per_step_batch_1", "task_metric"):
        if section in card:
            items = "  ".join(f"{k} {fmt(v) if isinstance(v, float) else v}"
                              for k, v in card[section].items())  # fmt: skip
            console.print(f"{section.replace('_', ' ')}: {items}")


@cli_errors
def predict_command(
    source: Source,
    data: Annotated[Path, typer.Argument(help="CSV/TSV/Parquet file, one row per step.")],
    out: Annotated[
        Path | None, typer.Option(help="Output CSV (default DATA's name + .predictions.csv).")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Time column (numbers or datetimes); else steps of 1.")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Stream id column (each id keeps its own state).")
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="Feature column, repeatable (default: all others)."),
    ] = None,
    time_scale: Annotated[
        float | None,
        typer.Option(help="Time units per step of 1.0 (default: the median step in the file)."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows read at a time.")] = 50_000,
    checkpoint: Checkpoint = "best",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Write the model's outputs for every row of DATA (streams kept apart by --id-column,
    elapsed times from --time-column), reading large files in chunks."""
    from liquidtorch.streaming import predict_file

    if time_scale is not None and not time_scale > 0:
        raise ValueError(f"--time-scale must be > 0, got {time_scale}")
    model, task = load_source(source, checkpoint)
    classes = None
    if task is not None and task.kind.value == "classification":
        classes = [str(k) for k in range(task.output_size)]
    out = out or data.with_name(data.stem + ".predictions.csv")
    summary = predict_file(
        model, data, out, time_column=time_column, id_column=id_column, feature_columns=feature,
        time_scale=time_scale, classes=classes, chunk_rows=chunk_rows, progress=not quiet,
    )  # fmt: skip
    scale = summary["time_scale"]
    make_console().print(
        f"wrote {summary['rows']} rows of predictions ({summary['streams']} stream(s)"
        + (f", time unit {fmt(scale)}" if scale else "")
        + f") to {out}"
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
    app.command("predict")(predict_command)
