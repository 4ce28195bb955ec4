"""C99 export: compiled with the system compiler, it streams a sequence like PyTorch."""

import pytest
import torch

from liquidtorch import LTC, CfC
from liquidtorch.export.c import compile_example, export_c, find_compiler
from liquidtorch.export.check import c_errors, probe
from liquidtorch.solvers import RK4
from liquidtorch.wirings import AutoNCP, Wiring

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(find_compiler() is None, reason="no C compiler"),
]

# Measured: at most ~7e-7 over 60-300 steps on random models (different summation
# order and libm's expf/tanhf against torch's vectorised ones).
TOL = 1e-5

MODELS = {
    "cfc": lambda: CfC(3, 8, backbone_units=16),
    "cfc_pure_two_backbone_layers": lambda: CfC(3, 6, mode="pure", backbone_layers=2),
    "cfc_no_gate_silu": lambda: CfC(3, 6, mode="no_gate", activation="silu"),
    "cfc_no_backbone": lambda: CfC(3, 5, backbone_layers=0),
    "cfc_gelu_dropout": lambda: CfC(3, 5, activation="gelu", backbone_dropout=0.3),
    "cfc_ncp": lambda: CfC(3, AutoNCP(10, 2)),
    "cfc_ncp_pure_ncps_recurrence": lambda: CfC(3, AutoNCP(10, 2), mode="pure", recurrence="ncps"),
    "ltc_clamp_linear_maps": lambda: LTC(
        3, 6, constraint="clamp", input_mapping="linear", output_mapping="none"
    ),
    "cfc_ncp_mixed": lambda: CfC(3, AutoNCP(10, 2), mixed_memory=True),
    "ltc": lambda: LTC(3, 5),
    "ltc_ncp": lambda: LTC(3, AutoNCP(10, 2)),
    "ltc_ncp_mixed_stacked_proj": lambda: LTC(
        3, AutoNCP(8, 2), mixed_memory=True, num_layers=2, proj_size=1
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compiled_c_streams_like_pytorch(name, tmp_path):
    torch.manual_seed(4)
    model = MODELS[name]()
    files = export_c(model, tmp_path)
    errs = c_errors(compile_example(files), probe(model, steps=60, batch=2))
    for what, value in errs.items():
        assert value < TOL, (what, value)


def test_memory_grows_with_synapses_not_neurons_squared(tmp_path):
    """Flash of a wired LTC = 4 floats per synapse + 4 per sensory synapse (+ 1 for erev) +
    per-neuron constants and the CSR indices: exactly, from the wiring's counts."""
    model = LTC(2, AutoNCP(40, 2, sparsity_level=0.8))
    wiring: Wiring = model.cell.wiring
    files = export_c(model, tmp_path)
    n, e, es = wiring.units, wiring.synapse_count, wiring.sensory_synapse_count
    expected = 4 * (4 * e + 4 * es + 3 * n) + 2 * (e + es + 2 * (n + 1))
    assert files.flash_bytes == expected
    assert files.flash_bytes < 4 * n * n  # less than one dense n x n float matrix
    assert files.state_bytes == 4 * n
    text = files.source.read_text()
    assert "static const uint16_t model_c0_src" in text


def test_unsupported_solver_and_bad_name_are_clear(tmp_path):
    with pytest.raises(ValueError, match="semi-implicit"):
        export_c(LTC(2, 4, solver=RK4()), tmp_path)
    with pytest.raises(ValueError, match="C identifier"):
        export_c(CfC(2, 4), tmp_path, name="my-model")


def test_example_main_benchmark_runs(tmp_path):
    import subprocess

    exe = compile_example(export_c(CfC(3, AutoNCP(8, 2)), tmp_path))
    out = subprocess.run([str(exe), "--bench", "1000"], capture_output=True, text=True)
    assert out.returncode == 0 and "ns per step" in out.stdout
