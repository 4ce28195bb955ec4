"""The LTC training path's activation cache: the backward pass reads the forward's unfolds
instead of recomputing them, for sparse wirings within the memory bound; both ways give the
same outputs and gradients, and the fused path equals the reference loop either way."""

import pytest
import torch
from fused_paths import assert_equal_paths, run_path

import liquidtorch.kernels.ltc as fused_ltc
from liquidtorch import LTC, AutoNCP, FullyConnected

pytest.importorskip("numba")


def _inputs(dtype):
    torch.manual_seed(1)
    x = torch.randn(37, 9, 5, dtype=dtype)  # two 32-column chunks, the second partial
    timespans = torch.rand(37, 9, dtype=dtype) + 0.2
    lengths = torch.randint(1, 10, (37,))
    return x, {"timespans": timespans, "lengths": lengths}


def _sizes(monkeypatch, model, x, kw) -> list[int]:
    """The sizes of the cache tensors made during one training step."""
    seen = []
    real = fused_ltc._activation_cache

    def spy(*args):
        cache = real(*args)
        seen.append([t.numel() for t in cache])
        return cache

    monkeypatch.setattr(fused_ltc, "_activation_cache", spy)
    run_path(model, True, x, **kw)
    return seen[0]


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-9)])
def test_cached_and_recomputed_unfolds_give_the_same_gradients(monkeypatch, dtype, tol):
    model = LTC(5, AutoNCP(12, 3)).to(dtype)
    x, kw = _inputs(dtype)
    assert all(_sizes(monkeypatch, model, x, kw)), "the sparse wiring should use the cache"
    cached = run_path(model, True, x, **kw)
    monkeypatch.setattr(fused_ltc, "ACTIVATION_CACHE_BYTES", 0)
    assert not any(_sizes(monkeypatch, model, x, kw))
    recomputed = run_path(model, True, x, **kw)
    for a, b in zip(cached[0], recomputed[0], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for name, grad in cached[1].items():
        torch.testing.assert_close(grad, recomputed[1][name], rtol=tol, atol=tol)
    monkeypatch.undo()
    assert_equal_paths(model, x, tol, tol, **kw)


def test_dense_wirings_and_mixed_memory_recompute(monkeypatch):
    x, kw = _inputs(torch.float32)
    dense = LTC(5, FullyConnected(8))
    assert not any(_sizes(monkeypatch, dense, x, kw))
    mixed = LTC(5, AutoNCP(12, 3), mixed_memory=True)
    assert not any(_sizes(monkeypatch, mixed, x, kw))
