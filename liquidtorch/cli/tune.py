"""``liquidtorch tune TASK -m MODEL``: a hyperparameter study (see :mod:`liquidtorch.tune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import cli_errors, fail, make_console, user_file_options
from .run import IdColumn, Kind, Target, TimeColumn, task_options_for


@cli_errors
def tune_command(
    task: Annotated[
        str,
        typer.Argument(help="Task name (`liquidtorch tasks`) or a .csv/.tsv/.parquet file."),
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model name (see `liquidtorch models`).")
    ],
    trials: Annotated[
        int,
        typer.Option(
            min=1, help="Finished trials the study should have (a resumed study runs the rest)."
        ),
    ] = 20,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs per trial (default: the task's).")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(min=1, help="Seconds after which no new trial starts.")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", min=1, help="Worker processes (one torch thread each)."),
    ] = 1,
    run_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the study, best.json and plots go (default runs/tune-TASK-MODEL)."
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Database URL (postgresql://..., sqlite:///...) shared by workers on many "
            "machines (default: a journal file in the run directory)."
        ),
    ] = None,
    study_name: Annotated[
        str | None, typer.Option(help="Study name in the storage (default TASK-MODEL).")
    ] = None,
    space: Annotated[
        Path | None,
        typer.Option(help="JSON file NAME -> dimension; replaces the model's default space."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Search dimension NAME=SPEC, repeatable: lr=1e-4:1e-2:log (range), "
            "units=16,32,64 (choice), mode=default (fixed), units=- (drop).",
        ),
    ] = None,
    pruner: Annotated[str, typer.Option(help="median, hyperband or none.")] = "median",
    seed: Annotated[int, typer.Option(help="Seeds the sampler and every trial's training.")] = 0,
    task_option: Annotated[
        list[str] | None,
        typer.Option("--task-option", "-o", help="Task loader option KEY=VALUE, repeatable."),
    ] = None,
    time_column: TimeColumn = None,
    target: Target = None,
    id_column: IdColumn = None,
    kind: Kind = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the result only.")] = False,
) -> None:
    """Tune MODEL on TASK: TPE sampling, trials pruned per epoch on the validation metric.

    The run directory receives study.journal (the study: rerun to resume; other processes
    can join), best.json (for `liquidtorch train --config`), trials.csv, history.png and
    importances.png.
    """
    from liquidtorch._threads import flush_denormals

    flush_denormals()  # trained liquid models drift into denormals: 4-6x slower steps
    from liquidtorch import tune as lt

    options = task_options_for(
        task, task_option, user_file_options(time_column, target, id_column, kind)
    )
    run_dir = run_dir or Path("runs") / f"tune-{Path(task).stem}-{model}"
    spec = lt.TuneSpec(
        task,
        model,
        run_dir,
        trials=trials,
        epochs=epochs,
        space=lt.load_space(space) if space is not None else None,
        changes=lt.parse_items(param),
        task_options=options,
        pruner=pruner,
        timeout=timeout,
        jobs=jobs,
        seed=seed,
        storage=storage,
        study_name=study_name,
    )
    loaded = lt.check(spec)
    if not quiet:
        make_console().print(
            f"tuning {model} on {task}: {trials} trials, space "
            f"{spec.resolved_space(loaded).to_json()} -> {run_dir}"
        )
    result = lt.tune(spec, quiet=quiet, task=loaded)
    console = make_console()
    counts = ", ".join(f"{n} {state}" for state, n in sorted(result.counts.items()))
    if result.best is None:
        fail(f"no trial completed ({counts}); see {run_dir / 'trials.csv'}", code=1)
    best = result.best
    console.print(
        f"best val {best['result']['metric']} {best['result']['value']:.4g} (trial "
        f"{best['result']['trial']}; {counts}): units {best['units']}, "
        f"options {best['model_options']}, training {best['train']}"
    )
    console.print(
        f"wrote {run_dir / 'best.json'} (liquidtorch train --config {run_dir / 'best.json'})"
    )


def register(app: typer.Typer) -> None:
    """Add the ``tune`` command to ``app``."""
    app.command("tune")(tune_command)
