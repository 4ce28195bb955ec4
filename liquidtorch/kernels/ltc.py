"""The LTC fast path: a custom autograd Function over numba kernels (see ``_ltc_numba``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Graph(NamedTuple):
    """The static part of a fused LTC call: edge lists and solver settings."""

    src: np.ndarray
    dst: np.ndarray
    sensory_src: np.ndarray
    sensory_dst: np.ndarray
    unfolds: int
    eps: float


def edges_by_destination(adjacency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(src, dst)`` of the nonzero entries of ``adjacency[src, dst]``, sorted by destination
    then source (consecutive edges update the same neuron)."""
    dst, src = np.nonzero(adjacency.T)
    return src.astype(np.int64), dst.astype(np.int64)


def _np(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t if isinstance(t, np.ndarray) else t.detach().contiguous().numpy()


def _batch_last(t: torch.Tensor) -> np.ndarray:
    """(time, batch, features) -> contiguous (time, features, batch)."""
    return t.detach().transpose(1, 2).contiguous().numpy()


def _chunks(batch: int) -> int:
    from ._ltc_numba import CHUNK

    return -(-batch // CHUNK)


class LTCScan(torch.autograd.Function):
    """States (time, batch, units) of an LTC over mapped inputs ``u`` (time, batch, inputs).

    Tensor arguments after ``graph``: u, dt (time, batch), valid (time, batch) bool, v0
    (batch, units), gleak, vleak, cm (units,), then per recurrent edge w, sigma, mu, erev and
    per sensory edge the same four (positive values already applied).
    """

    @staticmethod
    def forward(ctx, graph: Graph, *tensors):
        u, dt, valid, v0, *params = tensors
        states = _forward(graph, u, dt, valid, v0, params)
        ctx.graph = graph
        ctx.save_for_backward(*tensors, states)
        return states

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_states):
        from . import _ltc_numba as k

        graph = ctx.graph
        u, dt, valid, v0, *params, states = ctx.saved_tensors
        (steps, batch, inputs), n = u.shape, v0.shape[1]
        kernel = k.ltc_backward if _parallel(graph, u) else k.ltc_backward_serial

        def zeros(*shape):
            return torch.zeros(*shape, dtype=v0.dtype)

        g_u, g_dt, g_v0 = zeros(steps, inputs, batch), zeros(steps, batch), zeros(n, batch)
        sizes = [n] * 3 + [len(graph.src)] * 4 + [len(graph.sensory_src)] * 4
        rows = _chunks(batch)
        g_params = [zeros(rows, size) for size in sizes]  # one row per batch chunk
        p = [_np(a) for a in params]
        kernel(
            _batch_last(u), _np(dt), _np(valid), _np(v0.T), _batch_last(states),
            _batch_last(grad_states), *p[:3], graph.src, graph.dst, *p[3:7],
            graph.sensory_src, graph.sensory_dst, *p[7:], graph.unfolds, graph.eps,
            g_u.numpy(), g_dt.numpy(), g_v0.numpy(), *(g.numpy() for g in g_params),
        )  # fmt: skip
        grads = (g_u.transpose(1, 2), g_dt, None, g_v0.T)
        return (None, *grads, *(g.sum(0) for g in g_params))


def _parallel(graph: Graph, u: torch.Tensor) -> bool:
    """Threads pay off only for several batch chunks and enough work (edge evaluations)."""
    work = u.shape[0] * u.shape[1] * (len(graph.src) * graph.unfolds + len(graph.sensory_src))
    return _chunks(u.shape[1]) >= 2 and work >= 200_000


def _forward(graph: Graph, u, dt, valid, v0, params) -> torch.Tensor:
    from . import _ltc_numba as k

    kernel = k.ltc_forward if _parallel(graph, u) else k.ltc_forward_serial
    out = torch.empty(u.shape[0], v0.shape[1], v0.shape[0], dtype=v0.dtype)
    p = [_np(a) for a in params]
    kernel(
        _batch_last(u), _np(dt), _np(valid), _np(v0.T), *p[:3], graph.src, graph.dst,
        *p[3:7], graph.sensory_src, graph.sensory_dst, *p[7:], graph.unfolds, graph.eps,
        out.numpy(),
    )  # fmt: skip
    return out.transpose(1, 2)


def ltc_states(graph: Graph, u, dt, valid, v0, *params) -> torch.Tensor:
    """States (time, batch, units); through :class:`LTCScan` when gradients are recorded,
    otherwise a direct kernel call (less overhead for streaming)."""
    if _parallel(graph, u):
        import numba

        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    tensors = (u, dt, valid, v0, *params)
    if torch.is_grad_enabled() and any(getattr(t, "requires_grad", False) for t in tensors):
        return LTCScan.apply(graph, *tensors)
    return _forward(graph, u, dt, valid, v0, params)


_VALID: dict[int, np.ndarray] = {}


def ltc_step(graph: Graph, u: np.ndarray, dt: float, v: np.ndarray, params) -> np.ndarray:
    """One input step without autograd for streaming: mapped inputs ``u`` (batch, inputs),
    state ``v`` (batch, units), NumPy ``params`` from ``LTCCell._edge_params`` -> new state."""
    from ._ltc_numba import ltc_forward_serial

    batch = u.shape[0]
    valid = _VALID.get(batch)
    if valid is None:
        valid = _VALID[batch] = np.ones((1, batch), dtype=np.bool_)
    out = np.empty((1, v.shape[1], batch), dtype=v.dtype)
    ltc_forward_serial(
        np.ascontiguousarray(u.T)[None], np.full((1, batch), dt, dtype=u.dtype), valid,
        np.ascontiguousarray(v.T), *params[:3], graph.src, graph.dst, *params[3:7],
        graph.sensory_src, graph.sensory_dst, *params[7:], graph.unfolds, graph.eps, out,
    )  # fmt: skip
    return out[0].T
