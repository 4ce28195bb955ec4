"""The thread helper: torch's count (numba's only where its pool already runs), the default
policy, bad values."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from liquidtorch import _threads
from liquidtorch._threads import configure_threads, default_threads


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class FakeNumba:
    """Records set_num_threads calls; started with ``limit`` threads."""

    def __init__(self, limit: int):
        self.config = SimpleNamespace(NUMBA_NUM_THREADS=limit)
        self.calls: list[int] = []

    def set_num_threads(self, n: int) -> None:
        self.calls.append(n)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_sets_torch_and_a_running_numba_pool(monkeypatch, n):
    fake = FakeNumba(limit=8)
    monkeypatch.setattr(_threads, "_numba_pool", lambda: fake)
    assert configure_threads(n) == n
    assert torch.get_num_threads() == n
    assert fake.calls == [n]


def test_numba_capped_at_its_start_count(monkeypatch):
    fake = FakeNumba(limit=2)
    monkeypatch.setattr(_threads, "_numba_pool", lambda: fake)
    assert configure_threads(3) == 3
    assert torch.get_num_threads() == 3
    assert fake.calls == [2]


def _fresh_process(code: str) -> str:
    """Run ``code`` in a new interpreter (numba's threading layer starts once per process)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


_LAYER = "from numba.np.ufunc import parallel; "


def test_numba_threading_layer_is_not_started():
    """A second OpenMP pool beside torch's made 2-thread LSTM epochs 11x slower."""
    pytest.importorskip("numba")
    out = _fresh_process(
        "from liquidtorch import configure_threads; import torch; " + _LAYER
        + "configure_threads(2); print(torch.get_num_threads(), parallel._is_initialized)"
    )  # fmt: skip
    assert out == "2 False"


def test_a_running_numba_pool_follows():
    pytest.importorskip("numba")
    out = _fresh_process(
        "import numba; numba.set_num_threads(2); from liquidtorch import configure_threads; "
        "import torch; configure_threads(1); print(torch.get_num_threads(), "
        "numba.get_num_threads())"
    )
    assert out == "1 1"


def test_without_numba_only_torch(monkeypatch):
    monkeypatch.setattr(_threads, "_numba_pool", lambda: None)
    assert configure_threads(2) == 2
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, "2"])
def test_bad_values(bad):
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match="threads must be None or an int >= 1"):
        configure_threads(bad)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("cpus", "busy", "expected"),
    [
        (2, 0.0, 2),  # idle 2-core machine
        (2, 0.4, 2),
        (2, 0.6, 1),  # less than 1.5 cores idle
        (2, 1.0, 1),  # one competing busy process
        (2, 8.0, 1),  # heavily shared
        (1, 0.0, 1),  # a single core
        (16, 0.0, 2),  # never more than MAX_DEFAULT_THREADS by default
        (16, 14.0, 2),
        (16, 14.6, 1),
    ],
)
def test_default_policy(cpus, busy, expected):
    assert default_threads(cpus, busy) == expected


