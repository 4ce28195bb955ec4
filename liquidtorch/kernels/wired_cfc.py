"""The wired CfC fast path: a custom autograd Function over numba kernels (see
``_wired_cfc_numba``), fed with edge lists of the heads' masks."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

_MODES = {"default": 0, "no_gate": 1, "pure": 2}  # the kernel's DEFAULT, NO_GATE, PURE


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
    masks: Sequence[np.ndarray], layers: Sequence[Sequence[int]], input_size: int, mode: str
) -> WiredGraph | None:
    """Edge lists of a wired CfC, or None if the paired heads' masks differ.

    ``masks[l]`` is the (heads * len(layers[l]), n_ff + units) mask of layer ``l``'s
    ``heads.weight`` over ``[feed-forward | old state]``, ``layers[l]`` its neuron ids and
    ``mode`` a CfC mode value ("default", "no_gate", "pure").
    """
    pair = 1 if mode == "pure" else 2
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
        mode=_MODES[mode],
    )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


_POOL: dict = {}


def _pool() -> ThreadPoolExecutor:
    """The worker threads (made again in a forked child, which does not inherit them)."""
    if _POOL.get("pid") != os.getpid():
        workers = max(1, (os.cpu_count() or 1) - 1)
        _POOL.update(pid=os.getpid(), pool=ThreadPoolExecutor(workers, "liquidtorch"))
    return _POOL["pool"]


def _for_each_chunk(bounds: np.ndarray, run: Callable[[int, int, int], None]) -> None:
    """``run(c, b0, b1)`` for every batch chunk ``c``: the first in this thread, the others on
    the worker threads (the kernels release the GIL)."""
    chunks = [(c, bounds[c], bounds[c + 1]) for c in range(len(bounds) - 1)]
    others = [_pool().submit(run, *chunk) for chunk in chunks[1:]]
    run(*chunks[0])
    for future in others:
        future.result()


class WiredCfCScan(torch.autograd.Function):
    """States (time, batch, units) of a wired CfC over inputs ``x`` (time, batch, inputs).

    Arguments after ``graph``, ``bounds`` (the batch chunks, one per thread) and ``width``
    (the padded chunk width): x, dt (time, batch), valid (time, batch) bool, h0 (batch,
    units), the edges' weights (edges * pair,), the biases of every head row, and per neuron
    in processing order ``w_tau`` and ``A`` (pure mode; empty otherwise).
    """

    @staticmethod
    def forward(ctx, graph: WiredGraph, bounds: np.ndarray, width: int, *tensors):
        from ._wired_cfc_numba import wired_cfc_forward

        x, dt, valid, h0, w, bias, w_tau, A = tensors
        steps, (batch, units) = x.shape[0], h0.shape
        states = torch.empty(steps, batch, units, dtype=h0.dtype)
        saved = torch.empty(len(bounds) - 1, steps, 4 * units, width, dtype=h0.dtype)
        args = (_np(x), _np(dt), _np(valid), _np(h0), graph.ptr, graph.src,
                _np(w).reshape(-1, graph.pair), _np(bias), graph.neuron_base, graph.neurons,
                _np(w_tau), _np(A), graph.mode)  # fmt: skip
        out, per_chunk = states.numpy(), saved.numpy()
        _for_each_chunk(
            bounds, lambda c, b0, b1: wired_cfc_forward(*args, b0, b1, out, per_chunk[c])
        )
        ctx.graph, ctx.bounds = graph, bounds
        ctx.save_for_backward(x, dt, valid, h0, w, bias, w_tau, A, states, saved)
        return states

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_states):
        from ._wired_cfc_numba import wired_cfc_backward

        graph, bounds = ctx.graph, ctx.bounds
        x, dt, valid, h0, w, bias, w_tau, A, states, saved = ctx.saved_tensors
        g_x, g_dt, g_h0 = (torch.empty(t.shape, dtype=h0.dtype) for t in (x, dt, h0))
        chunks = len(bounds) - 1
        g_w = torch.zeros(chunks, len(w) // graph.pair, graph.pair, dtype=h0.dtype)
        g_params = [torch.zeros(chunks, len(p), dtype=h0.dtype) for p in (bias, w_tau, A)]
        args = (_np(x), _np(dt), _np(valid), _np(h0), _np(states))
        per_chunk = [t.numpy() for t in (saved, g_w, *g_params)]
        more = (_np(grad_states), graph.ptr, graph.src, _np(w).reshape(-1, graph.pair),
                graph.neuron_base, graph.neurons, graph.mode)  # fmt: skip
        outs = (g_x.numpy(), g_dt.numpy(), g_h0.numpy())

        def run(c, b0, b1):
            saved_c, g_w_c, g_bias_c, g_w_tau_c, g_A_c = (a[c] for a in per_chunk)
            wired_cfc_backward(*args, saved_c, *more, b0, b1, *outs, g_w_c, g_bias_c,
                               g_w_tau_c, g_A_c)  # fmt: skip

        _for_each_chunk(bounds, run)
        g_w = g_w.sum(0).reshape(-1)
        return (None, None, None, g_x, g_dt, None, g_h0, g_w, *(g.sum(0) for g in g_params))


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
) -> torch.Tensor:
    """States (time, batch, units) of a wired CfC over ``x`` (time, batch, inputs) with
    ``dt`` (time, batch), ``valid`` (time, batch) bool and initial state ``h0``; per layer its
    ``heads.weight`` (only the entries in ``graph`` are used), ``heads.bias`` and in pure
    mode ``w_tau`` and ``A``. The batch runs in chunks on up to ``torch.get_num_threads()``
    threads."""
    batch = x.shape[1]
    # Narrow chunks waste the per-synapse overhead: a thread gets at least 32 columns.
    chunks = max(1, min(torch.get_num_threads(), batch // 32))
    width = -(-max(batch, 1) // chunks)
    width = -(-width // 16) * 16  # whole SIMD vectors per chunk (the kernels pad)
    bounds = np.minimum(np.arange(0, max(batch, 1) + width, width), batch)
    w = _cat([wt.reshape(-1)[idx] for wt, idx in zip(weights, graph.takes, strict=True)])
    empty = x.new_empty(0)
    w_tau = _cat([p.reshape(-1) for p in w_taus]) if w_taus else empty
    A = _cat([p.reshape(-1) for p in As]) if As else empty
    return WiredCfCScan.apply(graph, bounds, width, x, dt, valid, h0, w, _cat(biases), w_tau, A)
