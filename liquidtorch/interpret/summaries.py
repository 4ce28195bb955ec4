"""Robustness of several runs and the expressivity study, written as JSON, PNG and HTML."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import figures
from .expressivity import Family, measure, records_to_json, trajectory_study
from .html import Report, figure_png, write_atomic
from .robustness import Curve, Perturbation, pool, robustness_curves
from .runs import load_run


@dataclass(frozen=True)
class Written:
    """What a summary wrote: ``json``, ``png`` and ``html`` paths, and how long it took."""

    json: Path
    png: Path
    html: Path
    seconds: float


def _write(
    out: Path, stem: str, payload: dict, fig, report: Report, caption: str
) -> tuple[Path, Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    png = figure_png(fig)
    paths = (out / f"{stem}.json", out / f"{stem}.png", out / f"{stem}.html")
    text = json.dumps(_strict(payload), indent=2, allow_nan=False)
    write_atomic(paths[0], (text + "\n").encode())
    write_atomic(paths[1], png)
    report.image(png, caption)
    report.write(paths[2])
    return paths


def _strict(obj):
    """``obj`` with NaN and infinities as ``None``: strict JSON has neither."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def robustness_report(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    seeds: int = 3,
    max_sequences: int | None = None,
    perturbations: tuple[Perturbation, ...] = tuple(Perturbation),
) -> Written:
    """Robustness curves of every run (runs of the same model, e.g. several training seeds,
    are pooled: mean and std over runs and perturbation seeds), side by side."""
    started = time.perf_counter()
    if not run_dirs:
        raise ValueError("run_dirs: give at least one run directory")
    runs = [load_run(d) for d in run_dirs]
    task = runs[0].task
    for r in runs[1:]:
        if r.task.name != task.name:
            raise ValueError(
                f"run_dirs: {str(r.path)!r} is a run on {r.task.name!r}, not {task.name!r}"
            )
    per_run = {
        str(r.path): robustness_curves(
            r.model, task, perturbations=perturbations, seeds=seeds, max_sequences=max_sequences
        )
        for r in runs
    }
    models: dict[str, list[list[Curve]]] = {}
    for r in runs:
        models.setdefault(r.model_name, []).append(per_run[str(r.path)])
    pooled = {name: pool(curves) for name, curves in models.items()}
    metric = task.metric.value
    payload = {
        "task": task.name,
        "metric": metric,
        "higher_is_better": task.metric.higher_is_better,
        "seeds": seeds,
        "max_sequences": max_sequences,
        "runs": {path: [c.to_dict() for c in curves] for path, curves in per_run.items()},
        "models": {name: [c.to_dict() for c in curves] for name, curves in pooled.items()},
    }
    report = Report(f"liquidtorch robustness: {task.name}")
    report.paragraph(
        f"Test {metric} under input perturbations never seen in training; inputs are "
        f"standardised, so noise and offsets are in units of a channel's standard deviation. "
        f"Runs of one model are pooled; bands are +-1 std over runs and {seeds} perturbation "
        f"seeds. {task.description}"
    )
    worst = min if task.metric.higher_is_better else max
    header = ["model", "runs", f"clean {metric}"] + [
        f"worst under {p.value} (level)" for p in perturbations
    ]
    rows = []
    for name, curves in pooled.items():
        clean = next(
            (c.mean[c.levels.index(c.perturbation.neutral)] for c in curves
             if c.perturbation.neutral in c.levels), math.nan,
        )  # fmt: skip
        cells = []
        for c in curves:
            value, level = worst(zip(c.mean, c.levels, strict=True))
            cells.append(f"{value:.3f} ({level:g})")
        rows.append([name, len(models[name]), clean, *cells])
    report.table(header, rows)
    fig = figures.robustness_figure(pooled, metric)
    paths = _write(
        Path(out), "robustness", payload, fig, report, "Metric against perturbation strength."
    )
    return Written(*paths, time.perf_counter() - started)


def expressivity_report(
    out: str | Path,
    *,
    widths: tuple[int, ...] = (8, 16, 32, 64),
    depths: tuple[int, ...] = (1, 2, 3, 4),
    activations: tuple[str, ...] = ("default", "tanh", "sigmoid", "relu", "hardtanh"),
    gains: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0),
    seeds: int = 3,
    steps: int = 200,
    base_width: int | None = None,
) -> Written:
    """Run :func:`~liquidtorch.interpret.expressivity.trajectory_study` and write its table,
    figure and records. Depth and activation vary at ``base_width`` (default: the middle
    of ``widths``)."""
    started = time.perf_counter()
    if not widths or not depths or not activations:
        raise ValueError("widths, depths and activations must each name at least one value")
    base_width = sorted(widths)[len(widths) // 2] if base_width is None else base_width
    base = {"width": base_width, "depth": 1, "activation": "default", "gain": 1.0}
    records = records_to_json(
        trajectory_study(
            widths=widths, depths=depths, activations=activations, gains=gains, seeds=seeds,
            steps=steps,
            base_width=base_width, base_depth=1, base_activation="default",
        )
    )  # fmt: skip
    paths = {}  # example trajectories: each family at the base width, shallow and deep
    for family in Family:
        for depth in sorted({1, max(depths)}):
            _, path = measure(family, base_width, depth, "default", 0, steps)
            paths[f"{family.value}, width {base_width}, depth {depth}"] = path.numpy()
    fig = figures.expressivity_figure(records, paths, base)
    report = Report("liquidtorch expressivity: latent trajectory length")
    report.paragraph(
        f"A circle (sin t, cos t), {steps} steps over one turn, through untrained LTC, CT-RNN "
        f"and Neural ODE layers of this library (their own initialisation); the length of the "
        f"path drawn by the last layer's state, mean over {seeds} seeds, as width, depth "
        f"(stacked layers), activation or the gain of the weights in front of the "
        f"nonlinearity varies from width {base_width}, depth 1, each model's own activation "
        "and gain 1. An infinite length means the state diverged."
    )
    rows = [
        [r["family"], r["width"], r["depth"], r["activation"], r["gain"], r["length"]]
        for r in _means(records)
    ]
    report.table(["model", "width", "depth", "activation", "gain", "mean length"], rows)
    payload = {"steps": steps, "seeds": seeds, "base": base, "records": records}
    written = _write(Path(out), "expressivity", payload, fig, report, "Trajectory lengths.")
    return Written(*written, time.perf_counter() - started)


def _means(records: list[dict]) -> list[dict]:
    """Records averaged over seeds (a diverged seed makes the mean infinite)."""
    keys = ("family", "width", "depth", "activation", "gain")
    groups: dict[tuple, list[float]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r["length"])
    return [
        dict(zip(keys, key, strict=True))
        | {"length": float(np.mean([math.inf if x is None else x for x in v]))}
        for key, v in groups.items()
    ]
