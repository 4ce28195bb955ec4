"""liquidtorch.tune and `liquidtorch tune`: spaces, studies (run, prune, resume, two workers
sharing a journal file), best.json, and one-line CLI errors."""

import json

import pytest

optuna = pytest.importorskip("optuna")

from typer.testing import CliRunner  # noqa: E402

from liquidtorch.cli.main import app  # noqa: E402
from liquidtorch.train import write_json_atomic  # noqa: E402
from liquidtorch.tune import (  # noqa: E402
    Categorical,
    Fixed,
    FloatRange,
    IntRange,
    TuneSpec,
    default_space,
    load_best,
    load_space,
    make_best,
    parse_dimension,
    tune,
)

pytestmark = pytest.mark.usefixtures("one_thread")

XOR = {"n_samples": 200, "length": 8}
# A tiny LSTM study: two sizes, a learning-rate range, nothing else searched.
TINY = {"units": "4,8", "lr": "1e-3:3e-2:log", "batch_size": "64", "weight_decay": "-"}


def tiny_spec(run_dir, **kw) -> TuneSpec:
    kw = {"trials": 2, "epochs": 2, "task_options": XOR} | kw
    return TuneSpec("xor", "lstm", run_dir, space=default_space("lstm").updated(TINY), **kw)


def numbers(run_dir) -> list[tuple[int, str]]:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(run_dir / "study.journal"))
    )
    study = optuna.load_study(study_name="xor-lstm", storage=storage)
    return [(t.number, t.state.name) for t in study.trials]


# ---------------------------------------------------------------------------- spaces
def test_parse_dimension_forms():
    assert parse_dimension("1e-4:1e-2:log") == FloatRange(1e-4, 1e-2, log=True)
    assert parse_dimension("16:64") == IntRange(16, 64)
    assert parse_dimension("16,32,64") == Categorical((16, 32, 64))
    assert parse_dimension("default,pure") == Categorical(("default", "pure"))
    assert parse_dimension("true,false") == Categorical((True, False))
    assert parse_dimension("default") == Fixed("default")
    assert parse_dimension({"low": 0.1, "high": 0.9}) == FloatRange(0.1, 0.9)
    assert parse_dimension([2, 4]) == Categorical((2, 4))
    for bad in ("1:2:3", "a:b", "0:1e-2:log", "5:1"):
        with pytest.raises(ValueError):
            parse_dimension(bad)


def test_space_update_split_and_defaults():
    space = default_space("cfc_ncp")
    assert set(space) == {
        "lr", "weight_decay", "batch_size", "units", "sparsity_level", "motor_neurons", "mode"
    }  # fmt: skip
    assert "mode" not in default_space("cfc_pure")  # the zoo entry fixes the mode
    narrowed = space.updated({"units": "32", "mode": "-", "mixed_memory": "true,false"})
    assert "mode" not in narrowed and narrowed["units"] == Fixed(32)
    assert "units" not in narrowed.searched and "mixed_memory" in narrowed.searched
    s = narrowed.split({"units": 32, "lr": 0.01, "sparsity_level": 0.3, "batch_size": 64})
    assert (s.units, s.model_options, s.train) == (32, {"sparsity_level": 0.3},
                                                   {"lr": 0.01, "batch_size": 64})  # fmt: skip
    assert load_space is not None and narrowed.to_json()["units"] == "32"


def test_ncp_space_for_many_outputs():
    """With more than 8 outputs the motor neurons are fixed at the outputs (no bottleneck)."""
    from types import SimpleNamespace

    space = default_space("ltc_ncp", SimpleNamespace(output_size=17))
    assert space["motor_neurons"] == Fixed(17) and space["units"] == Categorical((32, 48, 64))
    assert default_space("ltc_ncp", SimpleNamespace(output_size=7))["motor_neurons"] == IntRange(
        4, 8
    )


def test_ltc_space_options_build_a_solver(tmp_path):
    """The LTC space's ``ode_unfolds`` (and a ``solver`` by name) are zoo model options."""
    from liquidtorch.experiments import load_task
    from liquidtorch.solvers import RK4, SemiImplicit
    from liquidtorch.zoo import build_model

    assert "ode_unfolds" in default_space("ltc_ncp").searched
    task = load_task("xor", XOR)
    cell = build_model("ltc_ncp", task, units=8, ode_unfolds=3).layer.cells[0]
    assert cell.solver == SemiImplicit(unfolds=3)
    cell = build_model("ltc_ncp", task, units=8, solver="rk4").layer.cells[0]
    assert cell.solver == RK4(unfolds=6)


