"""Combine the quality suite's ``bench.json`` files into one markdown table (for the README).

    python benchmarks/quality_table.py benchmarks/quality  ->  benchmarks/quality/table.md
    python benchmarks/quality_table.py --tuned  ->  benchmarks/tuning/table.md,
        benchmarks/tuning/summary.md (the README's tables) and docs/img/quality_<task>.png
        (the tuned suite of benchmarks/tune_suite.py); the tables are also written between
        the ``<!-- tuned-table -->`` / ``<!-- tuned-summary -->`` markers of
        docs/quality.md and README.md

One block per task, models in the order they were run; the best mean of each task is bold,
and "vs LSTM" gives each model's mean relative to the LSTM's (accuracy: difference in
points; errors: ratio, below 1 is better).
"""

from __future__ import annotations

import json
import statistics
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


def _untuned(quality: Path) -> dict[tuple[str, str], dict]:
    """The untuned suite's rows (``benchmarks/quality``) at default sizes by (task, model);
    a run with task options by (its folder, model), e.g. ``xor_irregular_8bit``."""
    rows: dict[tuple[str, str], dict] = {}
    for path in sorted(quality.glob("*/bench.json")):
        report = json.loads(path.read_text())
        if report["settings"].get("units") is not None:
            continue
        key = path.parent.name if report["settings"].get("task_options") else None
        for r in report["results"]:
            rows.setdefault((key or r["task"], r["model"]), r)
    return rows


def _settings(best: dict) -> str:
    """The tuned settings in a few words (units, options, training)."""
    parts = [f"units {best['units']}"]
    parts += [f"{k} {_short(v)}" for k, v in sorted(best["model_options"].items())]
    parts += [f"{k} {_short(v)}" for k, v in sorted(best["train"].items()) if k != "epochs"]
    return ", ".join(parts)


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _tuned_rows(tuning: Path) -> dict[str, list[dict]]:
    """Per task: one row per finished model folder (``final.json`` with 3 seeds)."""
    by_task: dict[str, list[dict]] = {}
    for path in sorted(tuning.glob("*/*/final.json")):
        doc = json.loads(path.read_text())
        if len(doc["runs"]) < 3:
            continue
        best, task, name = doc["best"], path.parent.parent.name, path.parent.name
        trials = (
            (path.parent / "trials.csv").read_text().splitlines()[1:]
            if (path.parent / "trials.csv").exists()
            else []
        )
        states = [t.split(",")[1] for t in trials]
        by_task.setdefault(task, []).append(
            {
                "task": task,
                "label": name,
                "model": best["model"] if not name.startswith("lstm_matched") else "lstm",
                "metric": best["result"]["metric"],
                "higher": best["result"]["direction"] == "maximize",
                "mean": doc["mean"],
                "std": doc["std"],
                "values": [r["test"] for r in doc["runs"]],
                "val": statistics.fmean(r["val"] for r in doc["runs"]),
                "parameters": doc["runs"][0]["parameters"],
                "synapses": doc["runs"][0]["synapses"],
                "units": doc["runs"][0]["units"],
                "trial_epochs": best["train"]["epochs"],
                "epochs": doc.get("final_epochs", best["train"]["epochs"]),
                "settings": _settings(best)
                if not name.startswith("lstm_matched")
                else f"units {doc['runs'][0]['units']} (LSTM's tuned training settings)",
                "trials": f"{states.count('complete')}/{states.count('pruned')}" if states else "",
                "default_best": best["result"]["trial"] == 0,
            }
        )
    return by_task


