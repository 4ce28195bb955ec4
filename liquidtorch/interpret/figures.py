"""The report's figures (matplotlib, imported lazily; figures are built without pyplot)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .activity import Trace
    from .analysis import PCA, TreeFit
    from .robustness import Curve


def _figure(width: float, height: float):
    from .._optional import require

    require("matplotlib", "explain", feature="the report's figures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # a renderer of its own (no pyplot, no global backend)
    return fig


def _order(groups: dict[str, np.ndarray]) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Neurons ordered group by group (inter, command, motor) and each group's row span."""
    order: list[int] = []
    spans: list[tuple[str, int, int]] = []
    start = 0
    for name, ids in groups.items():
        order.extend(int(i) for i in ids)
        spans.append((name, start, start + len(ids)))
        start += len(ids)
    return np.array(order), spans


def wiring_figure(wiring):
    from ..viz import draw_wiring

    fig = _figure(2.2 * (wiring.num_layers + 1) + 3, 5)
    draw_wiring(wiring, ax=fig.add_subplot())
    return fig


def activity_figure(trace: Trace, x: np.ndarray, labels: list[str]):
    """Per sequence of ``trace`` (inputs ``x``): the inputs, every neuron's state and the
    (LTC) time constant or (CfC) time gate over time, neurons grouped by layer."""
    internal = trace.tau if trace.tau is not None else trace.gate
    cols = 3 if internal is not None else 2
    fig = _figure(4.2 * cols, 2.6 * len(x))
    axes = fig.subplots(len(x), cols, squeeze=False)
    order, spans = _order(trace.groups)
    for row in range(len(x)):
        i = row
        steps = int(trace.valid[i].sum())
        ax = axes[row, 0]
        ax.plot(x[i, :steps], lw=0.8)
        ax.set_title(f"inputs ({labels[row]})", fontsize=9)
        ax.set_xlabel("step")
        # (neurons in layer order, steps); index step by step: mixing an int, a slice and an
        # array in one subscript would move the array's axis first.
        panels = [(axes[row, 1], trace.states[i][:steps][:, order].T, "neuron state", "viridis")]
        if internal is not None:
            if trace.tau is not None:
                what, data, cmap = "liquid time constant (log10)", np.log10(internal), "magma"
            else:
                what, data, cmap = "CfC time gate", internal, "magma"
            panels.append((axes[row, 2], data[i][:steps][:, order].T, what, cmap))
        for ax, data, what, cmap in panels:
            im = ax.imshow(data, aspect="auto", cmap=cmap, interpolation="nearest")
            ax.set_title(what, fontsize=9)
            ax.set_yticks([(a + b - 1) / 2 for _, a, b in spans], [n for n, _, _ in spans])
            for _, a, _ in spans[1:]:
                ax.axhline(a - 0.5, color="white", lw=0.8)
            ax.set_xlabel("step")
            fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def pca_figure(
    fits: dict[str, PCA],
    paths: dict[str, list[np.ndarray]],
    colors: dict[str, list[float]],
    *,
    classification: bool,
):
    """Cumulative variance explained for each model, and each model's trajectories in its
    first two components, coloured by class (or target)."""
    fig = _figure(4.2 * (1 + len(fits)), 3.8)
    axes = fig.subplots(1, 1 + len(fits), squeeze=False)[0]
    ax = axes[0]
    for name, fit in fits.items():
        k = np.arange(1, len(fit.explained) + 1)
        ax.plot(k, np.cumsum(fit.explained), marker="o", ms=3, label=name)
    ax.axhline(0.9, color="gray", ls=":", lw=0.8)
    ax.set_xlabel("components")
    ax.set_ylabel("variance explained (cumulative)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if classification else "viridis"]
    for ax, (name, fit) in zip(axes[1:], fits.items(), strict=True):
        values = np.asarray(colors[name], dtype=float)
        span = (values.min(), values.max() if values.max() > values.min() else values.min() + 1)
        for path, c in zip(paths[name], values, strict=True):
            color = (
                cmap(int(c) % 10) if classification else cmap((c - span[0]) / (span[1] - span[0]))
            )
            ax.plot(path[:, 0], path[:, 1], color=color, lw=0.8, alpha=0.7)
            ax.plot(path[-1, 0], path[-1, 1], "o", color=color, ms=3)
        ev = fit.explained
        ax.set_xlabel(f"PC1 ({ev[0]:.0%})")
        ax.set_ylabel(f"PC2 ({ev[1]:.0%})" if len(ev) > 1 else "PC2")
        ax.set_title(f"{name}: trajectories (dot: last step)", fontsize=9)
    if classification:
        classes = sorted({int(c) for vs in colors.values() for c in vs})
        handles = [
            matplotlib.lines.Line2D([], [], color=cmap(c % 10), label=f"class {c}") for c in classes
        ]
        axes[-1].legend(handles=handles, fontsize=7, loc="best")
    return fig


def tree_figure(fit: TreeFit, class_names: list[str] | None = None):
    """The tree drawn with scikit-learn; each node shows its split, its share of the samples
    and its majority class with that class's share (the full value vectors are dropped:
    with many classes they overlap)."""
    from sklearn.tree import plot_tree

    leaves = 2**fit.depth
    fig = _figure(max(8.0, 1.5 * leaves), 1.3 * (fit.depth + 1) + 0.5)
    ax = fig.add_subplot()
    notes = plot_tree(
        fit.tree, ax=ax, feature_names=fit.feature_names, class_names=class_names,
        filled=True, impurity=False, proportion=True, rounded=True, fontsize=8, precision=2,
    )  # fmt: skip
    for note in notes:  # node boxes (and the True/False arrow labels)
        note.set_text(_short_node_text(note.get_text(), fit.classification))
    ax.set_title(f"depth-{fit.depth} tree, held-out fidelity {fit.fidelity:.3f}", fontsize=10)
    return fig


def _short_node_text(text: str, classification: bool) -> str:
    """A node's text without its value vector; for classification its majority class gets
    that class's share instead, e.g. ``class = class 3 (92%)``."""
    import re

    found = re.search(r"value = \[([^\]]*)\]\n?", text, flags=re.S)
    if found is None:
        return text
    text = text[: found.start()] + text[found.end() :]
    if classification:
        shares = [float(v) for v in found.group(1).replace("\n", " ").replace(",", " ").split()]
        if shares and sum(shares) > 0:
            text = re.sub(r"(class = .*)$", rf"\1 ({max(shares) / sum(shares):.0%})", text.rstrip())
    return text


def fidelity_figure(depths: list[int], fidelity: dict[str, list[float]], metric: str):
    fig = _figure(5.5, 3.5)
    ax = fig.add_subplot()
    for name, values in fidelity.items():
        ax.plot(depths, values, marker="o", label=name)
    ax.set_xlabel("tree depth")
    ax.set_ylabel("held-out fidelity")
    ax.set_title(metric, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def attribution_figure(x: np.ndarray, values: np.ndarray, labels: list[str]):
    """Per sequence: the inputs and their integrated-gradient attributions over time."""
    n = len(values)
    fig = _figure(10, 2.4 * n)
    axes = fig.subplots(n, 2, squeeze=False)
    for i in range(n):
        axes[i, 0].plot(x[i], lw=0.8)
        axes[i, 0].set_title(f"inputs ({labels[i]})", fontsize=9)
        bound = float(np.abs(values[i]).max()) or 1.0
        im = axes[i, 1].imshow(
            values[i].T, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound,
            interpolation="nearest",
        )  # fmt: skip
        axes[i, 1].set_title(
            "attribution per input channel (red: pushes the output up)", fontsize=9
        )
        axes[i, 1].set_ylabel("channel")
        fig.colorbar(im, ax=axes[i, 1], shrink=0.8)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    return fig


def robustness_figure(curves: dict[str, list[Curve]], metric: str):
    """One panel per perturbation (two columns): each model's mean metric, +-1 std band."""
    kinds = next(iter(curves.values()))
    rows = math.ceil(len(kinds) / 2)
    fig = _figure(10, 3.3 * rows)
    axes = fig.subplots(rows, 2, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        if k >= len(kinds):
            ax.set_visible(False)
            continue
        for name, model_curves in curves.items():
            c = model_curves[k]
            mean, std = np.array(c.mean), np.array(c.std)
            ax.plot(c.levels, mean, marker="o", ms=3, label=name)
            ax.fill_between(c.levels, mean - std, mean + std, alpha=0.2)
        ax.set_xlabel(kinds[k].perturbation.label)
        ax.set_ylabel(f"test {metric}")
        ax.set_title(kinds[k].perturbation.value, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return fig


def expressivity_figure(records: list[dict], paths: dict[str, np.ndarray], base: dict):
    """Trajectory length against each setting of ``base`` (width, depth, activation, gain;
    mean over seeds, the others at their ``base`` values) and latent trajectories (first
    two principal components)."""
    from .analysis import pca

    families = sorted({r["family"] for r in records})
    varied = [k for k in ("width", "depth", "activation", "gain") if k in base]
    fig = _figure(5.3 * len(varied), 7)
    top, bottom = fig.subfigures(2, 1)
    axes = top.subplots(1, len(varied))
    for ax, axis in zip(axes, varied, strict=True):
        others = [k for k in base if k != axis]
        for f in families:
            rows = [r for r in records if r["family"] == f and all(r[o] == base[o] for o in others)]
            keys = sorted({r[axis] for r in rows}, key=lambda v: (isinstance(v, str), v))
            means = [
                np.mean(
                    [np.inf if r["length"] is None else r["length"] for r in rows if r[axis] == v]
                )
                for v in keys
            ]
            pos = range(len(keys)) if axis == "activation" else keys
            if axis == "gain":
                ax.set_xscale("log", base=2)
            line = ax.plot(pos, [m if math.isfinite(m) else np.nan for m in means], marker="o",
                           label=f)[0]  # fmt: skip
            for p, m in zip(pos, means, strict=True):  # a diverged state: an x at the top
                if not math.isfinite(m):
                    ax.plot([p], [0.95], "x", color=line.get_color(), ms=9,
                            transform=ax.get_xaxis_transform(), clip_on=False)  # fmt: skip
            if axis == "activation":
                ax.set_xticks(range(len(keys)), keys)
        ax.set_yscale("log")
        ax.set_xlabel(axis)
        ax.set_title(f"length vs {axis}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("trajectory length")
    axes[0].legend(fontsize=8)
    axes[2].set_title("length vs activation (x near the top: diverged)", fontsize=10)
    paxes = bottom.subplots(1, len(paths))
    for ax, (name, path) in zip(np.atleast_1d(paxes), paths.items(), strict=True):
        proj = pca(path, 2).project(path)
        ax.plot(proj[:, 0], proj[:, 1], lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal", "datalim")
    return fig
