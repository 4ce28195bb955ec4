"""A study's trials as files: ``trials.csv``, the optimisation history and the parameter
importances as PNG (matplotlib, drawn off-screen)."""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

from ..train import write_bytes_atomic

_COLUMNS = ("number", "state", "value", "epochs", "seconds", "parameters", "params")


def write_trials_csv(study, path: Path) -> None:
    """One row per trial: number, state, value (pruned: the last reported value), epochs,
    seconds, parameters (effective count), params (JSON)."""
    import json

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(_COLUMNS)
    for t in study.get_trials(deepcopy=False):
        writer.writerow(
            (
                t.number,
                t.state.name.lower(),
                "" if _value(t) is None else f"{_value(t):.6g}",
                t.user_attrs.get("epochs", ""),
                f"{t.user_attrs.get('seconds', 0.0):.1f}",
                t.user_attrs.get("parameters", ""),
                json.dumps(t.params, sort_keys=True),
            )
        )
    write_bytes_atomic(path, buf.getvalue().encode())


def _value(trial) -> float | None:
    if trial.value is not None:
        return trial.value
    if trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_bytes_atomic(path, buf.getvalue())


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_history(study, path: Path, metric: str) -> bool:
    """Each trial's value (complete: its best validation value; pruned: its last reported
    one, as a cross) and the best so far. False when no trial has a value."""
    from optuna.trial import TrialState

    points = [(t.number, _value(t), t.state) for t in study.get_trials(deepcopy=False)]
    points = [p for p in points if p[1] is not None and math.isfinite(p[1])]
    if not points:
        return False
    maximize = study.direction.name == "MAXIMIZE"
    fig = _figure(6.5, 3.6)
    ax = fig.add_subplot()
    done = [(n, v) for n, v, s in points if s == TrialState.COMPLETE]
    pruned = [(n, v) for n, v, s in points if s == TrialState.PRUNED]
    if done:
        ax.scatter(*zip(*done, strict=True), label="complete", color="tab:blue", zorder=3)
    if pruned:
        ax.scatter(*zip(*pruned, strict=True), label="pruned", color="tab:gray", marker="x")
    best, line = None, []
    for n, v in sorted(done):
        best = v if best is None else (max(best, v) if maximize else min(best, v))
        line.append((n, best))
    if line:
        line.append((max(n for n, _, _ in points), line[-1][1]))  # to the last trial
        ax.step(*zip(*line, strict=True), where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(f"{study.study_name}: optimisation history")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return True


def importances(study) -> dict[str, float]:
    """Parameter importances (Optuna's fANOVA) of the complete trials; empty when there are
    too few complete trials or nothing varied."""
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def plot_importances(study, path: Path) -> bool:
    """A bar per searched parameter (importance for the validation metric). False (no file)
    when :func:`importances` is empty."""
    values = importances(study)
    if not values:
        return False
    names = list(values)[::-1]
    fig = _figure(6.5, 0.6 + 0.35 * len(names))
    ax = fig.add_subplot()
    ax.barh(names, [values[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance (fANOVA, share of the variance)")
    ax.set_title(f"{study.study_name}: parameter importances")
    ax.grid(alpha=0.3, axis="x")
    _save(fig, path)
    return True
