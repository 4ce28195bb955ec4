"""Combine the quality suite's ``bench.json`` files into one markdown table (for the README).

    python benchmarks/quality_table.py benchmarks/quality  ->  benchmarks/quality/table.md

One block per task, models in the order they were run; the best mean of each task is bold,
and "vs LSTM" gives each model's mean relative to the LSTM's (accuracy: difference in
points; errors: ratio, below 1 is better).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _vs_lstm(row: dict, lstm: dict | None) -> str:
    if lstm is None:
        return ""
    if row["higher_is_better"]:
        return f"{100 * (row['mean'] - lstm['mean']):+.1f} pt"
    return f"{row['mean'] / lstm['mean']:.2f}x"


def table(root: Path) -> str:
    """Rows of every ``*/bench.json`` under ``root``, grouped by task. A bench run with
    ``--units`` (e.g. a parameter-matched LSTM) is labelled with its units, one with task
    options (``-o length=8``) forms its own task block; "vs LSTM" compares with the LSTM
    at the task's default size."""
    by_task: dict[str, list[dict]] = {}
    for path in sorted(root.glob("*/bench.json")):
        report = json.loads(path.read_text())
        sized = report["settings"].get("units") is not None
        options = report["settings"].get("task_options") or {}
        suffix = "".join(f", {k}={v}" for k, v in sorted(options.items()))
        for r in report["results"]:
            label = f"{r['model']} ({r['units']} units)" if sized else r["model"]
            task = f"{r['task']}{suffix}"
            by_task.setdefault(task, []).append(r | {"label": label, "sized": sized})
    lines = [
        "| task | model | test metric (mean ± std, 3 seeds) | vs LSTM | parameters | synapses "
        "| s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, group in by_task.items():
        pick = max if group[0]["higher_is_better"] else min
        best = pick(r["mean"] for r in group)
        lstm = next((r for r in group if r["model"] == "lstm" and not r["sized"]), None)
        for r in group:
            value = f"{r['mean']:.4f} ± {r['std']:.4f}"
            if r["mean"] == best:
                value = f"**{value}**"
            vs = "" if r is lstm else _vs_lstm(r, lstm)
            lines.append(
                f"| {task} ({r['metric']}) | {r['label']} | {value} | {vs} "
                f"| {r['parameters']} | {r['synapses'] or ''} | {r['seconds_per_epoch']:.3g} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/quality")
    text = table(root)
    (root / "table.md").write_text(text)
    print(text, end="")