def tuned_table(tuning: Path, quality: Path) -> str:
    """Markdown: per task, each tuned model's test metric (3 seeds) beside the untuned
    suite's, with "vs LSTM" against the tuned LSTM."""
    untuned = _untuned(quality)
    lines = [
        "| task | model | tuned test (mean ± std, 3 seeds) | vs tuned LSTM | best val (mean) "
        "| untuned test (README) | parameters | trials complete/pruned | tuned settings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, rows in _tuned_rows(tuning).items():
        lstm = next((r for r in rows if r["label"] == "lstm"), None)
        pick = max if rows[0]["higher"] else min
        best = pick(r["mean"] for r in rows)
        for r in rows:
            value = f"{r['mean']:.4f} ± {r['std']:.4f}"
            value = f"**{value}**" if r["mean"] == best else value
            vs = (
                ""
                if lstm is None or r is lstm
                else _vs_lstm({"higher_is_better": r["higher"], "mean": r["mean"]}, lstm)
            )
            old = untuned.get((task, r["label"]))
            old_text = (
                f"{old['mean']:.4f} ± {old['std']:.4f} ({int(old['epochs'])} ep)" if old else ""
            )
            note = " (defaults won)" if r["default_best"] else ""
            lines.append(
                f"| {task} ({r['metric']}, {_epochs(r)}) | {r['label']} | {value} | {vs} "
                f"| {r['val']:.4f} | {old_text} | {r['parameters']} | {r['trials']} "
                f"| {r['settings']}{note} |"
            )
    return "\n".join(lines) + "\n"


BASELINES = ("lstm", "gru", "ctgru", "ctrnn", "node", "odernn")
COLUMNS = ("lstm", "gru", "cfc", "cfc_mixed", "cfc_ncp", "ltc_ncp")


def _cell(row: dict, bold: bool) -> str:
    digits = 3 if row["higher"] else 4
    text = f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"
    return (f"**{text}**" if bold else text) + f" ({row['parameters']})"


def _level(a: dict, b: dict) -> bool:
    """``a`` at least as good as ``b``: better, or within one standard deviation (the
    larger of the two)."""
    slack = max(a["std"], b["std"])
    return a["mean"] >= b["mean"] - slack if a["higher"] else a["mean"] <= b["mean"] + slack


def _verdict(a: dict, b: dict) -> str:
    """``ahead`` (better by more than one standard deviation), ``level`` or ``behind``."""
    if not _level(a, b):
        return "behind"
    return "**ahead**" if not _level(b, a) else "**level**"


def summary(tuning: Path, skip: tuple[str, ...] = ("watch_last_head",)) -> str:
    """Markdown for the README: (1) every task's tuned models at their best tuned size
    (parameters in brackets) and whether the best liquid model is level with the best
    baseline; (2) each NCP-wired model against an LSTM of equal parameter count."""
    tasks = {t: rows for t, rows in _tuned_rows(tuning).items() if t not in skip}
    head = "| task (metric, epochs) | " + " | ".join(COLUMNS) + " | best liquid vs best baseline |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for task, rows in tasks.items():
        by = {r["label"]: r for r in rows}
        pick = max if rows[0]["higher"] else min
        tuned = [r for r in rows if not r["label"].startswith("lstm_matched")]
        best = pick(r["mean"] for r in tuned)
        cells = [_cell(by[m], by[m]["mean"] == best) if m in by else "" for m in COLUMNS]
        liquid = [r for r in tuned if r["model"] not in BASELINES]
        base = [r for r in tuned if r["model"] in BASELINES]
        verdict = ""
        if liquid and base:
            top_l = pick(liquid, key=lambda r: r["mean"])
            top_b = pick(base, key=lambda r: r["mean"])
            verdict = f"{top_l['label']} vs {top_b['label']}: {_verdict(top_l, top_b)}"
        lines.append(f"| {task} ({rows[0]['metric']}, {_epochs(rows[0])}) | " + " | ".join(cells)
                     + f" | {verdict} |")  # fmt: skip
    lines += ["", "| task | NCP model | its test | LSTM of equal size | its test | NCP model is |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for task, rows in tasks.items():
        by = {r["label"]: r for r in rows}
        for model in ("cfc_ncp", "ltc_ncp"):
            lstm = by.get(f"lstm_matched_{model}")
            if model not in by or lstm is None:
                continue
            ncp = by[model]
            lines.append(
                f"| {task} | {model} | {_cell(ncp, False)} | {lstm['units']} units "
                f"| {_cell(lstm, False)} | {_verdict(ncp, lstm)} |"
            )
    return "\n".join(lines) + "\n"


def embed(path: Path, marker: str, text: str) -> bool:
    """Replace what lies between ``<!-- marker -->`` and ``<!-- /marker -->`` in ``path``
    with ``text``; False where the file has no such markers."""
    doc = path.read_text()
    start, end = f"<!-- {marker} -->\n", f"<!-- /{marker} -->"
    if start not in doc or end not in doc:
        return False
    head, rest = doc.split(start, 1)
    path.write_text(head + start + text + end + rest.split(end, 1)[1])
    return True


def _epochs(row: dict) -> str:
    if row["epochs"] == row["trial_epochs"]:
        return f"{row['epochs']} ep"
    return f"trials {row['trial_epochs']} ep, seeds {row['epochs']} ep"


def plot_tasks(tuning: Path, quality: Path, out: Path) -> list[Path]:
    """Per task: test metric against parameter count, tuned (filled) and untuned (open)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    untuned = _untuned(quality)
    paths = []
    for task, rows in _tuned_rows(tuning).items():
        fig = Figure(figsize=(6.5, 4))
        ax = fig.add_subplot()
        for i, r in enumerate(rows):
            color = f"C{i % 10}"
            ax.errorbar(r["parameters"], r["mean"], yerr=r["std"], fmt="o", color=color,
                        label=f"{r['label']} (tuned)", capsize=3)  # fmt: skip
            old = untuned.get((task, r["label"]))
            if old:
                ax.errorbar(old["parameters"], old["mean"], yerr=old["std"], fmt="o",
                            mfc="none", color=color, capsize=3)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("parameters (effective)")
        ax.set_ylabel(f"test {rows[0]['metric']}")
        ax.set_title(
            f"{task}: tuned ({_epochs(rows[0])}, filled),\nuntuned with the last-step head "
            "(open), 3 seeds",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        path = out / f"quality_{task}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    return paths


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--tuned":
        # python benchmarks/quality_table.py --tuned -> benchmarks/tuning/table.md, figures
        tuning, quality = Path("benchmarks/tuning"), Path("benchmarks/quality")
        text = tuned_table(tuning, quality)
        (tuning / "table.md").write_text(text)
        (tuning / "summary.md").write_text(summary(tuning))
        plot_tasks(tuning, quality, Path("docs/img"))
        # the tables in the docs, between their markers
        embed(Path("docs/quality.md"), "tuned-table", text)
        for doc in (Path("docs/quality.md"), Path("README.md")):
            embed(doc, "tuned-summary", summary(tuning))
        print(text, end="")
        print(summary(tuning), end="")
        sys.exit(0)
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/quality")
    text = table(root)
    (root / "table.md").write_text(text)
    print(text, end="")