def test_none_uses_the_policy(monkeypatch):
    monkeypatch.setattr(_threads, "_numba_pool", lambda: None)
    monkeypatch.setattr(_threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(_threads, "machine_busy", lambda: 1.0)
    assert configure_threads(None) == 1
    assert torch.get_num_threads() == 1
    monkeypatch.setattr(_threads, "machine_busy", lambda: 0.0)
    assert configure_threads() == 2
    assert torch.get_num_threads() == 2


def test_machine_busy_counts_running_processes(monkeypatch):
    monkeypatch.setattr(_threads.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    monkeypatch.setattr(_threads, "_running_processes", lambda: 3)  # us and two others
    assert _threads.machine_busy() == 2.0
    monkeypatch.setattr(_threads, "_running_processes", lambda: None)
    assert _threads.machine_busy() == 0.2


def test_passive_wait_only_before_torch(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert not _threads.prefer_passive_wait()  # torch is imported: too late
    assert "OMP_WAIT_POLICY" not in _threads.os.environ
    monkeypatch.delitem(_threads.sys.modules, "torch")
    assert _threads.prefer_passive_wait()
    assert _threads.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice stays
    assert not _threads.prefer_passive_wait()
    assert _threads.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_passive_wait_in_a_fresh_process():
    import os
    import subprocess
    import sys

    # The module alone (the package imports torch); then torch sees the policy.
    code = (
        "import importlib.util, os, sys; "
        f"spec = importlib.util.spec_from_file_location('t', {_threads.__file__!r}); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
        "print(m.prefer_passive_wait(), os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "PASSIVE", "False"]


def test_flush_denormals():
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a float32 denormal
    try:
        if not _threads.flush_denormals(True):
            pytest.skip("this CPU cannot flush denormals")
        assert (tiny * 1.0).item() == 0.0
        assert _threads.flush_denormals(False)
        assert (tiny * 1.0).item() == pytest.approx(1e-39, rel=1e-3)
    finally:
        torch.set_flush_denormal(False)


def test_flush_denormals_leaves_numpy_quiet():
    """NumPy's float limits are computed before flushing starts, so asking for them later
    warns nothing (run in a fresh process: NumPy caches them once)."""
    import subprocess
    import sys

    code = (
        "import liquidtorch, numpy as np; liquidtorch.flush_denormals(); "
        "np.finfo(np.float64).smallest_subnormal; print(np.finfo(np.float32).eps)"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == pytest.approx(2.0**-23)


def _fpu():
    from liquidtorch.kernels import _fpu

    if _fpu.fpu_state() is None:
        pytest.skip("the floating-point control register cannot be read here")
    return _fpu


def test_fpu_state_reads_what_torch_sets_and_restores_it():
    fpu = _fpu()
    try:
        torch.set_flush_denormal(False)
        assert fpu.denormals_flushed() is False
        before = fpu.fpu_state()
        torch.set_flush_denormal(True)
        assert fpu.denormals_flushed() is True
        fpu.set_fpu_state(before)  # back exactly: torch's ops see denormals again
        assert fpu.denormals_flushed() is False
        assert (torch.tensor([1e-39]) * 1.0).item() == pytest.approx(1e-39, rel=1e-3)
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.parametrize("already", [False, True])
def test_flushing_denormals_restores_the_previous_setting(already):
    fpu = _fpu()
    try:
        torch.set_flush_denormal(already)
        with _threads.flushing_denormals():
            assert fpu.denormals_flushed() is True
        assert fpu.denormals_flushed() is already
        with _threads.flushing_denormals(False):
            assert fpu.denormals_flushed() is already
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.parametrize("flushed", [False, True])
def test_chunk_threads_inherit_the_callers_setting(flushed):
    """The kernels' batch chunks on worker threads compute as the calling thread does."""
    import numpy as np

    from liquidtorch.kernels._common import for_each_chunk

    fpu = _fpu()
    seen = {}
    try:
        torch.set_flush_denormal(flushed)
        for_each_chunk(
            np.array([0, 1, 2, 3]), lambda c, b0, b1: seen.update({c: fpu.denormals_flushed()})
        )
    finally:
        torch.set_flush_denormal(False)
    assert seen == {0: flushed, 1: flushed, 2: flushed}


@pytest.mark.parametrize("flush", [True, False])
def test_trainer_flushes_denormals_while_it_fits(flush):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from toy_task import toy_task

    from liquidtorch import CfC
    from liquidtorch.train import TrainConfig, Trainer, task_loss

    fpu = _fpu()
    task = toy_task()
    model = CfC(task.input_size, task.output_size, return_sequences=False)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = model

        def forward(self, x, timespans=None, *, lengths=None):
            return self.layer(x, timespans=timespans, lengths=lengths)[0]

    config = TrainConfig(epochs=1, progress=False, flush_denormals=flush)
    trainer = Trainer(Model(), task_loss(task), task.train, task.val, config)
    during = []
    trainer.add_callback("on_step_end", lambda t: during.append(fpu.denormals_flushed()))
    torch.set_flush_denormal(False)
    trainer.fit()
    assert during and set(during) == {flush}
    assert fpu.denormals_flushed() is False  # the caller's setting is back
