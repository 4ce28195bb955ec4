"""The wired CfC fast path: a custom autograd Function over numba kernels (see
``_wired_cfc_numba``), fed with edge lists of the heads' masks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from ..cells.options import CfCMode
from ._common import MODE_CODES, Derived, as_numpy, chunk_bounds, for_each_chunk, threads


class WiredGraph(NamedTuple):
    """The static part of a fused wired-CfC call (layout: see ``_wired_cfc_numba``)."""

    ptr: np.ndarray  # (pair * units + 1,) edges of group row q: ptr[q]:ptr[q+1]
    src: np.ndarray  # (edges,) index into the step buffer [inputs | old state | new state]
    neuron_base: np.ndarray  # (layers + 1,) the neurons of each layer in processing order
    neurons: np.ndarray  # (units,) neuron ids in processing order
    takes: tuple[torch.Tensor, ...]  # per layer: flat indices (edges, pair) into heads.weight
    pair: int  # heads per synapse group: 2 (ff1, ff2 | time_a, time_b) or 1 (pure: ff1)
    mode: int


def wired_graph(
    masks: Sequence[np.ndarray], layers: Sequence[Sequence[int]], input_size: int, mode: CfCMode
) -> WiredGraph | None:
    """Edge lists of a wired CfC, or None if the paired heads' masks differ.

    ``masks[l]`` is the (heads * len(layers[l]), n_ff + units) mask of layer ``l``'s
    ``heads.weight`` over ``[feed-forward | old state]``, ``layers[l]`` its neuron ids.
    """
    pair = 1 if mode is CfCMode.PURE else 2
    units = sum(len(cur) for cur in layers)
    groups, srcs, takes, prev, p0 = [], [], [], None, 0
    for mask, cur in zip(masks, layers, strict=True):
        n, cols = len(cur), mask.shape[1]
        if mask.shape[0] != pair * pair * n:
            raise ValueError(f"mask of shape {mask.shape} does not fit {n} neurons")
        heads = mask.reshape(pair, pair, n, cols) != 0  # (group, head in group, neuron, column)
        if not (heads == heads[:, :1]).all():
            return None
        g, k, col = np.nonzero(heads[:, 0])  # sorted by group, neuron, column
        n_ff = cols - units
        src = input_size + col - n_ff  # the old state of neuron col - n_ff ...
        ff = col < n_ff  # ... or feed-forward: the inputs, or the previous layer's new state
        src[ff] = col[ff] if prev is None else input_size + units + prev[col[ff]]
        srcs.append(src)
        groups.append(pair * p0 + g * n + k)
        rows = (g[:, None] * pair + np.arange(pair)) * n + k[:, None]  # (edges, pair)
        takes.append(torch.from_numpy((rows * cols + col[:, None]).reshape(-1)))
        prev, p0 = np.asarray(cur, dtype=np.int64), p0 + n
    counts = np.bincount(np.concatenate(groups), minlength=pair * units)
    return WiredGraph(
        ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        src=np.concatenate(srcs).astype(np.int64),
        neuron_base=np.cumsum([0] + [len(cur) for cur in layers]).astype(np.int64),
        neurons=np.concatenate([np.asarray(cur, dtype=np.int64) for cur in layers]),
        takes=tuple(takes),
        pair=pair,
        mode=MODE_CODES[mode],
    )


class WiredCfCScan(torch.autograd.Function):
    """States (time, batch, units) of a wired CfC over inputs ``x`` (time, batch, inputs), and
    with mixed memory the LSTM's cell states (time, batch, units; else (time, batch, 0)).

    Arguments after ``graph``, ``bounds`` (the batch chunks, one per thread) and ``width``
    (the padded chunk width): x, dt (time, batch), valid (time, batch) bool, h0 (batch,
    units); mixed memory's zx (time, batch, 4 units) (input projection and bias), wh (4
    units, units), c0 (batch, units) (empty without); the edges' weights (edges * pair,),
    the biases of every head row, and per neuron in processing order ``w_tau`` and ``A``
    (pure mode; empty otherwise).
    """

    @staticmethod
    def forward(ctx, graph: WiredGraph, bounds: np.ndarray, width: int, *tensors):
        from ._wired_cfc_numba import wired_cfc_forward

        x, dt, valid, h0, zx, wh, c0, w, bias, w_tau, A = tensors
        steps, (batch, units) = x.shape[0], h0.shape
        states = torch.empty(steps, batch, units, dtype=h0.dtype)
        c_states = torch.empty(steps, batch, c0.shape[1], dtype=h0.dtype)
        saved = torch.empty(len(bounds) - 1, steps, 4 * units, width, dtype=h0.dtype)
        args = (as_numpy(x), as_numpy(dt), as_numpy(valid), as_numpy(h0), graph.ptr, graph.src,
                as_numpy(w).reshape(-1, graph.pair), as_numpy(bias), graph.neuron_base,
                graph.neurons, as_numpy(w_tau), as_numpy(A), graph.mode, as_numpy(zx),
                as_numpy(wh), as_numpy(c0))  # fmt: skip
        out, out_c, per_chunk = states.numpy(), c_states.numpy(), saved.numpy()
        for_each_chunk(
            bounds, lambda c, b0, b1: wired_cfc_forward(*args, b0, b1, out, per_chunk[c], out_c)
        )
        ctx.graph, ctx.bounds = graph, bounds
        ctx.save_for_backward(*tensors, states, c_states, saved)
        return states, c_states

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_states, grad_c):
        from ._wired_cfc_numba import wired_cfc_backward

        graph, bounds = ctx.graph, ctx.bounds
        x, dt, valid, h0, zx, wh, c0, w, bias, w_tau, A, states, c_states, saved = ctx.saved_tensors
        grad_states = torch.zeros_like(states) if grad_states is None else grad_states
        grad_c = torch.zeros_like(c_states) if grad_c is None else grad_c
        g_x, g_dt, g_h0, g_zx, g_c0 = (
            torch.empty(t.shape, dtype=h0.dtype) for t in (x, dt, h0, zx, c0)
        )
        chunks = len(bounds) - 1
        g_w = torch.zeros(chunks, len(w) // graph.pair, graph.pair, dtype=h0.dtype)
        g_params = [torch.zeros(chunks, len(p), dtype=h0.dtype) for p in (bias, w_tau, A)]
        g_wh = torch.zeros(chunks, *wh.shape, dtype=h0.dtype)
        args = (as_numpy(x), as_numpy(dt), as_numpy(valid), as_numpy(h0), as_numpy(states))
        per_chunk = [t.numpy() for t in (saved, g_w, *g_params, g_wh)]
        more = (as_numpy(grad_states), graph.ptr, graph.src,
                as_numpy(w).reshape(-1, graph.pair), graph.neuron_base, graph.neurons,
                graph.mode, as_numpy(zx), as_numpy(wh), as_numpy(c0), as_numpy(c_states),
                as_numpy(grad_c))  # fmt: skip
        outs = (g_x.numpy(), g_dt.numpy(), g_h0.numpy())

        def run(c, b0, b1):
            saved_c, g_w_c, g_bias_c, g_w_tau_c, g_A_c, g_wh_c = (a[c] for a in per_chunk)
            wired_cfc_backward(*args, saved_c, *more, b0, b1, *outs, g_w_c, g_bias_c,
                               g_w_tau_c, g_A_c, g_zx.numpy(), g_wh_c, g_c0.numpy())  # fmt: skip

        for_each_chunk(bounds, run)
        g_w = g_w.sum(0).reshape(-1)
        lstm = (g_zx, g_wh.sum(0), g_c0)
        return (None, None, None, g_x, g_dt, None, g_h0, *lstm, g_w,
                *(g.sum(0) for g in g_params))  # fmt: skip


def _cat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def wired_cfc_states(
    graph: WiredGraph,
    x: torch.Tensor,
    dt: torch.Tensor,
    valid: torch.Tensor,
    h0: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor],
    w_taus: Sequence[torch.Tensor] = (),
    As: Sequence[torch.Tensor] = (),
    lstm: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """States (time, batch, units) of a wired CfC over ``x`` (time, batch, inputs) with
    ``dt`` (time, batch), ``valid`` (time, batch) bool and initial state ``h0``; per layer its
    ``heads.weight`` (only the entries in ``graph`` are used), ``heads.bias`` and in pure
    mode ``w_tau`` and ``A``. The batch runs in chunks on up to ``torch.get_num_threads()``
    threads. Mixed memory: ``lstm`` = (zx, wh, c0), the LSTM's input projection with its
    bias (time, batch, 4 units), recurrent weights and initial cell; returns ``(h, c)``."""
    batch = x.shape[1]
    w = _cat([wt.reshape(-1)[idx] for wt, idx in zip(weights, graph.takes, strict=True)])
    # Narrow chunks waste the per-synapse overhead: a thread gets at least 32 columns;
    # chunks are whole SIMD vectors wide (the kernels pad).
    bounds, width = chunk_bounds(batch, threads(batch, 32, x.shape[0] * batch * w.numel()), 16)
    empty = x.new_empty(0)
    w_tau = _cat([p.reshape(-1) for p in w_taus]) if w_taus else empty
    A = _cat([p.reshape(-1) for p in As]) if As else empty
    if lstm is None:
        lstm = (x.new_empty(*x.shape[:2], 0), x.new_empty(0, 0), x.new_empty(batch, 0))
    h, c = WiredCfCScan.apply(
        graph, bounds, width, x, dt, valid, h0, *lstm, w, _cat(biases), w_tau, A
    )
    return h if c.shape[-1] == 0 else (h, c)


class FusedWiredCfC:
    """What the fused path of one wired CfC cell derives from it: the edge lists of its
    heads' masks, following the masks' values (checked on every call). Copying or pickling
    a cell starts it afresh."""

    def __init__(self) -> None:
        self._graph: Derived[WiredGraph | None] = Derived()

    def __reduce__(self):
        return (type(self), ())

    def graph(
        self,
        masks: Sequence[torch.Tensor],
        layers: Sequence[Sequence[int]],
        input_size: int,
        mode: CfCMode,
    ) -> WiredGraph | None:
        """The edge lists (see :func:`wired_graph`), or None where paired heads differ."""
        return self._graph.get(masks, lambda m: wired_graph(m, layers, input_size, mode))

    def frozen(
        self,
        graph: WiredGraph,
        weights: Sequence[torch.Tensor],
        biases: Sequence[torch.Tensor],
        w_taus: Sequence[torch.Tensor],
        As: Sequence[torch.Tensor],
        output_size: int,
    ):
        """A step function ``(x, h, dt) -> (output, new state)`` over NumPy arrays with
        *copies* of the weights (arguments as for :func:`wired_cfc_states`): one step of the
        compiled forward kernel, blind to later parameter changes."""
        from ._wired_cfc_numba import wired_cfc_forward

        def flat(ts: Sequence[torch.Tensor]) -> np.ndarray:
            return np.concatenate([t.detach().cpu().numpy().reshape(-1) for t in ts])

        w_all = [t.detach().cpu().numpy().reshape(-1) for t in weights]
        w = np.concatenate([a[idx] for a, idx in zip(w_all, graph.takes, strict=True)])
        w = w.reshape(-1, graph.pair)
        bias = flat(biases)
        dtype = bias.dtype
        w_tau = flat(w_taus) if w_taus else np.empty(0, dtype)
        A = flat(As) if As else np.empty(0, dtype)
        units = int(graph.neuron_base[-1])
        no_wh = np.empty((0, 0), dtype)

        def step(x: np.ndarray, h: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
            batch = x.shape[0]
            width = -(-max(batch, 1) // 16) * 16  # the kernels' padded chunk width
            states = np.empty((1, batch, units), dtype)
            wired_cfc_forward(
                x.reshape(1, batch, -1), np.full((1, batch), dt, dtype),
                np.ones((1, batch), np.bool_), h, graph.ptr, graph.src, w, bias,
                graph.neuron_base, graph.neurons, w_tau, A, graph.mode,
                np.empty((1, batch, 0), dtype), no_wh, np.empty((batch, 0), dtype), 0, batch,
                states, np.empty((1, 4 * units, width), dtype), np.empty((1, batch, 0), dtype),
            )  # fmt: skip
            return states[0, :, :output_size].copy(), states[0]

        return step