# --------------------------------------------------------------------------- studies
def test_tiny_study_runs_and_writes_best(tmp_path):
    result = tune(tiny_spec(tmp_path), quiet=True)
    assert result.counts == {"complete": 2}
    best = load_best(tmp_path / "best.json")
    assert best == result.best
    assert best["model"] == "lstm" and best["task"] == "xor" and best["task_options"] == XOR
    assert best["units"] in (4, 8) and best["train"]["epochs"] == 2
    assert best["train"]["batch_size"] == 64  # fixed dimensions are part of the settings
    assert 1e-3 <= best["train"]["lr"] <= 3e-2 and best["result"]["trials"] == 2
    # The first trial is the untuned default where the space holds it (lr 5e-3; units 32
    # is outside the space, so sampled).
    first = numbers(tmp_path)
    assert len(first) == 2
    rows = (tmp_path / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("number,state,value") and len(rows) == 3
    assert (tmp_path / "history.png").stat().st_size > 1000


def test_defaults_first_trial(tmp_path):
    tune(tiny_spec(tmp_path, trials=1), quiet=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.journal"))
    )
    trial = optuna.load_study(study_name="xor-lstm", storage=storage).trials[0]
    assert trial.params["lr"] == pytest.approx(5e-3)  # the xor task's default rate


def test_pruning_stops_trials(tmp_path):
    # Accuracy is never >= 2: this pruner prunes every trial at its first report.
    always = optuna.pruners.ThresholdPruner(lower=2.0)
    result = tune(tiny_spec(tmp_path, pruner=always, epochs=3), quiet=True)
    assert result.counts == {"pruned": 2} and result.best is None
    assert not (tmp_path / "best.json").exists()
    rows = [r.split(",") for r in (tmp_path / "trials.csv").read_text().splitlines()[1:]]
    assert [(r[1], r[3]) for r in rows] == [("pruned", "1")] * 2  # state, epochs run


def test_study_resumes_from_its_journal(tmp_path):
    tune(tiny_spec(tmp_path, trials=1), quiet=True)
    assert numbers(tmp_path) == [(0, "COMPLETE")]
    result = tune(tiny_spec(tmp_path, trials=3), quiet=True)  # runs the 2 missing trials
    assert numbers(tmp_path) == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]
    assert result.best["result"]["trials"] == 3
    tune(tiny_spec(tmp_path, trials=3), quiet=True)  # finished: nothing more runs
    assert len(numbers(tmp_path)) == 3


def test_killed_trials_do_not_count(tmp_path):
    """A trial left running by a killed process is failed (stale) on resume with
    fail_stale; it does not count, and the defaults trial it held runs again."""
    spec = tiny_spec(tmp_path, trials=1, fail_stale=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.journal"))
    )
    study = optuna.create_study(study_name="xor-lstm", storage=storage, direction="maximize")
    study.enqueue_trial({"lr": 5e-3})
    study.ask()  # trial 0 starts with the defaults and its process dies
    result = tune(spec, quiet=True)
    trials = optuna.load_study(study_name="xor-lstm", storage=storage).trials
    assert [(t.number, t.state.name) for t in trials] == [(0, "FAIL"), (1, "COMPLETE")]
    assert trials[0].user_attrs == {"stale": True}
    assert trials[1].params["lr"] == pytest.approx(5e-3)
    assert result.best["result"]["trials"] == 1


@pytest.mark.slow
def test_two_worker_processes_share_one_journal(tmp_path):
    result = tune(tiny_spec(tmp_path, trials=4, jobs=2, epochs=1), quiet=True)
    assert result.counts == {"complete": 4}
    workers = {
        json.loads(line).get("worker_id")
        for line in (tmp_path / "study.journal").read_text().splitlines()
        if json.loads(line).get("op_code") == 4  # a trial created
    }
    assert len(workers) == 3  # the parent enqueued the first trial; each worker made its own


