"""`liquidtorch explain`, `robustness` and `expressivity` end to end on tiny runs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from test_interpret_report import make_run  # noqa: E402

from liquidtorch.cli.main import app  # noqa: E402
from liquidtorch.kernels import use_fused  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def invoke(*args):
    with use_fused(False):  # tiny models: no kernels to compile
        result = runner.invoke(app, [str(a) for a in args])
    return result, result.output + (result.stderr if result.stderr_bytes else "")


@pytest.mark.slow  # renders the whole report again (test_interpret_report checks it)
def test_explain_writes_the_report(tmp_path):
    run = make_run(tmp_path / "run", "cfc_ncp")
    result, text = invoke("explain", run, "--no-robustness", "--depth", "2")
    assert result.exit_code == 0, text
    assert "wrote" in text and "figures" in text
    page = (run / "explain.html").read_text()
    assert "<h2>Decision trees" in page and "the depth-2 tree" in page
    assert "time gate" in page  # a CfC: the activity section shows its time gates


@pytest.mark.parametrize(
    "args, message",
    [
        (["explain", "missing"], "does not exist"),
        (["robustness", "missing"], "does not exist"),
        (["expressivity", "--widths", "4,x"], "--widths"),
        (["expressivity", "--activations", "swish"], "unknown activation 'swish'"),
        (["expressivity", "--gains", "0,1"], "--gains must be numbers > 0"),
    ],
)
def test_bad_arguments_fail_in_one_line(args, message):
    result, text = invoke(*args)
    assert result.exit_code == 2, text
    assert message in text and "Traceback" not in text


def test_robustness_writes_json_png_html(tmp_path):
    runs = [make_run(tmp_path / f"lstm{s}", "lstm") for s in (0, 1)]
    result, text = invoke("robustness", *runs, "--seeds", "2", "--max-sequences", "10",
                          "--out", tmp_path / "rob")  # fmt: skip
    assert result.exit_code == 0, text
    data = json.loads((tmp_path / "rob" / "robustness.json").read_text())
    assert set(data["models"]) == {"lstm"} and len(data["runs"]) == 2
    noise = data["models"]["lstm"][0]
    assert noise["perturbation"] == "noise"
    # Pooled: 2 runs x 2 seeds at a random level, 2 runs x 1 at the clean level.
    assert [len(v) for v in noise["values"]] == [2] + [4] * (len(noise["levels"]) - 1)
    assert (tmp_path / "rob" / "robustness.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "rob" / "robustness.html").read_text()
    assert "<img" in page and "clean accuracy" in page and "worst under drop (level)" in page


def test_expressivity_writes_json_png_html(tmp_path):
    options = ["--widths", "4,6", "--depths", "1,2", "--activations", "default", "--gains", "1,3"]
    options += ["--seeds", "1", "--steps", "16", "--out", tmp_path / "e"]
    result, text = invoke("expressivity", *options)
    assert result.exit_code == 0, text
    data = json.loads((tmp_path / "e" / "expressivity.json").read_text())
    assert {r["family"] for r in data["records"]} == {"ltc", "ctrnn", "node"}
    assert len(data["records"]) == 3 * 4  # widths 4, 6, depth 2 and gain 3 per family
    assert data["base"] == {"width": 6, "depth": 1, "activation": "default", "gain": 1.0}
    assert (tmp_path / "e" / "expressivity.png").stat().st_size > 10_000
