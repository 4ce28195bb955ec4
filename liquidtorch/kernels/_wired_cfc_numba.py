"""Numba kernels for a whole wired-CfC sequence, forward and hand-derived backward.

Heads and synapses. Each layer's heads are laid out as its ``heads.weight``: blocks of rows
``[ff1 | ff2 | time_a | time_b]`` (pure mode ``[ff1]``), one row per neuron of the layer.
Heads come in synapse groups of ``pair`` heads that share their synapses (``ff1, ff2`` the
synaptic mask, ``time_a, time_b`` the time mask; pure mode: one group of one head). Only
the synapses that exist are stored, as edges sorted by group row (layer, group, neuron):
``ptr[q]:ptr[q+1]`` are the edges of group row ``q``, ``src[e]`` indexes the step buffer
``[inputs | old state | new state]`` (states in neuron order) and ``w[e, i]`` is the weight
of the group's ``i``-th head. A layer reads the inputs (first layer) or the new state of the
previous layer, plus the old state of every neuron: computing the layers in order is a step.
Neurons in processing order (layer after layer) are ``neurons[p]``; layer ``l`` owns
``neuron_base[l]:neuron_base[l+1]``, its group rows start at ``pair * neuron_base[l]`` and
its biases at ``heads * neuron_base[l]``. ``w_tau`` and ``A`` are in processing order too.

A kernel call runs one chunk of the batch (the caller runs one chunk per thread; the kernels
release the GIL). Inside, the batch is the innermost axis: arrays are (features, width) with
the chunk padded to ``width`` columns, so that every synapse is one vectorised multiply-add;
loops touch few arrays each so that LLVM vectorises them. The forward stores per step and
neuron the four local derivatives the backward needs (``saved`` (time, 4 * units, width), in
blocks of rows per layer like the heads):

* default / no_gate: ``d h/d ff1, d h/d ff2, d h/d (time_a dt + time_b), time_a``
* pure: ``d h/d ff1, d h/d A, d h/d w_tau, d h/d dt``

so the backward is a few products per neuron and the reverse of the synapse sums.

float32 uses vectorisable ``tanh`` and ``exp`` built on the sigmoid of :mod:`._math`
(absolute error ~2e-7, relative ~3e-7), float64 the exact ``math`` functions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._common import JIT, NO_GATE, NO_REASSOC, PURE
from ._lstm_numba import lstm_gates, lstm_local, lstm_weights_backward
from ._math import exp_neg, sigmoid, tanh


@njit(**JIT)
def _heads(buf, ptr, src, w, bias, q0, n, z):
    """Head pre-activations ``z`` (heads * n, width) of a layer of ``n`` neurons, rows in the
    layout of ``heads.weight``; ``bias`` holds the layer's biases.

    ``pair = w.shape[1]`` consecutive heads share a synapse group: the edges of neuron ``k``
    in group ``g`` are those of group row ``q0 + g n + k``, head ``g pair + i`` weighs them
    with ``w[e, i]``.
    """
    pair = w.shape[1]
    for g in range(z.shape[0] // (pair * n)):
        for k in range(n):
            ra = g * pair * n + k  # the group's first and last head
            rb = ra + (pair - 1) * n
            za, zb = z[ra], z[rb]
            za[:] = bias[ra]
            zb[:] = bias[rb]
            for e in range(ptr[q0 + g * n + k], ptr[q0 + g * n + k + 1]):
                s, wa, wb = buf[src[e]], w[e, 0], w[e, pair - 1]
                if pair == 2:  # two independent sums over the same inputs
                    for b in range(s.shape[0]):
                        za[b] += wa * s[b]
                        zb[b] += wb * s[b]
                else:
                    for b in range(s.shape[0]):
                        za[b] += wa * s[b]


@njit(**JIT)
def _heads_backward(buf, ptr, src, w, q0, n, gz, g_buf, g_w, g_bias):
    """Backward of :func:`_heads`: weight and bias gradients, and ``g_buf += w * gz``."""
    pair = w.shape[1]
    zero = gz.dtype.type(0.0)
    for g in range(gz.shape[0] // (pair * n)):
        for k in range(n):
            ra = g * pair * n + k
            rb = ra + (pair - 1) * n
            ga, gb = gz[ra], gz[rb]
            g_bias[ra] += ga.sum()
            if pair == 2:
                g_bias[rb] += gb.sum()
            for e in range(ptr[q0 + g * n + k], ptr[q0 + g * n + k + 1]):
                s, gs, wa, wb = buf[src[e]], g_buf[src[e]], w[e, 0], w[e, pair - 1]
                acc_a, acc_b = zero, zero
                if pair == 2:
                    for b in range(s.shape[0]):
                        acc_a += ga[b] * s[b]
                        acc_b += gb[b] * s[b]
                    for b in range(s.shape[0]):
                        gs[b] += wa * ga[b] + wb * gb[b]
                    g_w[e, 1] += acc_b
                else:
                    for b in range(s.shape[0]):
                        acc_a += ga[b] * s[b]
                    for b in range(s.shape[0]):
                        gs[b] += wa * ga[b]
                g_w[e, 0] += acc_a


@njit(**NO_REASSOC)
def _gated(z, d, gated, neurons, p0, new, jac):
    """Gated update of one layer (n neurons) from its heads ``z`` (4n, width), in place."""
    n = z.shape[0] // 4
    one = z.dtype.type(1.0)
    for r in range(2 * n):
        zr = z[r]
        for b in range(zr.shape[0]):
            zr[b] = tanh(zr[b])
    for k in range(n):
        f1, f2, ta, g = z[k], z[n + k], z[2 * n + k], z[3 * n + k]
        out = new[neurons[p0 + k]]
        j1, j2, jp, jt = jac[k], jac[n + k], jac[2 * n + k], jac[3 * n + k]
        for b in range(g.shape[0]):
            g[b] = sigmoid(ta[b] * d[b] + g[b])
        for b in range(g.shape[0]):
            out[b] = f1[b] * (one - g[b] * gated) + g[b] * f2[b]
        for b in range(g.shape[0]):
            j1[b] = (one - g[b] * gated) * (one - f1[b] * f1[b])
        for b in range(g.shape[0]):
            j2[b] = g[b] * (one - f2[b] * f2[b])
        for b in range(g.shape[0]):
            jp[b] = (f2[b] - f1[b] * gated) * g[b] * (one - g[b])
        jt[:] = ta


@njit(**NO_REASSOC)
def _pure(z, d, w_tau, A, neurons, p0, new, jac):
    """Pure update ``-A exp(-dt (|w_tau| + |ff1|)) ff1 + A`` of one layer from ``z`` (n, width)."""
    n = z.shape[0]
    zero, one = z.dtype.type(0.0), z.dtype.type(1.0)
    for k in range(n):
        a, out, p = z[k], new[neurons[p0 + k]], p0 + k
        wt, a_p = abs(w_tau[p]), A[p]
        sign = one if w_tau[p] > zero else (-one if w_tau[p] < zero else zero)
        ja, j_a, jw, jd = jac[k], jac[n + k], jac[2 * n + k], jac[3 * n + k]
        for b in range(a.shape[0]):
            j_a[b] = exp_neg(d[b] * (wt + abs(a[b])))  # e, until the last loop
        for b in range(a.shape[0]):
            out[b] = -a_p * j_a[b] * a[b] + a_p
        for b in range(a.shape[0]):
            ja[b] = -a_p * j_a[b] * (one - d[b] * abs(a[b]))
        for b in range(a.shape[0]):
            jw[b] = a_p * a[b] * d[b] * j_a[b] * sign
        for b in range(a.shape[0]):
            jd[b] = a_p * a[b] * j_a[b] * (wt + abs(a[b]))
        for b in range(a.shape[0]):
            j_a[b] = one - j_a[b] * a[b]


@njit(**JIT)
def _load_step(x, dt, valid, t, b0, b1, buf, d, ok):
    """Inputs, elapsed times and validity of step ``t`` for the batch chunk ``b0:b1``; the
    padding columns get zeros, dt = 1 and invalid."""
    n_in = x.shape[2]
    buf[:n_in] = 0.0
    d[:] = 1.0
    ok[:] = False
    for b in range(b1 - b0):
        for i in range(n_in):
            buf[i, b] = x[t, b0 + b, i]
        d[b] = dt[t, b0 + b]
        ok[b] = valid[t, b0 + b]


@njit(**JIT)
def _load_rows(a, t, b0, b1, out):
    """``out[:, :b1-b0] = a[t, b0:b1].T``, zero padding columns."""
    out[:] = 0.0
    for b in range(b1 - b0):
        for r in range(out.shape[0]):
            out[r, b] = a[t, b0 + b, r]


@njit(nogil=True, **JIT)
def wired_cfc_forward(
    x, dt, valid, h0, ptr, src, w, bias, neuron_base, neurons, w_tau, A, mode, zx, wh, c0,
    b0, b1, states, saved, c_states,
):  # fmt: skip
    """``states[t, b]`` = state after step ``t`` (held at invalid steps) for the batch chunk
    ``b0:b1``: x (time, batch, inputs), dt and valid (time, batch), h0 (batch, units);
    ``saved`` (time, 4 * units, width), the chunk's own, receives the local derivatives.

    Mixed memory where ``wh`` is not empty: an LSTM with input projection ``zx`` (time,
    batch, 4 units), recurrent weights ``wh`` and initial cell ``c0`` (batch, units) runs
    first in every step; its cell states go to ``c_states`` (time, batch, units)."""
    steps, n_in, units = x.shape[0], x.shape[2], h0.shape[1]
    mixed = wh.shape[0] > 0
    m = c0.shape[1]  # the LSTM's units (0 without mixed memory)
    width, pair = saved.shape[2], w.shape[1]
    heads = pair * pair  # pure: 1 group of 1 head; else 2 groups of 2 (ff1, ff2 | time_a, time_b)
    gated = h0.dtype.type(0.0 if mode == NO_GATE else 1.0)
    buf = np.zeros((n_in + 2 * units, width), dtype=h0.dtype)
    z = np.empty((heads * np.max(neuron_base[1:] - neuron_base[:-1]), width), dtype=h0.dtype)
    d = np.empty(width, dtype=h0.dtype)
    ok = np.empty(width, dtype=np.bool_)
    old, new = buf[n_in : n_in + units], buf[n_in + units :]
    for j in range(units):
        for b in range(b1 - b0):
            old[j, b] = h0[b0 + b, j]
    hp, zl_stm = np.zeros((m, width), h0.dtype), np.zeros((wh.shape[0], width), h0.dtype)
    c, c_new = np.zeros((m, width), h0.dtype), np.zeros((m, width), h0.dtype)
    for j in range(m):
        for b in range(b1 - b0):
            c[j, b] = c0[b0 + b, j]
    for t in range(steps):
        _load_step(x, dt, valid, t, b0, b1, buf, d, ok)
        if mixed:  # the LSTM's output replaces the old state the layers read
            hp[:] = old
            _load_rows(zx, t, b0, b1, zl_stm)
            lstm_gates(zl_stm, wh, old, c, c_new)
        for layer in range(neuron_base.shape[0] - 1):
            p0, p1 = neuron_base[layer], neuron_base[layer + 1]
            zl = z[: heads * (p1 - p0)]
            _heads(buf, ptr, src, w, bias[heads * p0 : heads * p1], pair * p0, p1 - p0, zl)
            jac = saved[t, 4 * p0 : 4 * p1]
            if mode == PURE:
                _pure(zl, d, w_tau, A, neurons, p0, new, jac)
            else:
                _gated(zl, d, gated, neurons, p0, new, jac)
        for j in range(units):
            o, nw = old[j], new[j]
            if mixed:
                hpj = hp[j]
                for b in range(width):
                    o[b] = nw[b] if ok[b] else hpj[b]
            else:
                for b in range(width):
                    o[b] = nw[b] if ok[b] else o[b]
        for b in range(b1 - b0):
            for j in range(units):
                states[t, b0 + b, j] = old[j, b]
            if ok[b]:
                for j in range(m):
                    c[j, b] = c_new[j, b]
            for j in range(m):
                c_states[t, b0 + b, j] = c[j, b]


@njit(nogil=True, **JIT)
def wired_cfc_backward(
    x, dt, valid, h0, states, saved, grad_states, ptr, src, w, neuron_base, neurons, mode,
    zx, wh, c0, c_states, grad_c, b0, b1, g_x, g_dt, g_h0, g_w, g_bias, g_w_tau, g_A, g_zx,
    g_wh, g_c0,
):  # fmt: skip
    """Reverse pass of :func:`wired_cfc_forward` for the batch chunk ``b0:b1``; ``saved`` and
    the parameter gradients ``g_w, g_bias, g_w_tau, g_A`` (and mixed memory's ``g_wh``) are
    the chunk's own (the caller sums them over chunks)."""
    steps, n_in, units = x.shape[0], x.shape[2], h0.shape[1]
    mixed = wh.shape[0] > 0
    m = c0.shape[1]
    width, pair = saved.shape[2], w.shape[1]
    heads = pair * pair
    zero = h0.dtype.type(0.0)
    buf = np.zeros((n_in + 2 * units, width), dtype=h0.dtype)
    g_buf = np.zeros_like(buf)
    gz = np.empty((heads * np.max(neuron_base[1:] - neuron_base[:-1]), width), dtype=h0.dtype)
    carry = np.zeros((units, width), dtype=h0.dtype)  # dL/dh flowing back in time
    d, g_d = np.empty(width, dtype=h0.dtype), np.empty(width, dtype=h0.dtype)
    ok = np.empty(width, dtype=np.bool_)
    old, new = buf[n_in : n_in + units], buf[n_in + units :]
    g_old, g_new = g_buf[n_in : n_in + units], g_buf[n_in + units :]
    hp, g_hp = np.zeros((m, width), h0.dtype), np.zeros((m, width), h0.dtype)
    c_prev, c_new = np.zeros((m, width), h0.dtype), np.zeros((m, width), h0.dtype)
    carry_c, cur_c = np.zeros((m, width), h0.dtype), np.zeros((m, width), h0.dtype)
    g_cp = np.zeros((m, width), h0.dtype)
    zl_stm, gzl = np.zeros((wh.shape[0], width), h0.dtype), np.zeros((wh.shape[0], width), h0.dtype)
    for t in range(steps - 1, -1, -1):
        _load_step(x, dt, valid, t, b0, b1, buf, d, ok)
        g_d[:] = 0.0
        g_buf[:n_in] = 0.0
        for b in range(b1 - b0):
            for j in range(units):
                old[j, b] = states[t - 1, b0 + b, j] if t > 0 else h0[b0 + b, j]
                new[j, b] = states[t, b0 + b, j]
                carry[j, b] += grad_states[t, b0 + b, j]
            for j in range(m):
                c_prev[j, b] = c_states[t - 1, b0 + b, j] if t > 0 else c0[b0 + b, j]
                carry_c[j, b] += grad_c[t, b0 + b, j]
                cur_c[j, b] = carry_c[j, b] if ok[b] else zero
        if mixed:  # the LSTM again: the layers read its output
            hp[:] = old
            _load_rows(zx, t, b0, b1, zl_stm)
            lstm_gates(zl_stm, wh, old, c_prev, c_new)
        for j in range(units):
            cj, gn, go = carry[j], g_new[j], g_old[j]
            # An invalid step held the state: its gradient passes straight through (with
            # mixed memory below, g_old collecting d loss / d the LSTM's output).
            for b in range(width):
                gn[b] = cj[b] if ok[b] else zero
            for b in range(width):
                go[b] = zero if ok[b] or mixed else cj[b]
        for layer in range(neuron_base.shape[0] - 2, -1, -1):
            p0, p1 = neuron_base[layer], neuron_base[layer + 1]
            n = p1 - p0
            jac = saved[t, 4 * p0 : 4 * p1]
            for k in range(n):
                gh = g_new[neurons[p0 + k]]
                j1, j2, j3, j4 = jac[k], jac[n + k], jac[2 * n + k], jac[3 * n + k]
                g1 = gz[k]
                for b in range(width):
                    g1[b] = gh[b] * j1[b]
                if mode == PURE:  # j2..j4: d h / d (A, w_tau, dt)
                    acc_a, acc_w = zero, zero
                    for b in range(width):
                        acc_a += gh[b] * j2[b]
                    for b in range(width):
                        acc_w += gh[b] * j3[b]
                    g_A[p0 + k] += acc_a
                    g_w_tau[p0 + k] += acc_w
                    for b in range(width):
                        g_d[b] += gh[b] * j4[b]
                else:  # j2: d h / d ff2, j3: d h / d (time_a dt + time_b), j4: time_a
                    g2, ga, gb = gz[n + k], gz[2 * n + k], gz[3 * n + k]
                    for b in range(width):
                        g2[b] = gh[b] * j2[b]
                    for b in range(width):
                        gb[b] = gh[b] * j3[b]
                    for b in range(width):
                        ga[b] = gb[b] * d[b]
                    for b in range(width):
                        g_d[b] += gb[b] * j4[b]
            g_bias_l = g_bias[heads * p0 : heads * p1]
            _heads_backward(buf, ptr, src, w, pair * p0, n, gz[: heads * n], g_buf, g_w, g_bias_l)
        for b in range(b1 - b0):
            g_dt[t, b0 + b] = g_d[b]
            for i in range(n_in):
                g_x[t, b0 + b, i] = g_buf[i, b]
        if mixed:
            lstm_local(g_old, cur_c, zl_stm, c_prev, c_new, gzl, g_cp)
            lstm_weights_backward(gzl, hp, wh, g_wh, g_hp)
            for b in range(b1 - b0):
                for r in range(gzl.shape[0]):
                    g_zx[t, b0 + b, r] = gzl[r, b]
                if ok[b]:
                    for j in range(units):
                        carry[j, b] = g_hp[j, b]
                    for j in range(m):
                        carry_c[j, b] = g_cp[j, b]
        else:
            carry[:] = g_old
    for b in range(b1 - b0):
        for j in range(units):
            g_h0[b0 + b, j] = carry[j, b]
        for j in range(m):
            g_c0[b0 + b, j] = carry_c[j, b]
