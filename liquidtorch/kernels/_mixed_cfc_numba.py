"""The per-step loops of the fused mixed-memory CfC (:mod:`.mixed_cfc`) in compiled code,
for none or one backbone layer (the torch loops serve deeper backbones and other devices).

The arrays and their meaning are exactly those of the torch loops (batch-first,
``(time, batch, features)``): the forward pass fills the same saved tensors, the backward
pass the same gradients, so the whole-sequence parts around the loops stay shared. A step
through torch ops is ~15 ATen calls of a few microseconds each for a few thousand numbers;
here it is three or four BLAS products and loops over the rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._common import DEFAULT, NO_REASSOC, PURE
from ._math import exp_neg, sigmoid, tanh, zero


@njit(**NO_REASSOC)
def mixed_cfc_loop(whT, w0hT, w1T, b1, relu, mode, plan_dt, dt, valid, hs, cs, gates, tc, hl,
                   pre0, y0, heads, e, ff, gate, a, abs_w):  # fmt: skip
    """The forward steps of :func:`.mixed_cfc._forward`.

    ``gates`` (time, batch, 4 units) holds the LSTM's input projection and receives the
    gates; ``pre0`` (time, batch, rows) the first layer's input part and receives its
    pre-activations; with a backbone layer (``w1T`` (rows, head rows) not empty) ``y0`` its
    activations (``relu`` or tanh) and ``heads`` (time, batch, head rows) the heads'
    pre-activations (``b1`` their bias); without one ``heads`` is ``pre0``. ``hs``, ``cs``
    (time + 1, batch, units) hold the initial state in row 0. ``dt`` (time, batch, 1) or
    empty (``plan_dt``); ``valid`` (time, batch) or empty. Pure mode fills ``e``; the others
    ``ff`` (time, batch, 2 units) and ``gate`` (time, batch, units). ``a``, ``abs_w`` (1,
    units): pure mode's A and ``|w_tau|``."""
    steps, batch, u = gates.shape[0], gates.shape[1], hs.shape[2]
    hidden, has_dt, masked = w1T.shape[0] > 0, dt.shape[0] > 0, valid.shape[0] > 0
    if steps == 0 or batch == 0:
        return
    h_new, c_new = np.empty((batch, u), hs.dtype), np.empty((batch, u), hs.dtype)
    for t in range(steps):
        g = gates[t]
        g += np.dot(hs[t], whT)
        c = c_new if masked else cs[t + 1]
        for r in range(batch):
            for j in range(u):
                g[r, j] = tanh(g[r, j])
            for j in range(u, 4 * u):
                g[r, j] = sigmoid(g[r, j])
            for j in range(u):
                cc = cs[t, r, j] * g[r, 2 * u + j] + g[r, j] * g[r, u + j]
                c[r, j] = cc
                tcc = tanh(cc)
                tc[t, r, j] = tcc
                hl[t, r, j] = tcc * g[r, 3 * u + j]
        y = pre0[t]
        y += np.dot(hl[t], w0hT)
        if hidden:
            act = y0[t]
            for r in range(batch):
                for j in range(y.shape[1]):
                    act[r, j] = max(y[r, j], zero(y[r, j])) if relu else tanh(y[r, j])
            y = heads[t]
            for r in range(batch):
                for j in range(y.shape[1]):
                    y[r, j] = b1[j]
            y += np.dot(act, w1T)
        h = h_new if masked else hs[t + 1]
        for r in range(batch):
            if mode == PURE:  # h = a - a ff1 exp(-dt (|w_tau| + |ff1|))
                step = dt[t, r, 0] if has_dt else plan_dt
                for j in range(u):
                    f = y[r, j]
                    ex = exp_neg((abs(f) + abs_w[0, j]) * step)
                    e[t, r, j] = ex
                    h[r, j] = a[0, j] - a[0, j] * (f * ex)
            else:
                for j in range(2 * u):
                    ff[t, r, j] = tanh(y[r, j])
                for j in range(u):
                    pre = (
                        y[r, 3 * u + j] + y[r, 2 * u + j] * dt[t, r, 0]
                        if has_dt
                        else y[r, 2 * u + j]
                    )
                    gt = sigmoid(pre)
                    gate[t, r, j] = gt
                    f1, f2 = ff[t, r, j], ff[t, r, u + j]
                    h[r, j] = f1 + gt * (f2 - f1) if mode == DEFAULT else f1 + gt * f2
        if masked:
            for r in range(batch):
                keep = valid[t, r]
                for j in range(u):
                    hs[t + 1, r, j] = h_new[r, j] if keep else hs[t, r, j]
                    cs[t + 1, r, j] = c_new[r, j] if keep else cs[t, r, j]


@njit(**NO_REASSOC)
def mixed_cfc_backward_loop(d, w_heads, dact0, w0h, wh, q, p_o, r_f, gates, gh, gc, g_heads,
                            g_pre0, g_gates, keep, hold, need_h0, need_c0):  # fmt: skip
    """The per-step loop of :func:`.mixed_cfc._backward`: ``d`` (time, batch, heads, units)
    the closed form's local derivatives; with a backbone layer (``w_heads`` (head rows, rows)
    not empty) ``dact0`` its activation's derivatives and ``g_pre0`` receives d loss / d
    its pre-activations; ``q``, ``p_o`` (time, batch, units) and ``r_f`` (time, batch, 3,
    units) the LSTM's local derivatives; ``g_heads`` and ``g_gates`` receive d loss / d the
    heads and the gates; ``gh``, ``gc`` (time + 1, batch, units) hold d loss / d the outputs
    and gain d loss / d each state (row 0 only where ``need_h0`` / ``need_c0``). ``keep``,
    ``hold`` (time, batch, 1): valid / invalid as numbers, or empty (every step valid)."""
    steps, batch, k, u = d.shape
    hidden, masked = w_heads.shape[0] > 0, keep.shape[0] > 0
    g_cc = np.empty((batch, u), gh.dtype)
    for t in range(steps - 1, -1, -1):
        gnext, cnext = gh[t + 1], gc[t + 1]
        g2 = g_heads[t]
        for r in range(batch):
            for kk in range(k):
                for j in range(u):
                    g2[r, kk * u + j] = d[t, r, kk, j] * gnext[r, j]
        g_first = g2
        if hidden:
            g_first = g_pre0[t]
            g_first[:] = np.dot(g2, w_heads)
            g_first *= dact0[t]
        g_hl = np.dot(g_first, w0h)
        gg = g_gates[t]
        for r in range(batch):
            kr = keep[t, r, 0] if masked else zero(g_cc[0, 0]) + np.float32(1.0)
            for j in range(u):
                gcc = cnext[r, j] * kr + g_hl[r, j] * q[t, r, j]
                g_cc[r, j] = gcc
                gg[r, j] = r_f[t, r, 0, j] * gcc
                gg[r, u + j] = r_f[t, r, 1, j] * gcc
                gg[r, 2 * u + j] = r_f[t, r, 2, j] * gcc
                gg[r, 3 * u + j] = g_hl[r, j] * p_o[t, r, j]
        if t > 0 or need_h0:
            gh[t] += np.dot(gg, wh)
        if t > 0 or need_c0:
            for r in range(batch):
                for j in range(u):
                    gc[t, r, j] += g_cc[r, j] * gates[t, r, 2 * u + j]
        if masked:
            for r in range(batch):
                hr = hold[t, r, 0]
                for j in range(u):
                    gh[t, r, j] += gnext[r, j] * hr
                    gc[t, r, j] += cnext[r, j] * hr
