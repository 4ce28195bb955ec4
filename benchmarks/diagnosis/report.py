"""Tables and figures of the `watch` diagnosis from ``benchmarks/diagnosis/results/*.json``.

python benchmarks/diagnosis/report.py   ->  markdown on stdout, PNGs under docs/img/
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
IMG = HERE.parent.parent / "docs" / "img"


def _log_ratio(profile: list[float], back: int) -> str:
    """log10 of ||dL/dx|| ``back`` steps before the last step, relative to the last step."""
    last, value = profile[-1], profile[-1 - back]
    if last <= 0:
        return "-"
    return "-inf" if value <= 0 else f"{math.log10(value / last):.1f}"


def grads_table(profiles: dict[str, list[float]]) -> str:
    lines = [
        "| model | 10 steps back | 50 steps back | 99 steps back |",
        "|---|---|---|---|",
    ]
    for name, p in profiles.items():
        lines.append(
            f"| {name} | {_log_ratio(p, 10)} | {_log_ratio(p, 50)} | {_log_ratio(p, 99)} |"
        )
    return "\n".join(lines)


def runs_table(runs: dict[str, dict]) -> str:
    lines = [
        "| run | head | test acc. | best val (epoch) | train loss: min / last | grad 10 / 50 "
        "steps back (log10) | gate < 0.05 / > 0.95 | tanh saturated (ff1 / ff2) | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tag, r in runs.items():
        losses = [h["train_loss"] for h in r["history"]]
        p = r["grad_profile_trained"]
        sat = r.get("saturation") or {}
        gate = f"{sat['gate_below_0.05']:.2f} / {sat['gate_above_0.95']:.2f}" if sat else ""
        tanh = f"{sat['tanh_ff1_saturated']:.2f} / {sat['tanh_ff2_saturated']:.2f}" if sat else ""
        lines.append(
            f"| {tag} | {r['head']} | {r['test_accuracy']:.4f} | {r['best_val']:.4f} "
            f"({r['best_epoch']}) | {min(losses):.3f} / {losses[-1]:.3f} | "
            f"{_log_ratio(p, 10)} / {_log_ratio(p, 50)} | {gate} | {tanh} "
            f"| {r['seconds_per_epoch']:.1f} |"
        )
    return "\n".join(lines)


def plot_curves(runs: dict[str, dict], tags: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    for i, tag in enumerate(t for t in tags if t in runs):
        h = runs[tag]["history"]
        epochs = [r["epoch"] for r in h]
        ax1.plot(epochs, [r["train_loss"] for r in h], color=f"C{i}", label=f"{tag} train")
        ax1.plot(epochs, [r["val_loss"] for r in h], color=f"C{i}", ls="--", label=f"{tag} val")
        ax2.plot(epochs, [r["val_metric"] for r in h], color=f"C{i}", label=tag)
    ax1.axhline(math.log(7), color="gray", lw=0.8, ls=":", label="uniform guess")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend(fontsize=6)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation accuracy")
    ax2.legend(fontsize=6)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> None:
    grads = RESULTS / "grads_init.json"
    if grads.exists():
        print("Gradient at initialisation, log10 of ||dL/dx_t|| relative to the last step:\n")
        print(grads_table(json.loads(grads.read_text())))
        print()
    runs = {
        p.stem: json.loads(p.read_text())
        for p in sorted(RESULTS.glob("*.json"))
        if p.name not in ("grads_init.json", "horizons.json")
    }
    if runs:
        print(runs_table(runs))
        plot_curves(
            runs,
            ["cfc_ncp", "cfc_ncp_mean", "cfc", "cfc_mean", "lstm", "lstm_mean"],
            IMG / "watch_curves_head.png",
            "watch, 12 epochs, seed 0: last-step vs mean-pooled head",
        )
        plot_curves(
            runs,
            [t for t in runs if "30ep" in t],
            IMG / "watch_cfc_long_runs.png",
            "watch, dense CfC, 30 epochs at a constant learning rate",
        )
        trained = {t: r["grad_profile_trained"] for t, r in runs.items() if "30ep" not in t}
        from watch_cfc import plot_profiles

        plot_profiles(trained, IMG / "watch_grad_through_time_trained.png", "after 12 epochs")


if __name__ == "__main__":
    main()
