"""Numba kernels for a whole LTC sequence with the fused semi-implicit solver.

The synapses are edge lists (only those that exist). Arrays are batch-last, ``(..., batch)``,
so every inner loop runs over a contiguous chunk of batch rows and vectorises; chunks run in
parallel. The backward pass recomputes the unfolds of each input step from the stored step
states instead of keeping every unfold (memory: one state per step).

Notation (docs/maths.md, section 2): per unfold ``v' = (c v + A) / D`` with ``c = cm / h``,
``A = gleak vleak + sum_e s_e erev_e + A_in``, ``D = c + gleak + sum_e s_e + D_in + eps``,
``s_e = w_e sigmoid(sigma_e (v_src - mu_e))``.

float32 uses the vectorisable sigmoid of :mod:`._math`, float64 the exact ``math.exp``.
A call runs the 32-column chunks of the batch columns ``b0:b1`` (:func:`._common.
for_each_chunk` gives each thread its own columns; the kernels release the GIL).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._common import CLAMP, JIT, NO_REASSOC
from ._lstm_numba import lstm_gates, lstm_local, lstm_weights_backward
from ._math import sigmoid, zero

CHUNK = 32  # batch rows per chunk, a fixed trip count (two AVX-512 registers of float32)


@njit(**JIT)
def _load(src, t, b0, nb, fill, dst):
    """``dst[:, :nb] = src[t, :, b0:b0+nb]``; padding lanes get ``fill``."""
    for i in range(dst.shape[0]):
        for bb in range(CHUNK):
            dst[i, bb] = src[t, i, b0 + bb] if bb < nb else fill


@njit(**NO_REASSOC)
def _sensory(u, ssrc, sdst, sw, ssig, smu, serev, acts, num_in, den_in):
    """Sensory activations ``acts[e]`` of the chunk's inputs ``u`` (inputs, CHUNK) and their
    sums into ``num_in``, ``den_in``."""
    num_in[:] = 0.0
    den_in[:] = 0.0
    for e in range(ssrc.shape[0]):  # loops as in _unfold
        a_e, u_i, num_j, den_j = acts[e], u[ssrc[e]], num_in[sdst[e]], den_in[sdst[e]]
        s_e, m_e, w_e, r_e = ssig[e], smu[e], sw[e], serev[e]
        for bb in range(CHUNK):
            a_e[bb] = sigmoid(s_e * (u_i[bb] - m_e))
        for bb in range(CHUNK):
            s = w_e * a_e[bb]
            num_j[bb] += s * r_e
            den_j[bb] += s


@njit(**NO_REASSOC)
def _unfold(v, out, inv_h, gleak, vleak, cm, src, dst, w, sig, mu, erev, num_in, den_in, acts,
            num, den, eps):  # fmt: skip
    """One semi-implicit update of ``v`` (units, CHUNK) into ``out``; keeps the activations in
    ``acts`` (edges, CHUNK) and the full denominators ``D`` in ``den``; ``inv_h`` = 1 / step
    size per column.

    Per edge the sigmoids get a loop of their own over the edge's rows (row slices, loops
    from 0): one transcendental per loop vectorises best (measured 16 % faster than one
    loop that also accumulates)."""
    num[:] = num_in
    den[:] = den_in
    for e in range(src.shape[0]):
        a_e, v_i, num_j, den_j = acts[e], v[src[e]], num[dst[e]], den[dst[e]]
        s_e, m_e, w_e, r_e = sig[e], mu[e], w[e], erev[e]
        for bb in range(CHUNK):
            a_e[bb] = sigmoid(s_e * (v_i[bb] - m_e))
        for bb in range(CHUNK):
            s = w_e * a_e[bb]
            num_j[bb] += s * r_e
            den_j[bb] += s
    for j in range(v.shape[0]):
        leak = gleak[j] * vleak[j]
        for bb in range(CHUNK):
            c = cm[j] * inv_h[bb]
            d = c + gleak[j] + den[j, bb] + eps
            den[j, bb] = d
            out[j, bb] = (c * v[j, bb] + leak + num[j, bb]) / d


@njit(**JIT)
def _step_sizes(dt, t, b0, nb, unfolds, h, inv_h):
    """Step sizes ``h`` = dt / unfolds of step ``t`` per column (padding: 1 / unfolds) and
    their reciprocals (one division per column instead of one per neuron and column)."""
    for bb in range(CHUNK):
        h[bb] = (dt[t, b0 + bb] if bb < nb else 1.0) / unfolds
    for bb in range(CHUNK):
        inv_h[bb] = 1.0 / h[bb]


@njit(nogil=True, **JIT)
def ltc_forward(
    u, dt, valid, v0, gleak, vleak, cm, src, dst, w, sig, mu, erev,
    ssrc, sdst, sw, ssig, smu, serev, unfolds, eps, zx, wh, c0, b0, b1, out, out_c,
    vs_c, dens_c, acts_c, sacts_c,
):  # fmt: skip
    """u (T, inputs, B), dt and valid (T, B), v0 (units, B) -> out (T, units, B): the state
    after each input step; invalid steps hold the state. Batch columns ``b0:b1``
    (``b0`` a multiple of ``CHUNK``).

    Mixed memory where ``wh`` is not empty: an LSTM with input projection ``zx`` (T, 4 units,
    B), recurrent weights ``wh`` (4 units, units) and initial cell ``c0`` (units, B) runs
    before each step; its cell states go to ``out_c`` (T, units, B).

    Activation cache where ``vs_c`` is not empty (per 32-column chunk and step): the states
    of the unfolds ``vs_c`` (chunks, T, unfolds + 1, units, CHUNK), the denominators
    ``dens_c`` (chunks, T, unfolds, units, CHUNK), the synapse activations ``acts_c``
    (chunks, T, unfolds, edges, CHUNK) and ``sacts_c`` (chunks, T, sensory edges, CHUNK),
    which :func:`ltc_backward` then reads instead of recomputing the unfolds."""
    steps, batch = dt.shape[0], b1
    n, ni = v0.shape[0], u.shape[1]
    mixed = wh.shape[0] > 0
    keep = vs_c.shape[0] > 0
    for ch in range(b0 // CHUNK, (b1 + CHUNK - 1) // CHUNK):
        b0 = ch * CHUNK
        nb = min(batch, b0 + CHUNK) - b0
        v = np.zeros((n, CHUNK), dtype=v0.dtype)
        v[:, :nb] = v0[:, b0 : b0 + nb]
        nxt, num, den = np.empty_like(v), np.empty_like(v), np.empty_like(v)
        num_in, den_in = np.empty_like(v), np.empty_like(v)
        acts = np.empty((src.shape[0], CHUNK), dtype=v0.dtype)
        sacts = np.empty((ssrc.shape[0], CHUNK), dtype=v0.dtype)
        u_loc = np.empty((ni, CHUNK), dtype=v0.dtype)
        h, inv_h = np.empty(CHUNK, dtype=dt.dtype), np.empty(CHUNK, dtype=dt.dtype)
        c, c_new = (
            np.zeros((c0.shape[0], CHUNK), v0.dtype),
            np.empty((c0.shape[0], CHUNK), v0.dtype),
        )
        z = np.empty((wh.shape[0], CHUNK), dtype=v0.dtype)
        if mixed:
            c[:, :nb] = c0[:, b0 : b0 + nb]
        for t in range(steps):
            _step_sizes(dt, t, b0, nb, unfolds, h, inv_h)
            if mixed:  # the LSTM's output replaces the state the step starts from
                _load(zx, t, b0, nb, 0.0, z)
                lstm_gates(z, wh, v, c, c_new)
            _load(u, t, b0, nb, 0.0, u_loc)
            if keep:  # the same operations, written where the backward pass reads them
                _sensory(u_loc, ssrc, sdst, sw, ssig, smu, serev, sacts_c[ch, t], num_in,
                         den_in)  # fmt: skip
                vs, acts_t, dens_t = vs_c[ch, t], acts_c[ch, t], dens_c[ch, t]
                vs[0] = v
                for k in range(unfolds):
                    _unfold(vs[k], vs[k + 1], inv_h, gleak, vleak, cm, src, dst, w, sig, mu,
                            erev, num_in, den_in, acts_t[k], num, dens_t[k], eps)  # fmt: skip
                v[:] = vs[unfolds]
            else:
                _sensory(u_loc, ssrc, sdst, sw, ssig, smu, serev, sacts, num_in, den_in)
                for _ in range(unfolds):
                    _unfold(v, nxt, inv_h, gleak, vleak, cm, src, dst, w, sig, mu, erev,
                            num_in, den_in, acts, num, den, eps)  # fmt: skip
                    v, nxt = nxt, v
            for j in range(n):
                for bb in range(nb):
                    if valid[t, b0 + bb]:
                        out[t, j, b0 + bb] = v[j, bb]
                    else:  # hold the state
                        prev = out[t - 1, j, b0 + bb] if t > 0 else v0[j, b0 + bb]
                        out[t, j, b0 + bb] = prev
                        v[j, bb] = prev
            if mixed:
                for j in range(n):
                    for bb in range(nb):
                        if valid[t, b0 + bb]:
                            c[j, bb] = c_new[j, bb]
                        out_c[t, j, b0 + bb] = c[j, bb]


@njit(**JIT)
def _edge_grads(pre, src, dst, w, sig, mu, erev, acts, g_num, g_den,
                g_w, g_sig, g_mu, g_erev, g_pre):  # fmt: skip
    """Backward through ``s_e = w_e sigmoid(sigma_e (pre[src_e] - mu_e))`` feeding
    ``num[dst_e] += s_e erev_e`` and ``den[dst_e] += s_e`` (all chunk-local arrays). Per
    edge constants leave the loop: ``d/d sigma = w sum(g' pre) - w mu sum(g')`` with ``g' =
    g_s a (1 - a)`` (measured 22 % faster than per-column products)."""
    for e in range(src.shape[0]):
        i, j = src[e], dst[e]
        a_e, p_i, gn_j, gd_j, gp_i = acts[e], pre[i], g_num[j], g_den[j], g_pre[i]
        w_e, s_e, r_e = w[e], sig[e], erev[e]
        ws_e = w_e * s_e
        acc_erev = zero(w_e)
        acc_w, acc_pre, acc_g = acc_erev, acc_erev, acc_erev
        one = acc_erev + 1.0
        for bb in range(CHUNK):
            a = a_e[bb]
            g_s = gn_j[bb] * r_e + gd_j[bb]
            acc_erev += gn_j[bb] * a
            acc_w += g_s * a
            g_z = g_s * a * (one - a)
            acc_pre += g_z * p_i[bb]
            acc_g += g_z
            gp_i[bb] += g_z * ws_e
        g_erev[e] += acc_erev * w_e
        g_w[e] += acc_w
        g_sig[e] += w_e * (acc_pre - acc_g * mu[e])
        g_mu[e] -= ws_e * acc_g


@njit(nogil=True, **JIT)
def ltc_backward(
    u, dt, valid, v0, states, grad_states, gleak, vleak, cm, src, dst, w, sig, mu, erev,
    ssrc, sdst, sw, ssig, smu, serev, unfolds, eps, zx, wh, c0, c_states, grad_c, b0, b1,
    g_u, g_dt, g_v0, g_gleak, g_vleak, g_cm, g_w, g_sig, g_mu, g_erev,
    g_sw, g_ssig, g_smu, g_serev, g_zx, g_wh, g_c0, vs_c, dens_c, acts_c, sacts_c,
):  # fmt: skip
    """Reverse pass of :func:`ltc_forward` (same layouts); parameter gradients get one row
    per 32-column chunk of the batch, summed by the caller. Mixed memory: ``c_states`` the
    forward's ``out_c``, ``grad_c`` its gradient; ``g_zx``, ``g_wh`` (a row per chunk) and
    ``g_c0`` receive the LSTM's gradients. With the forward's activation cache (``vs_c``
    not empty; never with mixed memory) the unfolds are read, not recomputed."""
    steps, batch = dt.shape[0], b1
    n, ni = v0.shape[0], u.shape[1]
    mixed = wh.shape[0] > 0
    keep = vs_c.shape[0] > 0
    for ch in range((b0 // CHUNK), (b1 + CHUNK - 1) // CHUNK):
        b0 = ch * CHUNK
        nb = min(batch, b0 + CHUNK) - b0
        carry = np.zeros((n, CHUNK), dtype=v0.dtype)  # dL/dv flowing back in time
        cur, new = np.zeros_like(carry), np.zeros_like(carry)
        vs_loc = np.zeros((unfolds + 1, n, CHUNK), dtype=v0.dtype)
        dens_loc = np.empty((unfolds, n, CHUNK), dtype=v0.dtype)
        acts_loc = np.empty((unfolds, src.shape[0], CHUNK), dtype=v0.dtype)
        sacts_loc = np.empty((ssrc.shape[0], CHUNK), dtype=v0.dtype)
        num, num_in, den_in = np.empty_like(carry), np.empty_like(carry), np.empty_like(carry)
        g_a, g_d = np.empty_like(carry), np.empty_like(carry)
        g_num_in, g_den_in = np.empty_like(carry), np.empty_like(carry)
        u_loc, g_u_loc = np.empty((ni, CHUNK), dtype=v0.dtype), np.empty((ni, CHUNK), v0.dtype)
        h, inv_h = np.empty(CHUNK, dtype=dt.dtype), np.empty(CHUNK, dtype=dt.dtype)
        g_h = np.empty(CHUNK, dtype=dt.dtype)
        m = c0.shape[0]  # the LSTM's units (0 without mixed memory)
        carry_c, cur_c = np.zeros((m, CHUNK), v0.dtype), np.zeros((m, CHUNK), v0.dtype)
        c_prev, c_new = np.zeros((m, CHUNK), v0.dtype), np.zeros((m, CHUNK), v0.dtype)
        hp, g_hp, g_cp = np.zeros_like(carry), np.zeros_like(carry), np.zeros_like(c_prev)
        z, gz = np.zeros((wh.shape[0], CHUNK), v0.dtype), np.zeros((wh.shape[0], CHUNK), v0.dtype)
        for t in range(steps - 1, -1, -1):
            for j in range(n):
                for bb in range(nb):
                    carry[j, bb] += grad_states[t, j, b0 + bb]
                    # Invalid steps held the state: nothing flows through their update.
                    cur[j, bb] = carry[j, bb] if valid[t, b0 + bb] else 0.0
            for j in range(m):
                for bb in range(nb):
                    carry_c[j, bb] += grad_c[t, j, b0 + bb]
                    cur_c[j, bb] = carry_c[j, bb] if valid[t, b0 + bb] else 0.0
            _step_sizes(dt, t, b0, nb, unfolds, h, inv_h)
            g_h[:] = 0.0
            _load(u, t, b0, nb, 0.0, u_loc)
            if keep:
                vs, dens, acts, sacts = vs_c[ch, t], dens_c[ch, t], acts_c[ch, t], sacts_c[ch, t]
            else:
                vs, dens, acts, sacts = vs_loc, dens_loc, acts_loc, sacts_loc
                if t > 0:
                    _load(states, t - 1, b0, nb, 0.0, vs[0])
                else:
                    vs[0, :, :nb] = v0[:, b0 : b0 + nb]
                if mixed:  # the LSTM again, from the state before the step
                    hp[:] = vs[0]
                    if t > 0:
                        _load(c_states, t - 1, b0, nb, 0.0, c_prev)
                    else:
                        c_prev[:, :nb] = c0[:, b0 : b0 + nb]
                    _load(zx, t, b0, nb, 0.0, z)
                    lstm_gates(z, wh, vs[0], c_prev, c_new)
                _sensory(u_loc, ssrc, sdst, sw, ssig, smu, serev, sacts, num_in, den_in)
                for k in range(unfolds):  # recompute the unfolds, keeping activations and D
                    _unfold(vs[k], vs[k + 1], inv_h, gleak, vleak, cm, src, dst, w, sig, mu,
                            erev, num_in, den_in, acts[k], num, dens[k], eps)  # fmt: skip
            g_num_in[:] = 0.0
            g_den_in[:] = 0.0
            for k in range(unfolds - 1, -1, -1):
                v, v1, den = vs[k], vs[k + 1], dens[k]
                for j in range(n):  # one division per column: the reciprocal of D
                    cm_j = cm[j]
                    acc_cm = zero(cm_j)
                    acc_gleak, acc_vleak = acc_cm, acc_cm
                    for bb in range(CHUNK):
                        ga = cur[j, bb] / den[j, bb]
                        gd = -ga * v1[j, bb]
                        g_c = ga * v[j, bb] + gd
                        acc_cm += g_c * inv_h[bb]
                        g_h[bb] -= g_c * cm_j * inv_h[bb] * inv_h[bb]
                        acc_gleak += ga * vleak[j] + gd
                        acc_vleak += ga * gleak[j]
                        g_a[j, bb] = ga
                        g_d[j, bb] = gd
                        g_num_in[j, bb] += ga
                        g_den_in[j, bb] += gd
                        new[j, bb] = ga * (cm_j * inv_h[bb])
                    g_cm[ch, j] += acc_cm
                    g_gleak[ch, j] += acc_gleak
                    g_vleak[ch, j] += acc_vleak
                _edge_grads(v, src, dst, w, sig, mu, erev, acts[k], g_a, g_d,
                            g_w[ch], g_sig[ch], g_mu[ch], g_erev[ch], new)  # fmt: skip
                cur, new = new, cur
            g_u_loc[:] = 0.0
            _edge_grads(u_loc, ssrc, sdst, sw, ssig, smu, serev, sacts, g_num_in, g_den_in,
                        g_sw[ch], g_ssig[ch], g_smu[ch], g_serev[ch], g_u_loc)  # fmt: skip
            for i in range(ni):
                for bb in range(nb):
                    g_u[t, i, b0 + bb] = g_u_loc[i, bb]
            if mixed:  # cur: d loss / d the LSTM's output
                lstm_local(cur, cur_c, z, c_prev, c_new, gz, g_cp)
                lstm_weights_backward(gz, hp, wh, g_wh[ch], g_hp)
                cur[:] = g_hp
                for r in range(gz.shape[0]):
                    for bb in range(nb):
                        g_zx[t, r, b0 + bb] = gz[r, bb]
            for bb in range(nb):
                if valid[t, b0 + bb]:
                    g_dt[t, b0 + bb] = g_h[bb] / unfolds
                    for j in range(n):
                        carry[j, bb] = cur[j, bb]
                    for j in range(m):
                        carry_c[j, bb] = g_cp[j, bb]
        g_v0[:, b0 : b0 + nb] = carry[:, :nb]
        g_c0[:, b0 : b0 + nb] = carry_c[:, :nb]


@njit(**JIT)
def _positive(x, constraint):
    if constraint == CLAMP:
        return max(x, zero(x))
    return x if x > 20.0 else math.log1p(math.exp(x))  # torch's softplus (threshold 20)


@njit(**JIT)
def gather_edges(constraint, src, dst, w, sig, mu, erev, out_w, out_sig, out_mu, out_erev):
    """Per edge ``e``: the (positive) weight and the other parameters at ``[src_e, dst_e]``
    of the (pre, post) matrices, into the ``out_*`` arrays."""
    for e in range(src.shape[0]):
        i, j = src[e], dst[e]
        out_w[e] = _positive(w[i, j], constraint)
        out_sig[e] = sig[i, j]
        out_mu[e] = mu[i, j]
        out_erev[e] = erev[i, j]


@njit(**JIT)
def positive(constraint, x, out):
    for j in range(x.shape[0]):
        out[j] = _positive(x[j], constraint)


@njit(**JIT)
def _affine(x, w, b, out):
    """``out = x * w + b`` per feature (last axis); empty ``w`` / ``b``: 1 / 0."""
    for r in range(x.shape[0]):
        for i in range(out.shape[1]):
            y = x[r, i] * w[i] if w.shape[0] else x[r, i]
            out[r, i] = y + b[i] if b.shape[0] else y


@njit(**NO_REASSOC)
def _stream_rows(u, v, h, gleak, vleak, cm, src, dst, w, sig, mu, erev,
                 ssrc, sdst, sw, ssig, smu, serev, unfolds, eps, v_out):  # fmt: skip
    """The fused semi-implicit step of each row of ``v`` (batch, units) over mapped inputs
    ``u`` (batch, inputs), one row at a time (no padding to a 32-column chunk: a streaming
    batch is often one row). The same operations in the same order as :func:`_sensory` and
    :func:`_unfold`; ``h`` holds the step size dt / unfolds and its reciprocal (in the
    dtype, computed as :func:`_step_sizes` does)."""
    n = v.shape[1]
    num_in, den_in = np.empty(n, v.dtype), np.empty(n, v.dtype)
    num, den = np.empty(n, v.dtype), np.empty(n, v.dtype)
    cur, nxt = np.empty(n, v.dtype), np.empty(n, v.dtype)
    for r in range(v.shape[0]):
        num_in[:] = 0.0
        den_in[:] = 0.0
        for e in range(ssrc.shape[0]):
            s = sw[e] * sigmoid(ssig[e] * (u[r, ssrc[e]] - smu[e]))
            num_in[sdst[e]] += s * serev[e]
            den_in[sdst[e]] += s
        cur[:] = v[r]
        for _ in range(unfolds):
            num[:] = num_in
            den[:] = den_in
            for e in range(src.shape[0]):
                s = w[e] * sigmoid(sig[e] * (cur[src[e]] - mu[e]))
                num[dst[e]] += s * erev[e]
                den[dst[e]] += s
            for j in range(n):
                c = cm[j] * h[1]
                d = c + gleak[j] + den[j] + eps
                nxt[j] = (c * cur[j] + gleak[j] * vleak[j] + num[j]) / d
            cur, nxt = nxt, cur
        v_out[r] = cur


@njit(**JIT)
def ltc_stream_step(
    constraint, x, v, dt, gleak, vleak, cm, w, sig, mu, erev, sw, ssig, smu, serev,
    in_w, in_b, out_w, out_b, src, dst, ssrc, sdst, unfolds, eps, y, v_out,
):  # fmt: skip
    """One streaming step in one call: raw parameters (the constraint applied here), inputs
    ``x`` (batch, inputs) and state ``v`` (batch, units) -> output ``y`` (batch, outputs) and
    new state ``v_out``; empty mapping arrays mean no mapping (see :func:`ltc_step_core`)."""
    n = v.shape[1]
    dtype = v.dtype
    neurons = np.empty((2, n), dtype)
    positive(constraint, gleak, neurons[0])
    positive(constraint, cm, neurons[1])
    edges = np.empty((4, src.shape[0]), dtype)
    gather_edges(constraint, src, dst, w, sig, mu, erev, edges[0], edges[1], edges[2], edges[3])
    sens = np.empty((4, ssrc.shape[0]), dtype)
    gather_edges(constraint, ssrc, sdst, sw, ssig, smu, serev, sens[0], sens[1], sens[2], sens[3])
    ltc_step_core(x, v, dt, neurons, vleak, edges, sens, src, dst, ssrc, sdst, in_w, in_b,
                  out_w, out_b, unfolds, eps, y, v_out)  # fmt: skip


@njit(nogil=True, **JIT)
def ltc_step_core(x, v, dt, neurons, vleak, edges, sens, src, dst, ssrc, sdst, in_w, in_b,
                  out_w, out_b, unfolds, eps, y, v_out):  # fmt: skip
    """One step with the parameters as the kernels use them: ``neurons`` (2, units) the
    positive gleak and cm, ``edges`` / ``sens`` (4, edges) the positive weights, sigma, mu
    and erev per recurrent / sensory edge. Up to 8 rows run one at a time
    (:func:`_stream_rows`), larger batches through the chunked :func:`ltc_forward`."""
    batch, ni = x.shape
    n = v.shape[1]
    dtype = v.dtype
    u = np.empty((batch, ni), dtype)
    _affine(x, in_w, in_b, u)
    if batch <= 8:
        h = np.empty(2, dtype)  # as _step_sizes: the dtype's dt over the unfolds, reciprocal
        h[0] = dt
        h[0] = h[0] / unfolds
        h[1] = 1.0 / h[0]
        _stream_rows(u, v, h, neurons[0], vleak, neurons[1], src, dst, edges[0], edges[1],
                     edges[2], edges[3], ssrc, sdst, sens[0], sens[1], sens[2], sens[3],
                     unfolds, eps, v_out)  # fmt: skip
    else:
        out = np.empty((1, n, batch), dtype)
        ltc_forward(
            np.ascontiguousarray(u.T).reshape(1, ni, batch), np.full((1, batch), dt, dtype),
            np.ones((1, batch), np.bool_), np.ascontiguousarray(v.T), neurons[0], vleak,
            neurons[1], src, dst, edges[0], edges[1], edges[2], edges[3], ssrc, sdst, sens[0],
            sens[1], sens[2], sens[3], unfolds, eps, np.empty((1, 0, batch), dtype),
            np.empty((0, 0), dtype), np.empty((0, batch), dtype), 0, batch, out,
            np.empty((1, 0, batch), dtype), np.empty((0, 0, 0, 0, 0), dtype),
            np.empty((0, 0, 0, 0, 0), dtype), np.empty((0, 0, 0, 0, 0), dtype),
            np.empty((0, 0, 0, 0), dtype),
        )  # fmt: skip
        v_out[:] = out[0].T
    _affine(v_out[:, : y.shape[1]], out_w, out_b, y)
