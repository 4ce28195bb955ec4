"""liquidtorch.save / load: one file, a fresh process, and clear errors for bad files."""

import json
import pickle
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch

import liquidtorch
from liquidtorch import LTC, CfC
from liquidtorch.serialization import FORMAT_VERSION, load_metadata
from liquidtorch.wirings import AutoNCP
from liquidtorch.zoo import build_model, list_models

pytestmark = pytest.mark.usefixtures("one_thread")


def _task(per_step: bool):
    return SimpleNamespace(input_size=3, output_size=2, per_step=per_step, defaults={})


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_model_round_trips(name, tmp_path):
    model = build_model(name, _task(per_step=name < "l"), units=8, seed=3).eval()
    loaded = liquidtorch.load(liquidtorch.save(model, tmp_path / "m.lt"))
    assert type(loaded) is type(model) and loaded.config == model.config
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.slow  # a new interpreter imports torch (~10 s on a busy machine)
def test_every_zoo_model_round_trips_in_a_fresh_process(tmp_path):
    """Save every zoo model, load them all in a new interpreter (no code that built them),
    and compare outputs on the same input: exactly equal."""
    x = torch.randn(2, 6, 3)
    expected = {}
    for k, name in enumerate(list_models()):
        model = build_model(name, _task(per_step=k % 2 == 0), units=8, seed=k).eval()
        liquidtorch.save(model, tmp_path / f"{name}.lt")
        with torch.no_grad():
            expected[name] = model(x)
    torch.save(x, tmp_path / "x.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch, liquidtorch
        torch.set_num_threads(1)
        x = torch.load(sys.argv[1] + "/x.pt", weights_only=True)
        out, weights = {{}}, {{}}
        with torch.no_grad():
            for name in {list_models()!r}:
                model = liquidtorch.load(sys.argv[1] + "/" + name + ".lt")
                out[name], weights[name] = model(x), model.state_dict()
        torch.save({{"out": out, "weights": weights}}, sys.argv[1] + "/out.pt")
        """
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=300)
    got = torch.load(tmp_path / "out.pt", weights_only=True)
    assert set(got["out"]) == set(expected)
    for k, name in enumerate(expected):
        model = build_model(name, _task(per_step=k % 2 == 0), units=8, seed=k)
        for key, value in model.state_dict().items():
            assert torch.equal(got["weights"][name][key], value), (name, key)
        # the same weights; the kernels may take another path in another process
        torch.testing.assert_close(got["out"][name], expected[name], atol=1e-6, rtol=0)


def test_layer_with_wiring_and_metadata(tmp_path):
    layer = LTC(3, AutoNCP(10, 2, seed=5), mixed_memory=True, proj_size=1).eval()
    path = liquidtorch.save(layer, tmp_path / "m.lt", metadata={"features": ["a", "b", "c"]})
    loaded = liquidtorch.load(path)
    assert type(loaded) is LTC and loaded.cell.cell.wiring == layer.cell.cell.wiring
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], layer(x)[0])
    header = load_metadata(path)
    assert header["metadata"] == {"features": ["a", "b", "c"]}
    assert header["format_version"] == FORMAT_VERSION
    assert header["liquidtorch_version"] == liquidtorch.__version__
    assert not loaded.training


def test_undescribable_models_are_refused(tmp_path):
    with pytest.raises(TypeError, match="only a zoo SequenceModel or a sequence layer"):
        liquidtorch.save(torch.nn.Linear(2, 2), tmp_path / "x.lt")
    with pytest.raises(TypeError, match="cannot describe"):
        liquidtorch.save(CfC(2, 4, activation=torch.sin), tmp_path / "x.lt")
    assert not (tmp_path / "x.lt").exists()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.lt"
    liquidtorch.save(CfC(3, 8), path)
    return path


def _one_line_value_error(path, match):
    with pytest.raises(ValueError, match=match) as info:
        liquidtorch.load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert info.value.__cause__ is None  # no unpickling traceback chained to it


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    _one_line_value_error(saved, "damaged or truncated")


def test_flipped_weight_bytes(saved):
    """A byte changed inside the weights: the zip checksum or ours catches it."""
    data = bytearray(saved.read_bytes())
    start = data.index(b"data/0") + 200  # inside the first tensor's payload
    data[start] ^= 0xFF
    saved.write_bytes(bytes(data))
    _one_line_value_error(saved, "damaged|modified or corrupted")


def test_rewritten_settings_fail_the_checksum(saved):
    blob = torch.load(saved, weights_only=True)
    header = json.loads(blob["header"])
    header["config"]["args"]["units"] = 9
    blob["header"] = json.dumps(header)
    torch.save(blob, saved)
    _one_line_value_error(saved, "checksum mismatch")


class _Evil:
    def __reduce__(self):
        return (print, ("PWNED",))


def test_a_malicious_pickle_is_not_run(tmp_path, capsys):
    path = tmp_path / "evil.lt"
    torch.save({"header": _Evil()}, path)
    _one_line_value_error(path, "damaged or truncated")
    assert "PWNED" not in capsys.readouterr().out
    path.write_bytes(pickle.dumps(_Evil()))
    _one_line_value_error(path, "damaged or truncated")


def test_foreign_files(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(CfC(3, 4).state_dict(), path)
    _one_line_value_error(path, "not written by liquidtorch.save")
    path.write_text("hello")
    _one_line_value_error(path, "damaged or truncated")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        liquidtorch.load(tmp_path / "missing.lt")


def test_newer_format_is_refused_with_advice(saved):
    from liquidtorch.serialization import _digest

    blob = torch.load(saved, weights_only=True)
    header = json.loads(blob["header"])
    header["format_version"] = FORMAT_VERSION + 1
    blob["header"] = json.dumps(header)
    blob["sha256"] = _digest(blob["header"], blob["weights"])
    torch.save(blob, saved)
    _one_line_value_error(saved, "upgrade liquidtorch")
