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


def probes_table(runs: dict[str, dict]) -> str:
    """Per long run: epochs where the unclipped gradient norm exceeded 50, its largest value
    (float32 / float64), the training loss's minimum and the largest loss after it."""
    lines = [
        "| run | lr, clip | min train loss (epoch) | max train loss after it | epochs with "
        "grad norm > 50 | largest grad norm f32 / f64 | test acc. |",
        "|---|---|---|---|---|---|---|",
    ]
    for tag, r in runs.items():
        if "probes" not in r:
            continue
        losses = [h["train_loss"] for h in r["history"]]
        low = min(range(len(losses)), key=losses.__getitem__)
        big = [i + 1 for i, p in enumerate(r["probes"]) if p["grad_norm_float32"] > 50]
        top = max(r["probes"], key=lambda p: p["grad_norm_float32"])
        cfg = r["config"]
        lines.append(
            f"| {tag} | {cfg['lr']:g}, {cfg['grad_clip']} | {losses[low]:.3f} ({low + 1}) "
            f"| {max(losses[low:]):.3f} | {', '.join(map(str, big)) or 'none'} "
            f"| {top['grad_norm_float32']:.3g} / {top['grad_norm_float64']:.3g} "
            f"| {r['test_accuracy']:.4f} |"
        )
    return "\n".join(lines)


def plot_probes(runs: dict[str, dict], tags: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.4))
    ax = fig.add_subplot()
    for i, tag in enumerate(tags):
        norms = [p["grad_norm_float32"] for p in runs[tag]["probes"]]
        ax.semilogy(range(1, len(norms) + 1), norms, color=f"C{i}", label=tag)
    ax.set_xlabel("epoch")
    ax.set_ylabel("unclipped gradient norm (64 windows)")
    ax.set_title("watch, dense CfC: gradient norm after each epoch")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
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
            [t for t in runs if t.startswith("cfc_const")],
            IMG / "watch_cfc_long_runs.png",
            "watch, dense CfC at a constant learning rate",
        )
        long_runs = [t for t in runs if "probes" in runs[t] and t.startswith("cfc_const")]
        if long_runs:
            print()
            print(probes_table({t: runs[t] for t in long_runs}))
            plot_probes(runs, long_runs, IMG / "watch_cfc_grad_norms.png")
        trained = {
            t: r["grad_profile_trained"] for t, r in runs.items() if not t.startswith("cfc_const")
        }
        from watch_cfc import plot_profiles

        plot_profiles(trained, IMG / "watch_grad_through_time_trained.png", "after 12 epochs")


if __name__ == "__main__":
    main()
