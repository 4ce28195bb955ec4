"""Fault injection: interrupts at every point of a training step, corrupt and foreign files,
symbolic links planted in a run directory.

The interrupted runs are compared with an uninterrupted one bitwise (CPU, one thread): an
interrupt may cost repeated work, never change the result.
"""

import os
import signal

import pytest
import torch
from torch import nn
from toy_task import toy_task  # noqa: I001

from liquidtorch.baselines import GRU
from liquidtorch.data import cached
from liquidtorch.train import (
    TrainConfig,
    Trainer,
    load_checkpoint,
    task_loss,
    task_metric,
    write_json_atomic,
)
from liquidtorch.wirings import Wiring

pytestmark = pytest.mark.usefixtures("one_thread")

EPOCHS, STEPS = 3, 4  # 64 training sequences in batches of 16


TASK = toy_task()


class Net(nn.Module):
    """With dropout: a resumed run must restore the RNG states to match."""

    def __init__(self, hidden: int = 6):
        super().__init__()
        torch.manual_seed(5)
        self.rnn = GRU(2, hidden, return_sequences=False)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x, timespans=None, *, lengths=None):
        return self.head(self.drop(self.rnn(x, timespans=timespans, lengths=lengths)[0]))


def _trainer(run_dir, *, model=None, **config) -> Trainer:
    settings = dict(
        epochs=EPOCHS,
        batch_size=16,
        lr=2e-2,
        schedule="cosine",
        progress=False,
        run_dir=run_dir,
        restore_best=False,
    )
    return Trainer(
        model or Net(),
        task_loss(TASK),
        TASK.train,
        TASK.val,
        TrainConfig(**settings | config),
        metric_fn=task_metric(TASK),
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: final weights, history, best.pt."""
    run_dir = tmp_path_factory.mktemp("reference")
    trainer = _trainer(run_dir)
    result = trainer.fit()
    best = torch.load(run_dir / "best.pt", weights_only=True)
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    return weights, result.history, best


def _assert_same_run(trainer, history, reference):
    weights, ref_history, ref_best = reference
    for k, v in weights.items():
        assert torch.equal(trainer.model.state_dict()[k], v), k
    for row, ref in zip(history, ref_history, strict=True):
        for key in ("epoch", "train_loss", "val_loss", "val_metric", "lr"):
            assert row[key] == ref[key], (key, row, ref)
    best = torch.load(trainer.config.run_dir / "best.pt", weights_only=True)
    assert best["epoch"] == ref_best["epoch"] and best["metric"] == ref_best["metric"]
    for k, v in ref_best["model"].items():
        assert torch.equal(best["model"][k], v), k


def _no_temporary_files(run_dir):
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def _resume_and_compare(run_dir, reference):
    trainer = _trainer(run_dir, resume=True, model=Net())
    result = trainer.fit()
    _assert_same_run(trainer, result.history, reference)


class Countdown:
    """Raise KeyboardInterrupt on the n-th call (training calls only where it matters)."""

    def __init__(self, n: int):
        self.n = n

    def tick(self):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


# -------------------------------------------------------------- interrupted training
STEP_POINTS = [
    "forward",  # in the loss: before backward
    "backward",  # inside autograd's backward pass
    "after_backward",  # gradients computed, before clipping and the update
    "optimizer_step_start",  # inside optimizer.step, before any weight changes
    "after_optimizer_step",  # weights updated, bookkeeping not yet
    "step_end",  # the step is complete (on_step_end callback)
    "evaluation",  # in the validation pass at the end of an epoch
]


@pytest.mark.parametrize(
    "at_step", [STEPS + 2] + [pytest.param(n, marks=pytest.mark.slow) for n in (1, 2 * STEPS)]
)
@pytest.mark.parametrize("point", STEP_POINTS)
def test_interrupt_anywhere_in_a_step_then_resume_is_exact(
    tmp_path, monkeypatch, reference, point, at_step
):
    trainer = _trainer(tmp_path)
    countdown = Countdown(at_step if point != "evaluation" else at_step // STEPS + 1)
    if point == "forward":
        loss = trainer.loss_fn

        def loss_fn(pred, batch):
            if torch.is_grad_enabled():
                countdown.tick()
            return loss(pred, batch)

        trainer.loss_fn = loss_fn
    elif point == "backward":
        weight = trainer.model.head.weight
        weight.register_hook(lambda grad: countdown.tick())
    elif point == "after_backward":
        clip = nn.utils.clip_grad_norm_

        def clip_then_tick(*args, **kwargs):
            countdown.tick()
            return clip(*args, **kwargs)

        monkeypatch.setattr(nn.utils, "clip_grad_norm_", clip_then_tick)
    elif point in ("optimizer_step_start", "after_optimizer_step"):
        step = trainer.optimizer.step

        def wrapped(*args, **kwargs):
            if point == "optimizer_step_start":
                countdown.tick()
            out = step(*args, **kwargs)
            if point == "after_optimizer_step":
                countdown.tick()
            return out

        trainer.optimizer.step = wrapped
    elif point == "step_end":
        trainer.add_callback("on_step_end", lambda t: countdown.tick())
    elif point == "evaluation":
        metric = trainer.metric_fn

        def metric_fn(pred, batch):
            countdown.tick()
            return metric(pred, batch)

        trainer.metric_fn = metric_fn
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    _no_temporary_files(tmp_path)
    if (tmp_path / "last.pt").exists():
        state = load_checkpoint(tmp_path / "last.pt")
        # A checkpoint never counts a step whose update it does not hold, nor the reverse.
        done = state["epoch"] * STEPS + state["step"]
        if point in ("forward", "backward", "after_backward"):
            assert done == at_step - 1
        elif point == "step_end":
            assert done == at_step
        elif point in ("optimizer_step_start", "after_optimizer_step"):
            # Inside the update (torn, as far as the trainer can tell): last.pt stays the
            # previous epoch's checkpoint.
            assert state["step"] == 0 and done < at_step
    _resume_and_compare(tmp_path, reference)


@pytest.mark.parametrize("at_step", [1, STEPS + 3])
def test_real_sigint_after_the_update_is_delivered_after_the_bookkeeping(
    tmp_path, reference, at_step
):
    """A Ctrl-C landing right after optimizer.step: the step is completed and counted, so
    resuming does not apply that batch again."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("another SIGINT handler is installed (the trainer then leaves SIGINT alone)")
    trainer = _trainer(tmp_path)
    step, calls = trainer.optimizer.step, {"n": 0}

    def step_then_sigint(*args, **kwargs):
        out = step(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == at_step:
            os.kill(os.getpid(), signal.SIGINT)  # handled between bytecodes, i.e. now
        return out

    trainer.optimizer.step = step_then_sigint
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] * STEPS + state["step"] == at_step
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    _resume_and_compare(tmp_path, reference)


@pytest.mark.parametrize(
    "nth_file",
    [n if n in (2, 4, 7) else pytest.param(n, marks=pytest.mark.slow) for n in range(1, 9)],
)
def test_interrupt_while_writing_run_files_then_resume_is_exact(
    tmp_path, monkeypatch, reference, nth_file
):
    """KeyboardInterrupt just before the rename of the n-th file written (config.json,
    best.pt, metrics.csv, last.pt of epoch 1, then epoch 2): the old file stays, no
    temporary file is left, and the resumed run is exact."""
    replace, countdown = os.replace, Countdown(nth_file)

    def replace_or_interrupt(src, dst):
        countdown.tick()
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_or_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _trainer(tmp_path).fit()
    monkeypatch.setattr(os, "replace", replace)
    _no_temporary_files(tmp_path)
    _resume_and_compare(tmp_path, reference)


def test_interrupted_trainer_refuses_to_continue_from_a_torn_state(tmp_path):
    trainer = _trainer(tmp_path)
    step = trainer.optimizer.step

    def step_then_interrupt(*args, **kwargs):
        step(*args, **kwargs)
        raise KeyboardInterrupt

    trainer.optimizer.step = step_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert not (tmp_path / "last.pt").exists()  # nothing consistent to save yet
    trainer.optimizer.step = step
    with pytest.raises(RuntimeError, match="interrupted in the middle of a weight update"):
        trainer.fit()


# ------------------------------------------------------------- corrupt and foreign files
def _finished_run(run_dir):
    _trainer(run_dir, epochs=1).fit()
    return {p.name: p.read_bytes() for p in run_dir.iterdir()}


def _corruptions(good: bytes) -> dict[str, bytes]:
    return {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "garbage": bytes(range(256)) * 4,
        "json": b'{"model": {}}',
        "tensor": _saved(torch.zeros(3)),
        "no model": _saved({"epoch": 1}),
    }


def _saved(obj) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "json", "tensor", "no model"])
@pytest.mark.parametrize("name", ["last.pt", "best.pt"])
def test_corrupt_checkpoint_is_one_line_error_and_run_dir_unchanged(tmp_path, name, kind):
    files = _finished_run(tmp_path)
    (tmp_path / name).write_bytes(_corruptions(files[name])[kind])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    pattern = rf"checkpoint '.*{name}' is corrupt or from another model: "
    with pytest.raises(ValueError, match=pattern) as err:
        if name == "last.pt":
            _trainer(tmp_path, resume=True, epochs=2).fit()
        else:
            load_checkpoint(tmp_path / name, model=Net())
    assert "\n" not in str(err.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("name", ["last.pt", "best.pt"])
def test_checkpoint_of_another_architecture_is_refused(tmp_path, name):
    _finished_run(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = Net(hidden=5)
    untouched = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match="is corrupt or from another model: .*size mismatch"):
        if name == "last.pt":
            _trainer(tmp_path, resume=True, epochs=2, model=other).fit()
        else:
            load_checkpoint(tmp_path / name, model=other)
    for k, v in other.state_dict().items():  # a refused load changes nothing
        assert torch.equal(v, untouched[k])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_missing_checkpoint_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "best.pt")


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"epochs": "many"}', '{"nope": 1}', "\xff"])
def test_corrupt_config_json_is_one_line_value_error(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=r"config file '.*config.json' is ") as err:
        TrainConfig.from_json(path)
    assert "\n" not in str(err.value)


