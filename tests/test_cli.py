"""The command line: every command end to end on tiny offline data (CliRunner)."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from liquidtorch.cli import app
from liquidtorch.data import list_tasks
from liquidtorch.zoo import MODELS

runner = CliRunner()

# A tiny XOR task: 60 sequences of 4 bits.
XOR = ["-o", "n_samples=60", "-o", "length=4"]


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    text = result.output
    stderr = getattr(result, "stderr", "") if result.stderr_bytes is not None else ""
    if stderr and stderr not in text:
        text += stderr
    return result, text


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def test_tasks_lists_every_task():
    result, text = invoke("tasks")
    assert result.exit_code == 0, text
    for name in ("xor", "watch", "uci_har"):
        assert name in text
    assert len(list_tasks()) > 5
    assert "offline" in text and "download" in text


def test_models_lists_every_model():
    result, text = invoke("models")
    assert result.exit_code == 0, text
    for name in MODELS:
        assert name in text


@pytest.mark.slow
def test_train_evaluate_resume(tmp_path):
    run = tmp_path / "run"
    args = ["train", "xor", "--model", "cfc", "--units", "4", "--epochs", "1", *XOR]
    result, text = invoke(*args, "--run-dir", run, "--quiet")
    assert result.exit_code == 0, text
    assert "test accuracy" in text
    for name in ("best.pt", "last.pt", "config.json", "metrics.csv", "cli.json", "model.lt"):
        assert (run / name).exists(), name
    # model.lt: the trained model (best weights) in one file, loadable without the run.
    import liquidtorch
    from liquidtorch.experiments import load_run
    from liquidtorch.serialization import load_metadata

    loaded, rebuilt = liquidtorch.load(run / "model.lt"), load_run(run).model
    x = torch.randn(2, 4, 1)
    assert torch.equal(loaded(x), rebuilt(x))
    meta = load_metadata(run / "model.lt")["metadata"]
    assert meta["task"] == "xor" and meta["metric"] == "accuracy"
    spec = json.loads((run / "cli.json").read_text())
    assert spec["task"] == "xor" and spec["model"] == "cfc" and spec["units"] == 4
    assert spec["task_options"] == {"n_samples": 60, "length": 4}

    for split in ("test", "val"):
        result, text = invoke("evaluate", run, "--split", split)
        assert result.exit_code == 0, text
        assert f"({split}, best.pt)" in text and "accuracy" in text and "loss" in text

    # Resume continues the run (saved settings) for one more epoch.
    result, text = invoke(
        "train", "xor", "-m", "cfc", "--epochs", "2", "--run-dir", run, "-q", "--resume"
    )
    assert result.exit_code == 0, text
    assert "2 epochs" in text
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3  # header + 2


def test_train_uses_the_models_learning_rate(tmp_path):
    """No --lr: the task's rate scaled for the model (zoo.training_defaults); --lr wins."""
    from liquidtorch.data import get_task
    from liquidtorch.zoo import model_info

    base = get_task("xor", n_samples=60, length=4).defaults["lr"]
    common = ["--units", "6", "--epochs", "1", "-q", *XOR]
    result, text = invoke("train", "xor", "-m", "cfc_ncp", "--run-dir", tmp_path / "a", *common)
    assert result.exit_code == 0, text
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    scale = model_info("cfc_ncp").lr_scale
    assert config["lr"] == pytest.approx(base * scale) and scale > 1
    assert config["schedule"] == "cosine"
    args = ["train", "xor", "-m", "cfc_ncp", "--lr", "0.02", "--run-dir", tmp_path / "b"]
    result, text = invoke(*args, *common)
    assert result.exit_code == 0, text
    assert json.loads((tmp_path / "b" / "config.json").read_text())["lr"] == 0.02


def test_train_default_run_dir(tmp_path):
    result, text = invoke("train", "xor", "-m", "lstm", "--units", "4", "--epochs", "1", "-q", *XOR)
    assert result.exit_code == 0, text
    assert (tmp_path / "runs" / "xor-lstm-0" / "best.pt").exists()


def test_bench_writes_markdown_and_json(tmp_path):
    out = tmp_path / "bench"
    result, text = invoke(
        "bench", "--tasks", "xor", "--models", "cfc,lstm", "--seeds", "2", "--epochs", "1",
        "--units", "4", "--out", out, *XOR,
    )  # fmt: skip
    assert result.exit_code == 0, text
    report = json.loads((out / "bench.json").read_text())
    rows = report["results"]
    assert [(r["task"], r["model"]) for r in rows] == [("xor", "cfc"), ("xor", "lstm")]
    for r in rows:
        assert len(r["values"]) == 2 and r["seeds"] == [0, 1]
        assert 0.0 <= r["mean"] <= 1.0 and r["std"] >= 0.0
        assert r["parameters"] > 0 and r["seconds_per_epoch"] > 0
    markdown = (out / "bench.md").read_text()
    assert "| xor | cfc | accuracy |" in markdown and "±" in markdown
    assert "lstm" in text


