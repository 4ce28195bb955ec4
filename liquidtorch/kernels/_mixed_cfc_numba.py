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
            # One function per loop over a row slice: these vectorise; offset indices (u + j)
            # or several sigmoids in one loop measured 7x slower.
            gi, gs = g[r, :u], g[r, u:]
            for j in range(u):
                gi[j] = tanh(gi[j])
            for j in range(3 * u):
                gs[j] = sigmoid(gs[j])
            gig, gf, go = g[r, u : 2 * u], g[r, 2 * u : 3 * u], g[r, 3 * u :]
            c_old, c_r, tc_r, hl_r = cs[t, r], c[r], tc[t, r], hl[t, r]
            for j in range(u):
                c_r[j] = c_old[j] * gf[j] + gi[j] * gig[j]
            for j in range(u):
                tc_r[j] = tanh(c_r[j])
            for j in range(u):
                hl_r[j] = tc_r[j] * go[j]
        y = pre0[t]
        y += np.dot(hl[t], w0hT)
        if hidden:
            act = y0[t]
            for r in range(batch):
                y_r, act_r = y[r], act[r]
                if relu:
                    for j in range(y.shape[1]):
                        act_r[j] = max(y_r[j], zero(y_r[j]))
                else:
                    for j in range(y.shape[1]):
                        act_r[j] = tanh(y_r[j])
            y = heads[t]
            for r in range(batch):
                for j in range(y.shape[1]):
                    y[r, j] = b1[j]
            y += np.dot(act, w1T)
        h = h_new if masked else hs[t + 1]
        for r in range(batch):
            y_r, h_r = y[r], h[r]
            if mode == PURE:  # h = a - a ff1 exp(-dt (|w_tau| + |ff1|))
                step = dt[t, r, 0] if has_dt else plan_dt
                e_r, a_r, w_r = e[t, r], a[0], abs_w[0]
                for j in range(u):
                    f = y_r[j]
                    ex = exp_neg((abs(f) + w_r[j]) * step)
                    e_r[j] = ex
                    h_r[j] = a_r[j] - a_r[j] * (f * ex)
            else:
                ff_r, gate_r = ff[t, r], gate[t, r]
                for j in range(2 * u):
                    ff_r[j] = tanh(y_r[j])
                f1, f2 = ff_r[:u], ff_r[u:]
                ta, tb = y_r[2 * u : 3 * u], y_r[3 * u :]
                if has_dt:  # the gate's pre-activation: time_b + time_a dt
                    step = dt[t, r, 0]
                    for j in range(u):
                        gate_r[j] = sigmoid(tb[j] + ta[j] * step)
                else:  # a head of its own
                    for j in range(u):
                        gate_r[j] = sigmoid(ta[j])
                if mode == DEFAULT:
                    for j in range(u):
                        h_r[j] = f1[j] + gate_r[j] * (f2[j] - f1[j])
                else:
                    for j in range(u):
                        h_r[j] = f1[j] + gate_r[j] * f2[j]
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
            gn = gnext[r]
            for kk in range(k):
                g2_k, d_k = g2[r, kk * u : (kk + 1) * u], d[t, r, kk]
                for j in range(u):
                    g2_k[j] = d_k[j] * gn[j]
        g_first = g2
        if hidden:
            g_first = g_pre0[t]
            g_first[:] = np.dot(g2, w_heads)
            g_first *= dact0[t]
        g_hl = np.dot(g_first, w0h)
        gg = g_gates[t]
        for r in range(batch):
            kr = keep[t, r, 0] if masked else zero(g_cc[0, 0]) + np.float32(1.0)
            gi, gig, gf, go = gg[r, :u], gg[r, u : 2 * u], gg[r, 2 * u : 3 * u], gg[r, 3 * u :]
            ri, rig, rf = r_f[t, r, 0], r_f[t, r, 1], r_f[t, r, 2]
            cn, ghl, q_r, po_r, gcc_r = cnext[r], g_hl[r], q[t, r], p_o[t, r], g_cc[r]
            for j in range(u):
                gcc = cn[j] * kr + ghl[j] * q_r[j]
                gcc_r[j] = gcc
                gi[j] = ri[j] * gcc
                gig[j] = rig[j] * gcc
                gf[j] = rf[j] * gcc
                go[j] = ghl[j] * po_r[j]
        if t > 0 or need_h0:
            gh[t] += np.dot(gg, wh)
        if t > 0 or need_c0:
            for r in range(batch):
                gc_r, gcc_r, f_r = gc[t, r], g_cc[r], gates[t, r, 2 * u : 3 * u]
                for j in range(u):
                    gc_r[j] += gcc_r[j] * f_r[j]
        if masked:
            for r in range(batch):
                hr = hold[t, r, 0]
                for j in range(u):
                    gh[t, r, j] += gnext[r, j] * hr
                    gc[t, r, j] += cnext[r, j] * hr