def test_unreadable_task_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path))
    builds = []

    def build():
        builds.append(1)
        return {"x": torch.arange(3)}

    assert torch.equal(cached("toy/v1", build)["x"], torch.arange(3))
    (path,) = [p for p in tmp_path.iterdir() if p.suffix == ".pt"]
    good = path.read_bytes()
    for bad in (b"", good[: len(good) // 2], b"garbage", _saved([1, 2])):
        path.write_bytes(bad)
        with pytest.warns(UserWarning, match="unreadable .* rebuilding"):
            assert torch.equal(cached("toy/v1", build)["x"], torch.arange(3))
        assert path.read_bytes() != bad
    assert len(builds) == 5
    assert torch.equal(cached("toy/v1", build)["x"], torch.arange(3)) and len(builds) == 5


@pytest.mark.parametrize(
    "text, match",
    [
        ("{}", "needs the keys"),
        ("[]", "is a dict"),
        ("", "invalid wiring JSON"),
        ('{"adjacency": [[0]], "sensory_adjacency": [[1]], "output_size": 1, "x": 1}', "unknown"),
        ('{"adjacency": 3, "sensory_adjacency": [[1]], "output_size": 1}', "adjacency"),
    ],
)
def test_bad_wiring_json_is_value_error(text, match):
    with pytest.raises(ValueError, match=match):
        Wiring.from_json(text)


def test_corrupt_download_records_are_value_error(tmp_path, monkeypatch):
    import io
    import urllib.request

    from liquidtorch.data.downloads import HASHES_FILE, download

    class Response(io.BytesIO):
        headers = {}

    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Response(b"data"))
    (tmp_path / HASHES_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="download hash records .* are corrupt"):
        download("https://example.org/f", tmp_path / "f", what="f")
    assert not (tmp_path / "f").exists()


# ------------------------------------------------------------------- planted links
RUN_FILES = ("config.json", "metrics.csv", "best.pt", "last.pt", "learning_curve.png")


def test_links_planted_in_a_run_dir_are_replaced_not_followed(tmp_path):
    pytest.importorskip("matplotlib")
    run_dir, outside = tmp_path / "run", tmp_path / "outside"
    run_dir.mkdir()
    outside.mkdir()
    for name in RUN_FILES:
        (outside / name).write_text(f"precious {name}")
        (run_dir / name).symlink_to(outside / name)
    _trainer(run_dir, epochs=1).fit()
    for name in RUN_FILES:
        assert (outside / name).read_text() == f"precious {name}"
        assert not (run_dir / name).is_symlink() and (run_dir / name).stat().st_size > 0
    _no_temporary_files(run_dir)


def test_write_json_atomic_replaces_a_link(tmp_path):
    """The helper the CLI writes cli.json with."""
    victim = tmp_path / "victim.json"
    victim.write_text("keep")
    link = tmp_path / "cli.json"
    link.symlink_to(victim)
    write_json_atomic(link, {"task": "xor"})
    assert victim.read_text() == "keep"
    assert not link.is_symlink() and link.read_text() == '{\n  "task": "xor"\n}\n'
    mode = link.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # as open() would create it, not mkstemp's 0600


def test_task_cache_link_is_replaced_not_followed(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "cache"))
    cached("toy/v2", lambda: {"x": torch.zeros(1)})
    (path,) = (tmp_path / "cache").glob("*.pt")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    path.unlink()
    path.symlink_to(victim)
    with pytest.warns(UserWarning, match="rebuilding"):
        cached("toy/v2", lambda: {"x": torch.ones(1)})
    assert victim.read_bytes() == b"precious" and not path.is_symlink()


# ---------------------------------------------------------------------- no network
@pytest.mark.slow
def test_importing_and_building_opens_no_connection(tmp_path):
    """Nothing reaches the network at import time or when building models and offline
    tasks: every socket connection attempt fails the subprocess."""
    import subprocess
    import sys

    code = """
import socket
def refuse(*args, **kwargs):
    raise SystemExit("network access: " + repr(args))
socket.socket.connect = refuse
socket.create_connection = refuse
import liquidtorch, liquidtorch.data, liquidtorch.train, liquidtorch.zoo, liquidtorch.viz
from liquidtorch.zoo import MODELS, build_model
task = liquidtorch.data.get_task("xor", n_samples=64, length=8)
for name in MODELS:
    build_model(name, task, units=4)
print("ok")
"""
    env = dict(os.environ, OMP_NUM_THREADS="1", LIQUIDTORCH_CACHE=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