def test_bench_resume_keeps_finished_runs(tmp_path):
    out = tmp_path / "bench"
    common = ["bench", "--tasks", "xor", "--models", "lstm", "--epochs", "1", "--units", "4"]
    result, text = invoke(*common, "--seeds", "1", "--out", out, *XOR)
    assert result.exit_code == 0, text
    first = (out / "runs.jsonl").read_text().splitlines()
    assert len(first) == 1
    # An interrupted bench leaves a torn last line: it is ignored, its run is redone.
    with (out / "runs.jsonl").open("a") as f:
        f.write('{"key": "torn')
    result, text = invoke(*common, "--seeds", "2", "--out", out, "--resume", *XOR)
    assert result.exit_code == 0, text
    assert "1 of 2 runs already done" in text
    assert "seed 0:" not in text and "seed 1:" in text  # only the missing seed ran
    lines = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()[::2]]
    assert json.loads(first[0]) == lines[0]
    report = json.loads((out / "bench.json").read_text())
    assert report["results"][0]["seeds"] == [0, 1]
    assert report["results"][0]["values"][0] == json.loads(first[0])["value"]


def test_bench_resume_reruns_when_defaults_change(tmp_path, monkeypatch):
    """A cached run is reused only while the resolved settings (here the lr) are the same."""
    from liquidtorch import zoo

    args = ["bench", "--tasks", "xor", "--models", "lstm", "--seeds", "1", "--epochs", "1"]
    args += ["--units", "4", "--out", tmp_path, "--resume", *XOR]
    assert invoke(*args)[0].exit_code == 0
    result, text = invoke(*args)
    assert result.exit_code == 0 and "1 of 1 runs already done" in text, text
    info = dataclasses.replace(zoo.model_info("lstm"), lr_scale=2.0)
    monkeypatch.setitem(zoo._REGISTRY, "lstm", info)
    result, text = invoke(*args)
    assert result.exit_code == 0 and "0 of 1 runs already done" in text, text


@pytest.mark.slow
def test_bench_jobs_equal_in_process(tmp_path):
    """Worker processes give the same results as the in-process loop (seeded runs)."""
    args = ["bench", "--tasks", "xor", "--models", "cfc,lstm", "--seeds", "1", "--epochs", "1"]
    args += ["--units", "4", *XOR, "-q"]
    result, text = invoke(*args, "--out", tmp_path / "one")
    assert result.exit_code == 0, text
    result, text = invoke(*args, "--out", tmp_path / "two", "--jobs", "2")
    assert result.exit_code == 0, text
    one, two = (json.loads((tmp_path / d / "bench.json").read_text()) for d in ("one", "two"))
    assert [r["values"] for r in one["results"]] == [r["values"] for r in two["results"]]


@pytest.mark.slow
def test_demo_quick():
    result, text = invoke("demo", "--quick")
    assert result.exit_code == 0, text
    from liquidtorch.experiments.demo import DEMO_MODELS

    labels = [m.label for m in DEMO_MODELS]
    assert labels == ["cfc_ncp", "ltc_ncp", "lstm", "lstm (25 units)"]
    for name in (*labels, "synapses", "parameters"):
        assert name in text
    assert "In short:" in text


