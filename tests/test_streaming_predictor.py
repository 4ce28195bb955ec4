"""StreamingPredictor and predict_file: pieces of a stream give the whole-sequence answer."""

import numpy as np
import pytest
import torch

from liquidtorch import LTC, CfC
from liquidtorch.streaming import StreamingPredictor, predict_file
from liquidtorch.wirings import AutoNCP
from liquidtorch.zoo import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


class _Task:
    def __init__(self, per_step):
        self.input_size, self.output_size, self.per_step, self.defaults = 3, 2, per_step, {}


MODELS = {
    "cfc_per_step": lambda: build_model("cfc", _Task(True), units=8),
    "ltc_ncp_per_sequence": lambda: build_model("ltc_ncp", _Task(False), units=10),
    "cfc_mixed_stacked_layer": lambda: CfC(3, 6, mixed_memory=True, num_layers=2),
    "ltc_wired_layer_proj": lambda: LTC(3, AutoNCP(8, 2), proj_size=1),
    "lstm": lambda: build_model("lstm", _Task(True), units=5),
    "cfc_ncp_per_step": lambda: build_model("cfc_ncp", _Task(True), units=10),
    "ltc_dense_layer": lambda: LTC(3, 6),
}


def _whole(model, x, dt):
    """The model's own answer on the whole sequence, as (time, out) or (out,)."""
    with torch.no_grad():
        out = model(x.unsqueeze(0), timespans=dt.unsqueeze(0))
    out = out[0] if isinstance(out, tuple) else out
    return out[0]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_samples_and_chunks_equal_the_whole_sequence(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    x, dt = torch.randn(23, 3), 0.2 + torch.rand(23)
    whole = _whole(model, x, dt)
    predictor = StreamingPredictor(model)
    pieces = [predictor.predict(x[:7], dt[:7], stream="a")]
    pieces += [predictor.step(x[t], float(dt[t]), stream="a").unsqueeze(0) for t in range(7, 12)]
    pieces.append(predictor.predict(x[12:], dt[12:], stream="a"))
    streamed = torch.cat(pieces)
    if whole.dim() == 1:  # a per-sequence model: the last step's prediction
        streamed = streamed[-1]
    torch.testing.assert_close(streamed, whole, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["cfc_per_step", "ltc_ncp_per_sequence", "cfc_ncp_per_step"])
def test_single_samples_take_the_compiled_step(name, monkeypatch):
    pytest.importorskip("numba")
    model = MODELS[name]().eval()
    cell = model.layer.cells[0]
    calls = []
    real = cell.fused_step
    monkeypatch.setattr(cell, "fused_step", lambda *a: calls.append(1) or real(*a))
    predictor = StreamingPredictor(model)
    predictor.step(torch.randn(3), 0.5)
    predictor.step(torch.randn(3), 0.5)
    assert len(calls) == 2
    predictor.predict(torch.randn(4, 3))  # a chunk: one scan
    assert len(calls) == 2


def test_streams_are_independent_and_reset():
    model = CfC(3, 4).eval()
    x = torch.randn(10, 3)
    p = StreamingPredictor(model)
    first = p.predict(x, stream=1)
    p.predict(torch.randn(5, 3), stream=2)  # another stream in between changes nothing
    assert sorted(p.streams) == [1, 2]
    p.reset(1)
    torch.testing.assert_close(p.predict(x, stream=1), first)
    p.reset()
    assert p.streams == []


def test_bad_inputs_are_named():
    p = StreamingPredictor(CfC(3, 4))
    with pytest.raises(ValueError, match=r"x: expected \(time, 3\)"):
        p.predict(torch.randn(4, 2))
    with pytest.raises(ValueError, match="dt: every elapsed time"):
        p.predict(torch.randn(2, 3), [1.0, 0.0])
    with pytest.raises(ValueError, match="dt: expected 2"):
        p.predict(torch.randn(2, 3), [1.0])
    with pytest.raises(ValueError, match="bidirectional"):
        StreamingPredictor(CfC(3, 4, bidirectional=True))


def _csv(tmp_path, rng):
    """Two interleaved streams with irregular times (seconds), shuffled across ids."""
    import pandas as pd

    rows = []
    for sid, n in (("u1", 30), ("u2", 17)):
        t = np.cumsum(rng.uniform(0.5, 1.5, n)) * 2.0  # median step ~2 s
        for k in range(n):
            rows.append({"id": sid, "t": t[k], "a": rng.normal(), "b": rng.normal(),
                         "c": rng.normal()})  # fmt: skip
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    df = df.sort_values("t", kind="stable")  # time order, ids interleaved
    path = tmp_path / "feed.csv"
    df.to_csv(path, index=False)
    return path, df


def test_predict_file_equals_the_model_in_python(tmp_path):
    import pandas as pd

    model = build_model("cfc", _Task(True), units=8).eval()
    path, df = _csv(tmp_path, np.random.default_rng(0))
    out = tmp_path / "pred.csv"
    summary = predict_file(
        model, path, out, time_column="t", id_column="id", time_scale=2.0, chunk_rows=10,
        classes=["x", "y"],
    )  # fmt: skip
    assert summary["rows"] == len(df) and summary["streams"] == 2
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["t", "id", "output_0", "output_1", "class"]
    assert len(pred) == len(df)
    for sid in ("u1", "u2"):
        rows = df[df.id == sid]
        x = torch.tensor(rows[["a", "b", "c"]].to_numpy(), dtype=torch.float32)
        t = rows.t.to_numpy()
        dt = torch.tensor(np.concatenate([[1.0], np.diff(t) / 2.0]), dtype=torch.float32)
        expected = _whole(model, x, dt).numpy()
        got = pred[pred.id == sid][["output_0", "output_1"]].to_numpy()
        np.testing.assert_allclose(got, expected, atol=2e-6)
        labels = np.array(["x", "y"])[expected.argmax(1)]
        assert (pred[pred.id == sid]["class"].to_numpy() == labels).all()


def test_predict_file_errors(tmp_path):
    import pandas as pd

    model = CfC(3, 4)
    path = tmp_path / "f.csv"
    pd.DataFrame({"t": [0.0, 2.0, 1.0], "a": [1, 2, 3], "b": [1, 2, 3], "c": [0, 0, 0]}).to_csv(
        path, index=False
    )
    with pytest.raises(ValueError, match="row 2: time does not increase"):
        predict_file(model, path, tmp_path / "o.csv", time_column="t")
    assert not (tmp_path / "o.csv").exists()  # nothing half-written
    with pytest.raises(ValueError, match="4 feature columns"):
        predict_file(model, path, tmp_path / "o.csv")
    with pytest.raises(ValueError, match=r"column\(s\) \['zz'\] not found"):
        predict_file(model, path, tmp_path / "o.csv", id_column="zz")


def test_cli_predict_model_file(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    import liquidtorch
    from liquidtorch.cli import app

    model = build_model("ltc_ncp", _Task(True), units=8).eval()
    liquidtorch.save(model, tmp_path / "m.lt")
    path, df = _csv(tmp_path, np.random.default_rng(1))
    args = ["predict", str(tmp_path / "m.lt"), str(path), "--time-column", "t",
            "--id-column", "id", "--chunk-rows", "7", "--time-scale", "2", "-q"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 stream(s)" in result.output
    pred = pd.read_csv(tmp_path / "feed.predictions.csv")
    rows = df[df.id == "u2"]
    x = torch.tensor(rows[["a", "b", "c"]].to_numpy(), dtype=torch.float32)
    t = rows.t.to_numpy()
    dt = torch.tensor(np.concatenate([[1.0], np.diff(t) / 2.0]), dtype=torch.float32)
    expected = _whole(model, x, dt).numpy()
    got = pred[pred.id == "u2"][["output_0", "output_1"]].to_numpy()
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_parquet_with_datetimes_equals_csv_with_seconds(tmp_path):
    import pandas as pd

    pytest.importorskip("pyarrow")
    model = CfC(3, 4).eval()
    path, df = _csv(tmp_path, np.random.default_rng(2))
    stamped = df.assign(t=pd.Timestamp("2024-01-01") + pd.to_timedelta(df.t, unit="s"))
    stamped.to_parquet(tmp_path / "feed.parquet", index=False)
    kw = {"time_column": "t", "id_column": "id", "time_scale": 2.0, "chunk_rows": 9}
    predict_file(model, path, tmp_path / "a.csv", **kw)
    predict_file(model, tmp_path / "feed.parquet", tmp_path / "b.csv", **kw)
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    np.testing.assert_allclose(
        a[["output_0", "output_1", "output_2", "output_3"]].to_numpy(),
        b[["output_0", "output_1", "output_2", "output_3"]].to_numpy(),
        atol=1e-6,
    )
