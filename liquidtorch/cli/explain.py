"""``liquidtorch explain``, ``robustness`` and ``expressivity``: check the papers' claims
(readable neurons, robustness, expressivity) on your own trained runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import cli_errors, fail, make_console


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        fail(f"{what} must be comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        fail(f"{what} must be integers >= 1, got {text!r}")
    return values


def _gains(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        fail(f"--gains must be comma-separated numbers, got {text!r}")
    if not values or min(values) <= 0:
        fail(f"--gains must be numbers > 0, got {text!r}")
    return values


def _threads() -> None:
    import torch

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))


@cli_errors
def explain_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `train`.")],
    baseline: Annotated[
        Path | None,
        typer.Option(help="A baseline run (e.g. an LSTM) on the same task to compare with."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where the HTML goes (default RUN_DIR/explain.html).")
    ] = None,
    depth: Annotated[int, typer.Option(min=1, max=8, help="Depth of the drawn tree.")] = 3,
    robustness: Annotated[
        bool, typer.Option("--robustness/--no-robustness", help="Add the robustness section.")
    ] = True,
) -> None:
    """Write an HTML report on what a trained run's neurons do (next to a --baseline run).

    One self-contained file (figures embedded, no scripts): the wiring by layer, neuron
    activity with LTC time constants or CfC time gates, principal components, decision trees
    distilled from the neurons with their held-out fidelity, integrated gradients and
    robustness curves.
    """
    from liquidtorch.interpret import ExplainOptions, explain_report

    _threads()
    result = explain_report(
        run_dir,
        baseline=baseline,
        out=out,
        options=ExplainOptions(tree_depth=depth),
        robustness=robustness,
    )
    make_console().print(f"wrote {result.path} ({result.figures} figures, {result.seconds:.1f}s)")


@cli_errors
def robustness_command(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(help="Run directories on one task (e.g. a liquid model, an LSTM)."),
    ],
    out: Annotated[Path, typer.Option(help="Where robustness.{json,png,html} go.")] = Path(
        "robustness"
    ),
    seeds: Annotated[int, typer.Option(min=1, help="Seeds of the random perturbations.")] = 3,
    max_sequences: Annotated[
        int | None, typer.Option(min=1, help="Evaluate a random subset of the test split.")
    ] = None,
) -> None:
    """Test metric of runs side by side under noise, dropped samples and shifted inputs.

    Gaussian input noise, randomly dropped samples (irregular sampling), scaled and offset
    channels; runs of the same model are pooled (mean and std over runs and seeds). Writes
    OUT/robustness.json, .png and .html.
    """
    from liquidtorch.interpret import robustness_report

    _threads()
    written = robustness_report(run_dirs, out, seeds=seeds, max_sequences=max_sequences)
    make_console().print(
        f"wrote {written.html}, {written.png} and {written.json} ({written.seconds:.1f}s)"
    )


@cli_errors
def expressivity_command(
    out: Annotated[Path, typer.Option(help="Where expressivity.{json,png,html} go.")] = Path(
        "expressivity"
    ),
    widths: Annotated[str, typer.Option(help="Comma-separated widths.")] = "8,16,32,64",
    depths: Annotated[
        str, typer.Option(help="Comma-separated depths (stacked layers).")
    ] = "1,2,3,4",
    activations: Annotated[
        str, typer.Option(help="Comma-separated: default, tanh, sigmoid, relu, hardtanh.")
    ] = "default,tanh,sigmoid,relu,hardtanh",
    gains: Annotated[
        str, typer.Option(help="Comma-separated gains of the weights before the nonlinearity.")
    ] = "0.5,1,2,4",
    seeds: Annotated[int, typer.Option(min=1, help="Initialisations per setting.")] = 3,
    steps: Annotated[int, typer.Option(min=8, help="Samples of the input circle.")] = 200,
) -> None:
    """Trajectory length of a circle through LTC, CT-RNN and Neural ODE layers.

    The LTC paper's expressivity study: untrained layers, as width, depth, activation and
    the gain of the weights in front of the nonlinearity vary. Writes
    OUT/expressivity.json, .png and .html.
    """
    from liquidtorch.interpret import expressivity_report
    from liquidtorch.interpret.expressivity import ACTIVATIONS

    names = tuple(a.strip() for a in activations.split(",") if a.strip())
    unknown = [a for a in names if a not in ACTIVATIONS]
    if unknown or not names:
        fail(f"unknown activation {unknown[0] if unknown else activations!r}; "
             f"known: {', '.join(ACTIVATIONS)}")  # fmt: skip
    _threads()
    written = expressivity_report(
        out, widths=_ints(widths, "--widths"), depths=_ints(depths, "--depths"),
        activations=names, gains=_gains(gains), seeds=seeds, steps=steps,
    )  # fmt: skip
    make_console().print(
        f"wrote {written.html}, {written.png} and {written.json} ({written.seconds:.1f}s)"
    )


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_command)
    app.command("robustness")(robustness_command)
    app.command("expressivity")(expressivity_command)