def test_demo_summary_compares_with_the_lstm_of_equal_size():
    from liquidtorch.cli.bench import demo_summary
    from liquidtorch.experiments.demo import DemoRow

    rows = [
        DemoRow("cfc_ncp", 0.60, 800, 300, 1.0, 1.0),
        DemoRow("ltc_ncp", 0.78, 830, 300, 1.0, 1.0),
        DemoRow("lstm", 0.85, 5479, 0, 1.0, 1.0),
        DemoRow("lstm (10 units)", 0.72, 837, 0, 1.0, 1.0),
    ]
    line = demo_summary(rows, "accuracy")
    assert line.startswith("In short: ltc_ncp (830 parameters) scores accuracy 0.780, ahead of")
    assert "(0.720, 837 parameters)" in line and "0.850 with 5479 parameters" in line
    rows[1] = DemoRow("ltc_ncp", 0.70, 830, 300, 1.0, 1.0)
    assert "ltc_ncp (830 parameters) scores accuracy 0.700, behind" in demo_summary(
        rows, "accuracy"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "nope", "-m", "cfc"], "unknown task 'nope'"),
        (["train", "xor", "-m", "nope"], "unknown model 'nope'"),
        (["bench", "--tasks", "xor,nope"], "unknown task 'nope'"),
        (["bench", "--models", "lstm,nope"], "unknown model 'nope'"),
        (["evaluate", "missing-run"], "does not exist"),
        (["train", "xor", "-m", "cfc", "--run-dir", "missing-run", "--resume"], "does not exist"),
        (["evaluate", ".", "--split", "train"], "--split must be test or val"),
        (["train", "xor", "-m", "cfc", "-o", "nonsense"], "KEY=VALUE"),
        (["train", "xor", "-m", "cfc", "-o", "bogus=1"], "task 'xor'"),
        (["train", "xor", "-m", "cfc", "-o", "length=abc", "-q"], "length"),
        (["train", "xor", "-m", "cfc", "--device", "nosuch", *XOR, "-q"], "device"),
        (["train", "missing.csv", "-m", "cfc", "--target", "y"], "does not exist"),
        (["train", "xor", "-m", "cfc", "--target", "y"], "for data files"),
        (["train", "xor"], "--model"),
        (["train", "xor", "--config", "missing-best.json"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message):
    result, text = invoke(*args)
    assert result.exit_code == 2, text
    assert message in text
    assert "Traceback" not in text
    if "unknown task" in message:
        assert "xor" in text and "watch" in text  # the valid names are listed
    if "unknown model" in message:
        assert "cfc_ncp" in text


def _write_user_csv(path: Path) -> None:
    """12 recordings (ids) of 10 irregular steps: features a, b; target y = a + b at each."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["walk,t,a,b,y"]
    for walk in range(12):
        t = np.cumsum(rng.uniform(0.5, 1.5, 10))
        a, b = rng.normal(size=10), rng.normal(size=10)
        rows += [f"{walk},{t[i]:.3f},{a[i]:.4f},{b[i]:.4f},{a[i] + b[i]:.4f}" for i in range(10)]
    path.write_text("\n".join(rows) + "\n")


def test_train_and_evaluate_a_users_csv(tmp_path):
    data = tmp_path / "walks.csv"
    _write_user_csv(data)
    run = tmp_path / "run"
    args = ["train", data, "-m", "lstm", "--units", "4", "--epochs", "2", "--run-dir", run]
    args += ["--time-column", "t", "--target", "y", "--id-column", "walk", "-q"]
    result, text = invoke(*args)
    assert result.exit_code == 0, text
    assert "test mse" in text
    spec = json.loads((run / "cli.json").read_text())
    assert spec["task"] == str(data)
    assert spec["task_options"] == {"time_column": "t", "target_column": "y", "id_column": "walk"}
    result, text = invoke("evaluate", run)
    assert result.exit_code == 0 and "mse" in text, text


def test_train_config_from_a_tuned_best_json(tmp_path):
    from liquidtorch.train import write_json_atomic
    from liquidtorch.tune.best import make_best

    best = make_best(
        task="xor",
        task_options={"n_samples": 60, "length": 4},
        model="cfc",
        units=5,
        model_options={"backbone_units": 6},
        train={"lr": 0.003, "epochs": 1},
        result={},
    )
    write_json_atomic(tmp_path / "best.json", best)
    run = tmp_path / "run"
    result, text = invoke(
        "train", "xor", "--config", tmp_path / "best.json", "--run-dir", run, "-q"
    )
    assert result.exit_code == 0, text
    spec = json.loads((run / "cli.json").read_text())
    assert spec["model"] == "cfc" and spec["units"] == 5
    assert spec["model_options"] == {"backbone_units": 6}
    assert spec["task_options"] == {"n_samples": 60, "length": 4}
    config = json.loads((run / "config.json").read_text())
    assert config["lr"] == 0.003 and config["epochs"] == 1


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_evaluate_a_corrupt_checkpoint_says_so_in_one_line(tmp_path, damage):
    run = tmp_path / "run"
    args = ["train", "xor", "-m", "lstm", "--units", "4", "--epochs", "1", *XOR, "-q"]
    assert invoke(*args, "--run-dir", run)[0].exit_code == 0
    best = run / "best.pt"
    data = best.read_bytes()
    best.write_bytes(
        {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"x" * 99}[damage]
    )
    result, text = invoke("evaluate", run)
    assert result.exit_code == 2, text
    assert "corrupt" in text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1


def test_evaluate_unfinished_run_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    result, text = invoke("evaluate", tmp_path / "empty")
    assert result.exit_code == 2 and "missing cli.json" in text


@pytest.mark.slow
def test_python_dash_m():
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-m", "liquidtorch", "models"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "cfc_ncp" in out.stdout
