"""draw_wiring renders headless and writes an image."""

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from liquidtorch.viz import draw_wiring  # noqa: E402
from liquidtorch.wirings import AutoNCP, FullyConnected  # noqa: E402


def drawn_edges(ax) -> int:
    """Synapse curves drawn (draw_wiring tags their collections with a gid)."""
    edges = [c for c in ax.collections if (c.get_gid() or "").endswith("_synapses")]
    assert all(isinstance(c, PathCollection) for c in edges)
    return sum(len(c.get_paths()) for c in edges)


def test_draw_auto_ncp_saves_png(tmp_path):
    wiring = AutoNCP(16, 2, seed=3).build(4)
    ax = draw_wiring(wiring, ax=Figure().add_subplot())
    assert drawn_edges(ax) == wiring.synapse_count + wiring.sensory_synapse_count
    excitatory = next(c for c in ax.collections if c.get_gid() == "excitatory_synapses")
    n_excitatory = (wiring.adjacency == 1).sum() + (wiring.sensory_adjacency == 1).sum()
    assert len(excitatory.get_paths()) == n_excitatory
    assert matplotlib.colors.same_color(excitatory.get_edgecolor()[0][:3], "tab:green")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[:4] == ["sensory", "inter", "command", "motor"]
    assert f"{wiring.synapse_count} synapses" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == texts[:4]
    path = tmp_path / "wiring.png"
    ax.figure.savefig(path)
    assert path.exists() and path.stat().st_size > 1000


def test_draw_without_sensory_and_custom_colors():
    import matplotlib.pyplot as plt

    wiring = FullyConnected(4, output_size=1, self_connections=True).build(3)
    ax = draw_wiring(wiring, show_sensory=False, colors={"all": "black", "excitatory": "blue"})
    try:
        assert drawn_edges(ax) == wiring.synapse_count  # incl. 4 self-loops, no sensory lines
        assert [t.get_text() for t in ax.get_xticklabels()] == ["all"]
        handles = ax.get_legend().legend_handles
        assert matplotlib.colors.same_color(handles[0].get_markerfacecolor(), "black")
        assert matplotlib.colors.same_color(handles[1].get_color(), "blue")
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize("missing", ["matplotlib", "matplotlib.pyplot"])
def test_without_matplotlib_the_error_names_the_extra(monkeypatch, missing):
    import sys

    monkeypatch.setitem(sys.modules, missing, None)  # import fails
    with pytest.raises(
        ModuleNotFoundError, match=r'draw_wiring needs matplotlib.*"liquidtorch\[viz\]"'
    ):
        draw_wiring(AutoNCP(8, 2).build(3))


def test_without_networkx_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "networkx", None)
    with pytest.raises(
        ModuleNotFoundError, match=r'to_networkx needs networkx.*"liquidtorch\[viz\]"'
    ):
        AutoNCP(8, 2).build(3).to_networkx()
