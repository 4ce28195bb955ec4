"""ONNX export: step and sequence graphs equal PyTorch in onnxruntime (float32, 1e-5)."""

import numpy as np
import pytest
import torch

from liquidtorch import LTC, CfC
from liquidtorch.export import StepModule, export_onnx
from liquidtorch.export.check import onnx_errors, probe
from liquidtorch.wirings import AutoNCP
from liquidtorch.zoo import build_model, list_models

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_thread")

TOL = 1e-5

MODELS = {
    "cfc": lambda: CfC(3, 8),
    "cfc_ncp": lambda: CfC(3, AutoNCP(10, 2)),
    "cfc_mixed": lambda: CfC(3, 6, mixed_memory=True),
    "cfc_pure_stacked": lambda: CfC(3, 5, mode="pure", num_layers=2, proj_size=2),
    "ltc": lambda: LTC(3, 5),
    "ltc_ncp": lambda: LTC(3, AutoNCP(10, 2)),
    "ltc_ncp_mixed": lambda: LTC(3, AutoNCP(10, 2), mixed_memory=True),
}


def _check(model, tmp_path, steps):
    files = export_onnx(model, tmp_path)
    errs = onnx_errors(files, probe(model, steps=steps, batch=3))
    for graph, e in errs.items():
        for what, value in e.items():
            assert value < TOL, (graph, what, value)
    return errs


@pytest.mark.parametrize("name", sorted(MODELS))
def test_step_and_sequence_graphs_equal_pytorch(name, tmp_path):
    torch.manual_seed(1)
    _check(MODELS[name](), tmp_path, steps=40)


def test_streaming_1000_steps_state_fed_back_cfc(tmp_path):
    torch.manual_seed(2)
    _check(CfC(4, 16), tmp_path, steps=1000)


@pytest.mark.slow
def test_streaming_1000_steps_state_fed_back_ltc_ncp(tmp_path):
    torch.manual_seed(3)
    _check(LTC(4, AutoNCP(16, 3)), tmp_path, steps=1000)


def test_graphs_have_dynamic_batch_and_length(tmp_path):
    from liquidtorch.export.onnx import session

    model = CfC(3, AutoNCP(8, 2))
    files = export_onnx(model, tmp_path, name="m")
    assert files.step.name == "m.step.onnx" and files.sequence.name == "m.sequence.onnx"
    seq = session(files.sequence)
    shapes = {i.name: i.shape for i in seq.get_inputs()}
    assert shapes == {"x": ["batch", "time", 3], "state": ["batch", 8], "dt": ["batch", "time"]}
    step = StepModule(model)
    for batch, steps in ((1, 1), (5, 7)):
        x = np.random.default_rng(0).normal(size=(batch, steps, 3)).astype(np.float32)
        dt = np.ones((batch, steps), dtype=np.float32)
        y, s = seq.run(None, {"x": x, "state": np.zeros((batch, 8), np.float32), "dt": dt})
        assert y.shape == (batch, steps, 2) and s.shape == (batch, 8)
        with torch.no_grad():
            ref, _ = model(torch.from_numpy(x), timespans=torch.from_numpy(dt))
        np.testing.assert_allclose(y, ref.numpy(), atol=TOL)
    assert step.state_size == 8


def test_fused_kernels_are_not_traced(tmp_path, monkeypatch):
    """The export must not depend on the numba kernels: with them broken it still works."""
    from liquidtorch.cells import LTCCell

    def broken(*a, **k):
        raise AssertionError("fused path called during export")

    fused = [name for name in dir(LTCCell) if name.startswith("fused_")]
    assert fused  # the cell has fused paths to step aside
    for name in fused:
        monkeypatch.setattr(LTCCell, name, broken)
    files = export_onnx(LTC(2, 4), tmp_path)
    assert files.step.stat().st_size > 0


def test_bidirectional_is_refused(tmp_path):
    with pytest.raises(ValueError, match="bidirectional"):
        export_onnx(CfC(3, 4, bidirectional=True), tmp_path)


@pytest.mark.slow
def test_dynamo_exporter_gives_the_same_graph_maths(tmp_path):
    model = CfC(3, AutoNCP(8, 2))
    files = export_onnx(model, tmp_path, exporter="dynamo")
    errs = onnx_errors(files, probe(model, steps=30))
    assert max(v for e in errs.values() for v in e.values()) < TOL


@pytest.mark.slow  # trains a run first
def test_cli_export_run_dir_writes_files_and_card(tmp_path, monkeypatch):
    """Train a tiny run, export it with int8: the card holds the errors (<1e-5), sizes,
    and the task metric in PyTorch, onnxruntime (equal) and int8."""
    import json

    from typer.testing import CliRunner

    from liquidtorch.cli import app

    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    run = tmp_path / "run"
    args = ["train", "xor", "-m", "cfc_ncp", "--epochs", "1", "--units", "8", "-q",
            "-o", "n_samples=60", "-o", "length=4", "--run-dir", str(run)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "exp"
    args = ["export", str(run), "--int8", "--out", str(out), "--check-steps", "50",
            "--no-timing", "-f", "onnx"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model.card.json").read_text())
    assert card["model"] == "cfc_ncp"
    assert card["error_vs_pytorch"]["onnx_step_max_abs"] < TOL
    assert card["error_vs_pytorch"]["onnx_sequence_max_abs"] < TOL
    metric = card["task_metric"]
    assert metric["pytorch"] == pytest.approx(metric["onnxruntime"], abs=1e-9)
    assert "int8_change" in metric and card["int8"]["int8_matrix_products"] >= 1
    assert (out / "model.card.md").read_text().startswith("# Model card: cfc_ncp")
    for f in card["files"].values():
        assert (out / f).is_file()


def test_cli_export_errors_are_one_line(tmp_path):
    from typer.testing import CliRunner

    import liquidtorch
    from liquidtorch.cli import app

    path = tmp_path / "m.lt"
    liquidtorch.save(CfC(2, 4), path)
    result = CliRunner().invoke(app, ["export", str(path), "-f", "tflite"])
    assert result.exit_code == 2 and "--format 'tflite' is not known" in result.output
    result = CliRunner().invoke(app, ["export", str(tmp_path / "nope.lt")])
    assert result.exit_code == 2 and "no such run directory or model file" in result.output


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_exports(name, tmp_path):
    """The registry drives this test: every zoo model (baselines included) exports and
    equals PyTorch in onnxruntime."""
    from types import SimpleNamespace

    task = SimpleNamespace(input_size=3, output_size=2, per_step=True, defaults={})
    _check(build_model(name, task, units=6), tmp_path, steps=20)


def test_export_leaves_the_callers_model_alone(tmp_path):
    model = CfC(3, 4).double().train()
    export_onnx(model, tmp_path)
    assert model.training and next(model.parameters()).dtype == torch.float64
