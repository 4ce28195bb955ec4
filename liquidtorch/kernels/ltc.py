"""The LTC fast path: a custom autograd Function over numba kernels (see ``_ltc_numba``),
and :class:`FusedLTC`, what one cell's fused paths derive from it (edge lists of its masks,
NumPy views of its parameters), never stale."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ..cells.options import Constraint
from ._common import (
    CONSTRAINT_CODES,
    Derived,
    Views,
    as_numpy,
    chunk_bounds,
    for_each_chunk,
    threads,
)


class LTCTensors(NamedTuple):
    """What the kernels read from an ``LTCCell``: raw parameters (constraint not applied),
    the optional mappings and the mask buffers."""

    gleak: torch.Tensor
    vleak: torch.Tensor
    cm: torch.Tensor
    w: torch.Tensor
    sigma: torch.Tensor
    mu: torch.Tensor
    erev: torch.Tensor
    sensory_w: torch.Tensor
    sensory_sigma: torch.Tensor
    sensory_mu: torch.Tensor
    sensory_erev: torch.Tensor
    input_w: torch.Tensor | None
    input_b: torch.Tensor | None
    output_w: torch.Tensor | None
    output_b: torch.Tensor | None
    mask: torch.Tensor
    sensory_mask: torch.Tensor


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


def _batch_last(t: torch.Tensor) -> np.ndarray:
    """(time, batch, features) -> contiguous (time, features, batch)."""
    return t.detach().transpose(1, 2).contiguous().numpy()


def _chunking(graph: Graph, u: torch.Tensor) -> tuple[np.ndarray, int]:
    """Thread chunks of the batch (multiples of the kernels' 32 columns) and the number of
    32-column rows the parameter gradients get."""
    from ._ltc_numba import CHUNK

    steps, batch = u.shape[:2]
    work = steps * batch * (len(graph.src) * graph.unfolds + len(graph.sensory_src))
    bounds, _ = chunk_bounds(batch, threads(batch, CHUNK, work), CHUNK)
    return bounds, -(-batch // CHUNK)


class LTCScan(torch.autograd.Function):
    """States (time, batch, units) of an LTC over mapped inputs ``u`` (time, batch, inputs),
    and with mixed memory the LSTM's cell states (time, batch, units; else (time, batch, 0)).

    Tensor arguments after ``graph``: u, dt (time, batch), valid (time, batch) bool, v0
    (batch, units); mixed memory's zx (time, batch, 4 units) (input projection and bias), wh
    (4 units, units), c0 (batch, units) (empty without); gleak, vleak, cm (units,), then
    per recurrent edge w, sigma, mu, erev and per sensory edge the same four (positive
    values already applied).
    """

    @staticmethod
    def forward(ctx, graph: Graph, *tensors):
        cache = _activation_cache(graph, *tensors)
        states, c_states = _forward(graph, *tensors, cache=cache)
        ctx.graph = graph
        ctx.save_for_backward(*tensors, states, c_states, *cache)
        return states, c_states

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_states, grad_c):
        from ._ltc_numba import ltc_backward

        graph = ctx.graph
        u, dt, valid, v0, zx, wh, c0, *params, states, c_states = ctx.saved_tensors[:-4]
        cache = [t.numpy() for t in ctx.saved_tensors[-4:]]
        (steps, batch, inputs), n = u.shape, v0.shape[1]
        bounds, rows = _chunking(graph, u)

        def zeros(*shape):
            return torch.zeros(*shape, dtype=v0.dtype)

        if grad_states is None:
            grad_states = zeros(states.shape)
        if grad_c is None:
            grad_c = zeros(c_states.shape)
        g_u, g_dt, g_v0 = zeros(steps, inputs, batch), zeros(steps, batch), zeros(n, batch)
        g_zx, g_wh, g_c0 = (
            zeros(steps, zx.shape[2], batch),
            zeros(rows, *wh.shape),
            zeros(c0.T.shape),
        )
        sizes = [n] * 3 + [len(graph.src)] * 4 + [len(graph.sensory_src)] * 4
        g_params = [zeros(rows, size) for size in sizes]  # one row per 32 batch columns
        p = [as_numpy(a) for a in params]
        args = (
            _batch_last(u), as_numpy(dt), as_numpy(valid), as_numpy(v0.T), _batch_last(states),
            _batch_last(grad_states), *p[:3], graph.src, graph.dst, *p[3:7],
            graph.sensory_src, graph.sensory_dst, *p[7:], graph.unfolds, graph.eps,
            _batch_last(zx), as_numpy(wh), as_numpy(c0.T), _batch_last(c_states),
            _batch_last(grad_c),
        )  # fmt: skip
        outs = (
            g_u.numpy(), g_dt.numpy(), g_v0.numpy(), *(g.numpy() for g in g_params),
            g_zx.numpy(), g_wh.numpy(), g_c0.numpy(),
        )  # fmt: skip
        for_each_chunk(bounds, lambda c, b0, b1: ltc_backward(*args, b0, b1, *outs, *cache))
        grads = (g_u.transpose(1, 2), g_dt, None, g_v0.T, g_zx.transpose(1, 2), g_wh.sum(0))
        return (None, *grads, g_c0.T, *(g.sum(0) for g in g_params))


#: The most memory the forward pass of a training step may keep so that the backward pass
#: reads the unfolds instead of recomputing them (measured: 17-22 % less time per training
#: step for NCP wirings of 32 and 64 neurons); larger calls (long sequences, big batches)
#: recompute and keep one state per step.
ACTIVATION_CACHE_BYTES = 128 * 2**20
#: Wirings denser than this (synapses / units^2) always recompute: for a fully connected
#: LTC of 32 neurons, writing and reading the cache cost as much as recomputing (measured:
#: equal on an idle machine, 25 % slower on a loaded one).
ACTIVATION_CACHE_DENSITY = 0.5


def _activation_cache(graph: Graph, u, dt, valid, v0, zx, wh, c0, *params) -> list[torch.Tensor]:
    """The forward pass's activation cache (see ``ltc_forward``), or empty arrays where
    it would exceed :data:`ACTIVATION_CACHE_BYTES`, for wirings denser than
    :data:`ACTIVATION_CACHE_DENSITY`, and with mixed memory."""
    from ._ltc_numba import CHUNK

    (steps, batch), n, k = u.shape[:2], v0.shape[1], graph.unfolds
    chunks = -(-batch // CHUNK)
    shapes = [
        (chunks, steps, k + 1, n, CHUNK),
        (chunks, steps, k, n, CHUNK),
        (chunks, steps, k, len(graph.src), CHUNK),
        (chunks, steps, len(graph.sensory_src), CHUNK),
    ]
    size = sum(int(np.prod(shape)) for shape in shapes) * v0.element_size()
    dense = len(graph.src) > ACTIVATION_CACHE_DENSITY * n * n
    if wh.numel() or dense or size > ACTIVATION_CACHE_BYTES:
        return _no_cache(v0.dtype)
    return [torch.empty(shape, dtype=v0.dtype) for shape in shapes]


def _no_cache(dtype: torch.dtype) -> list[torch.Tensor]:
    """The empty cache arrays that tell the kernels to recompute."""
    return [torch.empty((0,) * rank, dtype=dtype) for rank in (5, 5, 5, 4)]


def _forward(graph: Graph, u, dt, valid, v0, zx, wh, c0, *params, cache=None):
    from ._ltc_numba import ltc_forward

    steps, batch = u.shape[:2]
    cache_np = [t.numpy() for t in (cache if cache is not None else _no_cache(v0.dtype))]
    out = torch.empty(steps, v0.shape[1], batch, dtype=v0.dtype)
    out_c = torch.empty(steps, c0.shape[1], batch, dtype=v0.dtype)
    p = [as_numpy(a) for a in params]
    args = (
        _batch_last(u), as_numpy(dt), as_numpy(valid), as_numpy(v0.T), *p[:3], graph.src, graph.dst,
        *p[3:7], graph.sensory_src, graph.sensory_dst, *p[7:], graph.unfolds, graph.eps,
        _batch_last(zx), as_numpy(wh), as_numpy(c0.T),
    )  # fmt: skip
    out_np, out_c_np = out.numpy(), out_c.numpy()
    for_each_chunk(
        _chunking(graph, u)[0],
        lambda c, b0, b1: ltc_forward(*args, b0, b1, out_np, out_c_np, *cache_np),
    )
    return out.transpose(1, 2), out_c.transpose(1, 2)


def _positive(raw: torch.Tensor, constraint: Constraint) -> torch.Tensor:
    return F.softplus(raw) if constraint is Constraint.SOFTPLUS else raw.clamp_min(0.0)


class FusedLTC:
    """The fused paths of one LTC cell and what they derive from it.

    The edge lists follow the *values* of the mask buffers (checked on every call: a loaded
    state dict of another wiring, an in-place pruning); the streaming step reads the
    parameters through NumPy views (see :class:`~._common.Views`) and applies the constraint
    and the edge gathering in compiled code on every call, so no parameter value is cached.
    Copying or pickling a cell starts these caches afresh.
    """

    def __init__(self) -> None:
        self._edges: Derived[tuple[np.ndarray, ...]] = Derived()
        self._views = Views()

    def __reduce__(self):
        return (type(self), ())

    def graph(self, t: LTCTensors, unfolds: int, eps: float) -> Graph:
        def build(masks: list[np.ndarray]) -> tuple[np.ndarray, ...]:
            return (*edges_by_destination(masks[0]), *edges_by_destination(masks[1]))

        return Graph(*self._edges.get([t.mask, t.sensory_mask], build), unfolds, eps)

    def states(
        self,
        t: LTCTensors,
        constraint: Constraint,
        graph: Graph,
        u: torch.Tensor,
        dt: torch.Tensor,
        valid: torch.Tensor,
        v0: torch.Tensor,
        lstm: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """States (time, batch, units) over mapped inputs ``u`` (time, batch, inputs), ``dt``
        and ``valid`` (time, batch); through :class:`LTCScan` when gradients are recorded.

        Mixed memory: ``lstm`` = (zx, wh, c0), the LSTM's input projection with its bias
        (time, batch, 4 units), recurrent weights and initial cell; returns ``(h, c)``."""
        n, dtype = t.w.shape[0], u.dtype
        flat = [torch.from_numpy(s * n + d) for s, d in ((graph.src, graph.dst),
                (graph.sensory_src, graph.sensory_dst))]  # fmt: skip
        rec = (_positive(t.w, constraint), t.sigma, t.mu, t.erev)
        sen = (_positive(t.sensory_w, constraint), t.sensory_sigma, t.sensory_mu,
               t.sensory_erev)  # fmt: skip
        params = [_positive(t.gleak, constraint), t.vleak, _positive(t.cm, constraint)]
        params += [p.reshape(-1)[flat[0]] for p in rec] + [p.reshape(-1)[flat[1]] for p in sen]
        params = [p.to(dtype).contiguous() for p in params]
        if lstm is None:
            empty = u.new_empty(0)
            lstm = (empty.expand(*u.shape[:2], 0), empty.view(0, 0), empty.expand(u.shape[1], 0))
        tensors = (u, dt, valid, v0, *lstm, *params)
        if torch.is_grad_enabled() and any(a.requires_grad for a in tensors):
            h, c = LTCScan.apply(graph, *tensors)
        else:
            h, c = _forward(graph, *tensors)
        return h if c.shape[-1] == 0 else (h, c)

    def step(
        self,
        t: LTCTensors,
        constraint: Constraint,
        graph: Graph,
        x: np.ndarray,
        dt: float,
        v: np.ndarray,
        output_size: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One step without autograd (streaming): inputs ``x`` (batch, inputs), state ``v``
        (batch, units) -> (output, new state); the parameters must have the dtype of ``x``."""
        from ._ltc_numba import ltc_stream_step

        empty = np.empty(0, dtype=x.dtype)
        views = [empty if a is None else a for a in self._views.get(t[:15])]
        y = np.empty((x.shape[0], output_size), dtype=x.dtype)
        v_out = np.empty_like(v)
        ltc_stream_step(
            CONSTRAINT_CODES[constraint], x, v, dt, *views, graph.src, graph.dst,
            graph.sensory_src, graph.sensory_dst, graph.unfolds, graph.eps, y, v_out,
        )  # fmt: skip
        return y, v_out

    def frozen(self, t: LTCTensors, constraint: Constraint, graph: Graph, output_size: int):
        """A step function ``(x, v, dt) -> (output, new state)`` over NumPy arrays (batch
        rows) with *copies* of the parameters as the kernel uses them (constraint applied,
        edges gathered once): the fastest streaming step, blind to later parameter changes."""
        from ._ltc_numba import gather_edges, ltc_step_core, positive

        a = [None if x is None else x.detach().cpu().numpy().copy() for x in t[:15]]
        (gleak, vleak, cm, w, sig, mu, erev, sw, ssig, smu, serev) = a[:11]
        code, dtype = CONSTRAINT_CODES[constraint], gleak.dtype
        neurons = np.empty((2, len(gleak)), dtype)
        positive(code, gleak, neurons[0])
        positive(code, cm, neurons[1])
        edges = np.empty((4, len(graph.src)), dtype)
        gather_edges(code, graph.src, graph.dst, w, sig, mu, erev, *edges)
        sens = np.empty((4, len(graph.sensory_src)), dtype)
        gather_edges(code, graph.sensory_src, graph.sensory_dst, sw, ssig, smu, serev, *sens)
        maps = [np.empty(0, dtype) if x is None else x for x in a[11:15]]
        arrays = (
            neurons, vleak, edges, sens, graph.src, graph.dst, graph.sensory_src,
            graph.sensory_dst, *maps, graph.unfolds, graph.eps,
        )  # fmt: skip

        def step(x: np.ndarray, v: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
            y = np.empty((x.shape[0], output_size), dtype)
            v_out = np.empty_like(v)
            ltc_step_core(x, v, dt, *arrays, y, v_out)
            return y, v_out

        return step
