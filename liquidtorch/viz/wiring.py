"""Layered drawing of a :class:`~liquidtorch.wirings.Wiring` (matplotlib imported lazily)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from liquidtorch.wirings import Wiring

_DEFAULT_COLORS = {
    "sensory": "tab:olive",
    "inter": "tab:blue",
    "command": "tab:purple",
    "motor": "tab:orange",
    "all": "tab:blue",
    "excitatory": "tab:green",
    "inhibitory": "tab:red",
}
_CYCLE = ["tab:cyan", "tab:pink", "tab:brown", "tab:gray"]  # for other layer names


def _column(ids: list[int], x: float, tallest: int) -> dict[int, tuple[float, float]]:
    """Centre a column of neurons at abscissa `x`, spaced evenly in [-0.5, 0.5]."""
    ys = (np.arange(len(ids)) - (len(ids) - 1) / 2) / max(tallest - 1, 1)
    return {i: (x, float(y)) for i, y in zip(ids, ys[::-1], strict=True)}


def _edge_path(p: tuple[float, float], q: tuple[float, float]):
    """Straight line between columns; a curve (or a loop) inside one column."""
    from matplotlib.path import Path

    (x0, y0), (x1, y1) = p, q
    if x0 != x1:
        return Path([p, q], [Path.MOVETO, Path.LINETO])
    if y0 == y1:  # self-synapse: a small loop to the right
        pts = [p, (x0 + 0.2, y0 + 0.06), (x0 + 0.2, y0 - 0.06), p]
        return Path(pts, [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
    # Downward synapses bulge right, upward ones left, so a -> b and b -> a stay apart.
    bulge = (0.15 + 0.3 * abs(y1 - y0)) * (1 if y1 < y0 else -1)
    ctrl = (x0 + bulge, (y0 + y1) / 2)
    return Path([p, ctrl, q], [Path.MOVETO, Path.CURVE3, Path.CURVE3])


def draw_wiring(
    wiring: Wiring,
    ax: Axes | None = None,
    *,
    show_sensory: bool = True,
    colors: dict[str, Any] | None = None,
) -> Axes:
    """Draw `wiring` as columns: sensory inputs, then each layer from input side to output.

    Neurons are circles coloured per layer (with a legend). Synapses are lines, green for
    excitatory and red for inhibitory; they run left to right between columns, bulge sideways
    inside a layer (e.g. command -> command) and make a small loop for a self-synapse. The
    title gives the counts.

    Args:
        wiring: a built wiring (``spec.build(input_size)``).
        ax: axes to draw on; a new figure is made with pyplot if None.
        show_sensory: draw the sensory column and its synapses.
        colors: overrides by layer name, ``"sensory"``, ``"excitatory"``, ``"inhibitory"``.

    Example:
        >>> from liquidtorch.wirings import AutoNCP
        >>> ax = draw_wiring(AutoNCP(16, 2).build(4))
        >>> ax.figure.savefig("wiring.png")  # doctest: +SKIP
    """
    from .._optional import require

    require("matplotlib", "viz", feature="draw_wiring")
    from matplotlib.collections import PathCollection
    from matplotlib.lines import Line2D

    if ax is None:
        plt = require("matplotlib.pyplot", "viz", feature="draw_wiring")

        _, ax = plt.subplots(figsize=(2.2 * (wiring.num_layers + show_sensory) + 2, 5))
    palette = {**_DEFAULT_COLORS, **(colors or {})}

    columns: list[tuple[str, list[int]]] = [(name, list(ids)) for name, ids in wiring.layers]
    if show_sensory:
        columns.insert(0, ("sensory", list(range(wiring.input_size))))
    tallest = max(len(ids) for _, ids in columns)
    pos: dict[tuple[str, int], tuple[float, float]] = {}
    for x, (_, ids) in enumerate(columns):
        kind = "sensory" if show_sensory and x == 0 else "neuron"
        pos.update({(kind, i): p for i, p in _column(ids, float(x), tallest).items()})

    matrices = [("neuron", wiring.adjacency)]
    if show_sensory:
        matrices.insert(0, ("sensory", wiring.sensory_adjacency))
    handles = []
    for sign, polarity in [(1, "excitatory"), (-1, "inhibitory")]:
        paths = [
            _edge_path(pos[(kind, int(s))], pos[("neuron", int(d))])
            for kind, matrix in matrices
            for s, d in zip(*np.nonzero(matrix == sign), strict=True)
        ]
        edges = PathCollection(
            paths, facecolors="none", edgecolors=palette[polarity], linewidths=0.8, alpha=0.5
        )
        edges.set_gid(f"{polarity}_synapses")
        ax.add_collection(edges)
        handles.append(Line2D([], [], color=palette[polarity], label=f"{polarity} synapse"))

    size = float(np.clip(4000 / tallest, 30, 400))
    spare_colors = itertools.cycle(_CYCLE)
    for k, (name, ids) in enumerate(columns):
        kind = "sensory" if show_sensory and k == 0 else "neuron"
        xy = np.array([pos[(kind, i)] for i in ids])
        color = palette.setdefault(name, next(spare_colors))
        ax.scatter(xy[:, 0], xy[:, 1], s=size, color=color, edgecolors="black", zorder=3)
        handles.insert(k, Line2D([], [], ls="", marker="o", mfc=color, mec="black", label=name))

    ax.set_xlim(-0.5, len(columns) - 0.3)
    ax.set_ylim(-0.6, 0.6)
    ax.set_xticks(range(len(columns)), [name for name, _ in columns])
    ax.set_yticks([])
    ax.set_title(
        f"{wiring.units} neurons, {wiring.input_size} inputs, {wiring.synapse_count} synapses, "
        f"{wiring.sensory_synapse_count} sensory synapses"
    )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize="small",
        frameon=False,
    )
    return ax