def test_best_json_round_trip_and_errors(tmp_path):
    doc = make_best(
        task="watch",
        task_options={},
        model="ltc_ncp",
        units=24,
        model_options={"ode_unfolds": 4, "sparsity_level": 0.4},
        train={"lr": 0.01, "epochs": 12},
        result={"metric": "accuracy", "value": 0.8},
    )
    path = tmp_path / "best.json"
    write_json_atomic(path, doc)
    assert load_best(path) == doc
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is corrupt"):
        load_best(path)
    write_json_atomic(path, {k: v for k, v in doc.items() if k != "units"})
    with pytest.raises(ValueError, match="lacks units"):
        load_best(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_best(tmp_path / "missing.json")


def test_best_settings_build_and_train(tmp_path):
    """best.json's settings rebuild the trial's model (what `train --config` does)."""
    from liquidtorch.experiments import load_task
    from liquidtorch.train import TrainConfig
    from liquidtorch.zoo import build_model, effective_parameters

    tune(tiny_spec(tmp_path), quiet=True)
    best = load_best(tmp_path / "best.json")
    task = load_task(best["task"], best["task_options"])
    model = build_model(best["model"], task, units=best["units"], **best["model_options"])
    assert effective_parameters(model) == best["result"]["parameters"]
    config = TrainConfig.for_task(task, **best["train"])
    assert (config.lr, config.epochs) == (best["train"]["lr"], 2)


# ------------------------------------------------------------------------------- CLI
runner = CliRunner()


def cli(*args):
    return runner.invoke(app, ["tune", *args])


def one_line_error(result, code=2) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_cli_tunes_and_writes_best(tmp_path):
    run = tmp_path / "run"
    result = cli(
        "xor", "-m", "lstm", "--trials", "2", "--epochs", "1", "-o", "n_samples=200",
        "-o", "length=8", "-p", "units=4,8", "-p", "batch_size=64", "-p", "weight_decay=-",
        "--run-dir", str(run), "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "best val accuracy" in result.output
    assert load_best(run / "best.json")["units"] in (4, 8)


def test_best_json_round_trips_into_train(tmp_path):
    """`liquidtorch train TASK --config best.json` trains the best trial's settings."""
    tune(tiny_spec(tmp_path / "study"), quiet=True)
    best = load_best(tmp_path / "study" / "best.json")
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "xor", "--config", str(tmp_path / "study" / "best.json"),
              "--run-dir", str(run), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    spec = json.loads((run / "cli.json").read_text())
    assert (spec["model"], spec["units"], spec["task_options"]) == ("lstm", best["units"], XOR)
    config = json.loads((run / "config.json").read_text())
    assert config["lr"] == best["train"]["lr"] and config["epochs"] == 2


def test_cli_user_csv(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    n = 240
    lines = ["t,a,b,y"] + [
        f"{i * 0.5:.1f},{a:.4f},{b:.4f},{a - b:.4f}"
        for i, (a, b) in enumerate(rng.normal(size=(n, 2)))
    ]
    data = tmp_path / "rec.csv"
    data.write_text("\n".join(lines) + "\n")
    result = cli(
        str(data), "-m", "gru", "--time-column", "t", "--target", "y", "-o", "window=20",
        "--trials", "1", "--epochs", "1", "-p", "units=4", "-p", "lr=1e-3:1e-2",
        "-p", "batch_size=16", "--run-dir", str(tmp_path / "run"), "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    best = load_best(tmp_path / "run" / "best.json")
    assert best["task_options"] == {"time_column": "t", "target_column": "y", "window": 20}
    assert best["result"]["metric"] == "mse"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("--storage", "redis://nowhere"), "not a database URL"),
        (("--storage", "postgresql://u@127.0.0.1:1/db"), "cannot open storage"),
        (("-p", "units=4", "-p", "lr=0.01", "-p", "weight_decay=0", "-p", "batch_size=64"),
         "search space is empty"),
        (("-p", "units=oops:3"), "units"),
        (("-p", "nonsense"), "NAME=SPEC"),
        (("-p", "bogus_option=1,2"), "bogus_option"),
        (("--pruner", "sometimes"), "pruner"),
    ],
)  # fmt: skip
def test_cli_bad_settings_one_line_exit_2(tmp_path, args, match):
    result = cli("xor", "-m", "lstm", "-o", "n_samples=200", "--run-dir", str(tmp_path), *args)
    assert match in one_line_error(result)


def test_cli_bad_names_and_files_exit_2(tmp_path):
    assert "unknown model" in one_line_error(cli("xor", "-m", "nope", "--run-dir", str(tmp_path)))
    assert "unknown task" in one_line_error(cli("nope", "-m", "lstm", "--run-dir", str(tmp_path)))
    missing = tmp_path / "missing.csv"
    assert "does not exist" in one_line_error(cli(str(missing), "-m", "lstm", "--target", "y"))
    space = tmp_path / "space.json"
    space.write_text("[1, 2")
    line = one_line_error(cli("xor", "-m", "lstm", "--space", str(space)))
    assert "is corrupt" in line
    space.write_text("{}")
    assert "empty" in one_line_error(cli("xor", "-m", "lstm", "--space", str(space)))
