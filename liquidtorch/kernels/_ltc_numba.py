"""Numba kernels for a whole LTC sequence with the fused semi-implicit solver.

The synapses are edge lists (only those that exist). Arrays are batch-last, ``(..., batch)``,
so every inner loop runs over a contiguous chunk of batch rows and vectorises; chunks run in
parallel. The backward pass recomputes the unfolds of each input step from the stored step
states instead of keeping every unfold (memory: one state per step).

Notation (docs/maths.md, section 2): per unfold ``v' = (c v + A) / D`` with ``c = cm / h``,
``A = gleak vleak + sum_e s_e erev_e + A_in``, ``D = c + gleak + sum_e s_e + D_in + eps``,
``s_e = w_e sigmoid(sigma_e (v_src - mu_e))``.

``error_model="numpy"`` drops Python's division-by-zero checks so loops vectorise; float32
uses a vectorisable exp (max abs error of the sigmoid ~1e-7), float64 the exact ``math.exp``.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

_JIT = {"cache": True, "error_model": "numpy", "fastmath": True}
# Where the sigmoid is evaluated: fast math without reassociation, which would undo the exp
# range reduction below (sigmoid error ~1e-6 instead of ~1e-7).
_NO_REASSOC = {**_JIT, "fastmath": {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}}
_LOG2E = np.float32(1.4426950408889634)
# Taylor coefficients of 2**f = exp(f ln 2) on [-0.5, 0.5]; truncation error < 2e-9.
_C = [np.float32(math.log(2) ** k / math.factorial(k)) for k in range(8)]


@intrinsic
def _i32_as_f32(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


def sigmoid(z):  # pragma: no cover - replaced by the overload inside jitted code
    return 1.0 / (1.0 + math.exp(-z))


@overload(sigmoid, inline="always", fastmath=True)
def _sigmoid_overload(z):
    if isinstance(z, types.Float) and z.bitwidth == 32:
        c1, c2, c3, c4, c5, c6, c7 = _C[1:]

        def impl(z):
            t = min(max(-z * _LOG2E, np.float32(-126.0)), np.float32(126.0))
            k = np.int32(t + np.float32(127.5))  # floor(t + 0.5) + 127, t + 127.5 > 0
            f = t - (np.float32(k) - np.float32(127.0))
            p = c6 + f * c7
            p = c5 + f * p
            p = c4 + f * p
            p = c3 + f * p
            p = c2 + f * p
            p = c1 + f * p
            p = np.float32(1.0) + f * p
            return np.float32(1.0) / (np.float32(1.0) + p * _i32_as_f32(k << np.int32(23)))

        return impl
    return lambda z: 1.0 / (1.0 + math.exp(-z))


def zero(x):  # pragma: no cover - replaced by the overload inside jitted code
    return 0.0


@overload(zero, inline="always")
def _zero_overload(x):
    """A zero of ``x``'s floating type (Python's 0.0 would promote float32 sums)."""
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: np.float32(0.0)
    return lambda x: 0.0


CHUNK = 32  # batch rows per chunk, a fixed trip count (two AVX-512 registers of float32)


@njit(**_JIT)
def _load(src, t, b0, nb, fill, dst):
    """``dst[:, :nb] = src[t, :, b0:b0+nb]``; padding lanes get ``fill``."""
    for i in range(dst.shape[0]):
        for bb in range(CHUNK):
            dst[i, bb] = src[t, i, b0 + bb] if bb < nb else fill


@njit(**_NO_REASSOC)
def _sensory(u, ssrc, sdst, sw, ssig, smu, serev, acts, num_in, den_in):
    """Sensory activations ``acts[e]`` of the chunk's inputs ``u`` (inputs, CHUNK) and their
    sums into ``num_in``, ``den_in``."""
    num_in[:] = 0.0
    den_in[:] = 0.0
    for e in range(ssrc.shape[0]):
        i, j = ssrc[e], sdst[e]
        for bb in range(CHUNK):
            a = sigmoid(ssig[e] * (u[i, bb] - smu[e]))
            acts[e, bb] = a
            s = sw[e] * a
            num_in[j, bb] += s * serev[e]
            den_in[j, bb] += s


@njit(**_NO_REASSOC)
def _unfold(v, out, h, gleak, vleak, cm, src, dst, w, sig, mu, erev, num_in, den_in, acts,
            num, den, eps):  # fmt: skip
    """One semi-implicit update of ``v`` (units, CHUNK) into ``out``; keeps the activations in
    ``acts`` (edges, CHUNK) and the full denominators ``D`` in ``den``."""
    num[:] = num_in
    den[:] = den_in
    for e in range(src.shape[0]):
        i, j = src[e], dst[e]
        for bb in range(CHUNK):
            a = sigmoid(sig[e] * (v[i, bb] - mu[e]))
            acts[e, bb] = a
            s = w[e] * a
            num[j, bb] += s * erev[e]
            den[j, bb] += s
    for j in range(v.shape[0]):
        leak = gleak[j] * vleak[j]
        for bb in range(CHUNK):
            c = cm[j] / h[bb]
            d = c + gleak[j] + den[j, bb] + eps
            den[j, bb] = d
            out[j, bb] = (c * v[j, bb] + leak + num[j, bb]) / d


@njit(**_JIT)
def _step_sizes(dt, t, b0, nb, unfolds, h):
    for bb in range(CHUNK):
        h[bb] = (dt[t, b0 + bb] if bb < nb else 1.0) / unfolds


def _ltc_forward(
    u, dt, valid, v0, gleak, vleak, cm, src, dst, w, sig, mu, erev,
    ssrc, sdst, sw, ssig, smu, serev, unfolds, eps, out,
):  # fmt: skip
    """u (T, inputs, B), dt and valid (T, B), v0 (units, B) -> out (T, units, B): the state
    after each input step; invalid steps hold the state."""
    steps, batch = dt.shape
    n, ni = v0.shape[0], u.shape[1]
    for ch in prange((batch + CHUNK - 1) // CHUNK):
        b0 = ch * CHUNK
        nb = min(batch, b0 + CHUNK) - b0
        v = np.zeros((n, CHUNK), dtype=v0.dtype)
        v[:, :nb] = v0[:, b0 : b0 + nb]
        nxt, num, den = np.empty_like(v), np.empty_like(v), np.empty_like(v)
        num_in, den_in = np.empty_like(v), np.empty_like(v)
        acts = np.empty((src.shape[0], CHUNK), dtype=v0.dtype)
        sacts = np.empty((ssrc.shape[0], CHUNK), dtype=v0.dtype)
        u_loc = np.empty((ni, CHUNK), dtype=v0.dtype)
        h = np.empty(CHUNK, dtype=dt.dtype)
        for t in range(steps):
            _step_sizes(dt, t, b0, nb, unfolds, h)
            _load(u, t, b0, nb, 0.0, u_loc)
            _sensory(u_loc, ssrc, sdst, sw, ssig, smu, serev, sacts, num_in, den_in)
            for _ in range(unfolds):
                _unfold(v, nxt, h, gleak, vleak, cm, src, dst, w, sig, mu, erev,
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


@njit(**_JIT)
def _edge_grads(pre, src, dst, w, sig, mu, erev, acts, g_num, g_den,
                g_w, g_sig, g_mu, g_erev, g_pre):  # fmt: skip
    """Backward through ``s_e = w_e sigmoid(sigma_e (pre[src_e] - mu_e))`` feeding
    ``num[dst_e] += s_e erev_e`` and ``den[dst_e] += s_e`` (all chunk-local arrays)."""
    for e in range(src.shape[0]):
        i, j = src[e], dst[e]
        acc_erev = zero(w[e])
        acc_w, acc_sig, acc_mu = acc_erev, acc_erev, acc_erev
        one = acc_erev + 1.0
        for bb in range(CHUNK):
            a = acts[e, bb]
            g_s = g_num[j, bb] * erev[e] + g_den[j, bb]
            acc_erev += g_num[j, bb] * w[e] * a
            acc_w += g_s * a
            g_z = g_s * w[e] * a * (one - a)
            acc_sig += g_z * (pre[i, bb] - mu[e])
            acc_mu -= g_z * sig[e]
            g_pre[i, bb] += g_z * sig[e]
        g_erev[e] += acc_erev
        g_w[e] += acc_w
        g_sig[e] += acc_sig
        g_mu[e] += acc_mu


def _ltc_backward(
    u, dt, valid, v0, states, grad_states, gleak, vleak, cm, src, dst, w, sig, mu, erev,
    ssrc, sdst, sw, ssig, smu, serev, unfolds, eps,
    g_u, g_dt, g_v0, g_gleak, g_vleak, g_cm, g_w, g_sig, g_mu, g_erev,
    g_sw, g_ssig, g_smu, g_serev,
):  # fmt: skip
    """Reverse pass of :func:`_ltc_forward` (same layouts); parameter gradients get one row
    per chunk of the batch, summed by the caller."""
    steps, batch = dt.shape
    n, ni = v0.shape[0], u.shape[1]
    for ch in prange((batch + CHUNK - 1) // CHUNK):
        b0 = ch * CHUNK
        nb = min(batch, b0 + CHUNK) - b0
        carry = np.zeros((n, CHUNK), dtype=v0.dtype)  # dL/dv flowing back in time
        cur, new = np.zeros_like(carry), np.zeros_like(carry)
        vs = np.zeros((unfolds + 1, n, CHUNK), dtype=v0.dtype)
        dens = np.empty((unfolds, n, CHUNK), dtype=v0.dtype)
        acts = np.empty((unfolds, src.shape[0], CHUNK), dtype=v0.dtype)
        sacts = np.empty((ssrc.shape[0], CHUNK), dtype=v0.dtype)
        num, num_in, den_in = np.empty_like(carry), np.empty_like(carry), np.empty_like(carry)
        g_a, g_d = np.empty_like(carry), np.empty_like(carry)
        g_num_in, g_den_in = np.empty_like(carry), np.empty_like(carry)
        u_loc, g_u_loc = np.empty((ni, CHUNK), dtype=v0.dtype), np.empty((ni, CHUNK), v0.dtype)
        h = np.empty(CHUNK, dtype=dt.dtype)
        g_h = np.empty(CHUNK, dtype=dt.dtype)
        for t in range(steps - 1, -1, -1):
            for j in range(n):
                for bb in range(nb):
                    carry[j, bb] += grad_states[t, j, b0 + bb]
                    # Invalid steps held the state: nothing flows through their update.
                    cur[j, bb] = carry[j, bb] if valid[t, b0 + bb] else 0.0
            _step_sizes(dt, t, b0, nb, unfolds, h)
            g_h[:] = 0.0
            if t > 0:
                _load(states, t - 1, b0, nb, 0.0, vs[0])
            else:
                vs[0, :, :nb] = v0[:, b0 : b0 + nb]
            _load(u, t, b0, nb, 0.0, u_loc)
            _sensory(u_loc, ssrc, sdst, sw, ssig, smu, serev, sacts, num_in, den_in)
            for k in range(unfolds):  # recompute the unfolds, keeping activations and D
                _unfold(vs[k], vs[k + 1], h, gleak, vleak, cm, src, dst, w, sig, mu, erev,
                        num_in, den_in, acts[k], num, dens[k], eps)  # fmt: skip
            g_num_in[:] = 0.0
            g_den_in[:] = 0.0
            for k in range(unfolds - 1, -1, -1):
                v, v1, den = vs[k], vs[k + 1], dens[k]
                for j in range(n):
                    acc_cm = zero(cm[j])
                    acc_gleak, acc_vleak = acc_cm, acc_cm
                    for bb in range(CHUNK):
                        cc = cm[j] / h[bb]
                        ga = cur[j, bb] / den[j, bb]
                        gd = -cur[j, bb] * v1[j, bb] / den[j, bb]
                        g_c = cur[j, bb] * v[j, bb] / den[j, bb] + gd
                        acc_cm += g_c / h[bb]
                        g_h[bb] -= g_c * cm[j] / (h[bb] * h[bb])
                        acc_gleak += ga * vleak[j] + gd
                        acc_vleak += ga * gleak[j]
                        g_a[j, bb] = ga
                        g_d[j, bb] = gd
                        g_num_in[j, bb] += ga
                        g_den_in[j, bb] += gd
                        new[j, bb] = cur[j, bb] * cc / den[j, bb]
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
            for bb in range(nb):
                if valid[t, b0 + bb]:
                    g_dt[t, b0 + bb] = g_h[bb] / unfolds
                    for j in range(n):
                        carry[j, bb] = cur[j, bb]
        g_v0[:, b0 : b0 + nb] = carry[:, :nb]


# Each kernel twice: threads over batch chunks for large work, serial for small calls (a
# streaming step), where waking a thread pool costs more than the work itself.
ltc_forward = njit(parallel=True, **_JIT)(_ltc_forward)
ltc_backward = njit(parallel=True, **_JIT)(_ltc_backward)
ltc_forward_serial = njit(**_JIT)(_ltc_forward)
ltc_backward_serial = njit(**_JIT)(_ltc_backward)
