"""The per-step loops of the fused dense CfC (:mod:`.cfc`), forward and backward, in
compiled code.

Through torch ops a step costs five to eight ATen calls (two ``addmm_``, the sigmoids, the
closed form), each some microseconds of dispatch for a few thousand numbers; here a step is
two BLAS products and loops over the batch columns. The arrays and their meaning are
exactly those of the torch loops (batch-last, ``(time, rows, batch)``), so the
whole-sequence parts around them are shared whichever loop ran.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._common import DEFAULT, NO_REASSOC, PURE
from ._math import exp_neg, sigmoid, zero


@njit(**NO_REASSOC)
def _activate(y, kept):
    """Backbone units in place: kept as sigmoids (tanh units, see ``.cfc._factors``) or relu."""
    for r in range(y.shape[0]):
        if kept:
            for b in range(y.shape[1]):
                y[r, b] = sigmoid(y[r, b])
        else:
            for b in range(y.shape[1]):
                y[r, b] = max(y[r, b], zero(y[r, b]))


@njit(**NO_REASSOC)
def _affine(out, w, inputs, bias):
    """``out = bias + w @ inputs`` (batch-last columns); an empty ``w`` adds nothing."""
    for r in range(out.shape[0]):
        for b in range(out.shape[1]):
            out[r, b] = bias[r]
    if w.shape[1] > 0:
        out += np.dot(w, inputs)


@njit(**NO_REASSOC)
def cfc_loop(xt, w0x, w0h, b0, w1, b1, kept, mode, units, plan_dt, dt, valid, hs, z0, z1, e,
             a, abs_w):  # fmt: skip
    """The forward steps of :func:`.cfc._forward` for none or one backbone layer (the torch
    loop serves more), with the weights folded as for the torch loop (``.cfc._fold``).

    ``xt`` (time, inputs, batch); the first layer's weight split into ``w0x`` (rows, inputs)
    and ``w0h`` (rows, units), bias ``b0``; with a backbone layer the heads' weight ``w1``
    and bias ``b1`` (else both empty: the first layer is the heads). ``kept``: the
    backbone's units are kept as sigmoids (else relu). ``hs`` (time + 1, units, batch)
    holds the initial state in ``hs[0]`` (as a sigmoid in the default mode) and receives the
    states. ``z0``, ``z1`` receive the first layer's and the heads' activations as the torch
    loop leaves them, per step ((time, rows, batch), for backward) or only the last (one
    step: inference). ``dt`` (time, 1, batch) or empty (then ``plan_dt`` for every step);
    ``valid`` (time, batch) or empty (every step valid). Pure mode: ``e`` (like ``z1``)
    receives ``exp(-dt (|w_tau| + |ff1|))``; ``a`` and ``abs_w`` (units, 1) are A and
    ``|w_tau|``. Straight-line code per layer count: a tuple of layers indexed in a loop
    measured 60 % slower."""
    steps, batch = hs.shape[0] - 1, hs.shape[2]
    has_dt, masked, hidden = dt.shape[0] > 0, valid.shape[0] > 0, w1.shape[0] > 0
    per_step = z0.shape[0] == steps
    if steps == 0 or batch == 0:
        return
    new = np.empty((units, batch), hs.dtype)
    one = zero(hs[0, 0, 0]) + np.float32(1.0)  # of the arrays' dtype
    for t in range(steps):
        k = t if per_step else 0
        h_prev = hs[t]
        y = z0[k]
        _affine(y, w0x, xt[t], b0)
        y += np.dot(w0h, h_prev)
        if hidden:
            _activate(y, kept)
            y = z1[k]
            _affine(y, w1, z0[k], b1)
        h = new if masked else hs[t + 1]
        if mode == PURE:  # h = a - a ff1 exp(-dt (|w_tau| + |ff1|))
            for j in range(units):
                for b in range(batch):
                    f = y[j, b]
                    step = dt[t, 0, b] if has_dt else plan_dt
                    ex = exp_neg((abs_w[j, 0] + abs(f)) * step)
                    e[k, j, b] = ex
                    h[j, b] = a[j, 0] - a[j, 0] * (ex * f)
        else:
            if has_dt:  # rows [ff1 | ff2 | time_b | time_a]: the gate's pre-activation
                for j in range(units):
                    for b in range(batch):
                        y[2 * units + j, b] += y[3 * units + j, b] * dt[t, 0, b]
            for r in range(3 * units):
                for b in range(batch):
                    y[r, b] = sigmoid(y[r, b])
            if mode == DEFAULT:  # (1 + h) / 2 = lerp((1 + ff1) / 2, (1 + ff2) / 2, gate)
                for j in range(units):
                    for b in range(batch):
                        f1 = y[j, b]
                        h[j, b] = f1 + y[2 * units + j, b] * (y[units + j, b] - f1)
            else:  # h = ff1 + gate ff2, ff1 and ff2 as tanh values
                for r in range(2 * units):
                    for b in range(batch):
                        y[r, b] = (y[r, b] + y[r, b]) - one
                for j in range(units):
                    for b in range(batch):
                        h[j, b] = y[j, b] + y[2 * units + j, b] * y[units + j, b]
        if masked:
            for j in range(units):
                for b in range(batch):
                    hs[t + 1, j, b] = h[j, b] if valid[t, b] else h_prev[j, b]


@njit(**NO_REASSOC)
def cfc_backward_loop(gs, ga0, w1t, w0ht, gamma, hold, need_h0):
    """The per-step loop of :func:`.cfc._backward` for none or one backbone layer.

    ``gs`` (time, heads, units, batch): the closed form's local derivatives, multiplied here
    by ``d loss / d state`` after each step, ``gamma[t + 1]`` (time + 1, units, batch), in
    place; ``ga0`` (time, rows, batch): the backbone's local derivatives, multiplied by the
    gradient from the heads (``w1t`` the heads' weight transposed; empty without a backbone
    layer) in place; ``gamma[t]`` gains ``w0ht`` (the first layer's state columns,
    transposed) times the first layer's gradient and, where ``hold`` (time, 1, batch; empty:
    every step valid) is 1, ``gamma[t + 1]``. ``gamma[0]`` only with ``need_h0``."""
    steps, heads, units, batch = gs.shape
    hidden, masked = w1t.shape[0] > 0, hold.shape[0] > 0
    for t in range(steps - 1, -1, -1):
        g_next = gamma[t + 1]
        g = gs[t]
        for k in range(heads):
            for j in range(units):
                for b in range(batch):
                    g[k, j, b] *= g_next[j, b]
        g_first = g.reshape(heads * units, batch)
        if hidden:
            g_first = ga0[t]
            g_first *= np.dot(w1t, g.reshape(heads * units, batch))
        if t > 0 or need_h0:
            g_prev = gamma[t]
            g_prev += np.dot(w0ht, g_first)
            if masked:
                for j in range(units):
                    for b in range(batch):
                        g_prev[j, b] += hold[t, 0, b] * g_next[j, b]
