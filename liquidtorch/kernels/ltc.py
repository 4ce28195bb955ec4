"""The LTC fast path: a custom autograd Function over numba kernels (see ``_ltc_numba``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Graph(NamedTuple):
    """The static part of a fused LTC call: edges sorted by destination (``src`` per edge,
    ``ptr[j]:ptr[j+1]`` the edges into neuron ``j``) and solver settings."""

    src: np.ndarray
    ptr: np.ndarray
    sensory_src: np.ndarray
    sensory_ptr: np.ndarray
    unfolds: int
    eps: float


def edges_by_destination(adjacency: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src, dst, ptr)`` of the nonzero entries of ``adjacency[src, dst]``, sorted by
    destination then source."""
    dst, src = np.nonzero(adjacency.T)
    counts = np.bincount(dst, minlength=adjacency.shape[1])
    ptr = np.concatenate([[0], np.cumsum(counts)])
    return src.astype(np.int64), dst.astype(np.int64), ptr.astype(np.int64)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


class LTCScan(torch.autograd.Function):
    """States (time, batch, units) of an LTC over mapped inputs ``u`` (time, batch, inputs).

    Tensor arguments after ``graph``: u, dt (time, batch), valid (time, batch) bool, v0
    (batch, units), gleak, vleak, cm (units,), then per recurrent edge w, sigma, mu, erev and
    per sensory edge the same four (positive values already applied).
    """

    @staticmethod
    def forward(ctx, graph: Graph, *tensors):
        from ._ltc_numba import ltc_forward

        u, dt, valid, v0, *params = tensors
        out = torch.empty(u.shape[0], *v0.shape, dtype=v0.dtype)
        p = [_np(a) for a in params]
        ltc_forward(
            _np(u), _np(dt), _np(valid), _np(v0), *p[:3], graph.src, graph.ptr, *p[3:7],
            graph.sensory_src, graph.sensory_ptr, *p[7:], graph.unfolds, graph.eps,
            out.numpy(),
        )  # fmt: skip
        ctx.graph = graph
        ctx.save_for_backward(*tensors, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        from ._ltc_numba import ltc_backward

        graph = ctx.graph
        u, dt, valid, v0, *params, out = ctx.saved_tensors
        batch, n = v0.shape

        def zeros(*shape):
            return torch.zeros(*shape, dtype=v0.dtype)

        g_u, g_dt, g_v0 = zeros(*u.shape), zeros(*dt.shape), zeros(batch, n)
        sizes = [n] * 3 + [len(graph.src)] * 4 + [len(graph.sensory_src)] * 4
        g_params = [zeros(batch, size) for size in sizes]  # one row per batch element
        p = [_np(a) for a in params]
        ltc_backward(
            _np(u), _np(dt), _np(valid), _np(v0), _np(out), _np(grad_out),
            *p[:3], graph.src, graph.ptr, *p[3:7], graph.sensory_src, graph.sensory_ptr, *p[7:],
            graph.unfolds, graph.eps, g_u.numpy(), g_dt.numpy(), g_v0.numpy(),
            *(g.numpy() for g in g_params),
        )  # fmt: skip
        return (None, g_u, g_dt, None, g_v0, *(g.sum(0) for g in g_params))


def ltc_states(graph: Graph, u, dt, valid, v0, *params) -> torch.Tensor:
    """Run :class:`LTCScan` (numba threads follow ``torch.get_num_threads()``)."""
    import numba

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    return LTCScan.apply(graph, u, dt, valid, v0, *params)
