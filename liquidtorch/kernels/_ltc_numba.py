"""Numba kernels for a whole LTC sequence with the fused semi-implicit solver.

The synapses are edge lists (only those that exist), sorted by destination neuron so that
each neuron's inputs are one contiguous segment ``ptr[j]:ptr[j+1]``. The batch runs in
parallel. The backward pass recomputes the unfolds of each input step from the stored step
states instead of keeping every unfold (memory: one state per step).

Notation (DESIGN.md 1): per unfold ``v' = (c v + A) / D`` with ``c = cm / h``,
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


@njit(**_JIT)
def _activate(pre, src, w, sig, mu, a, s):
    """``a_e = sigmoid(sigma_e (pre_src - mu_e))``, ``s_e = w_e a_e`` for every edge."""
    for e in range(src.shape[0]):
        a[e] = sigmoid(sig[e] * (pre[src[e]] - mu[e]))
        s[e] = w[e] * a[e]


@njit(**_JIT)
def _collect(ptr, s, erev, num, den):
    """Per destination neuron: ``num += sum s_e erev_e``, ``den += sum s_e``."""
    for j in range(ptr.shape[0] - 1):
        for e in range(ptr[j], ptr[j + 1]):
            num[j] += s[e] * erev[e]
            den[j] += s[e]


@njit(**_JIT)
def _update(v, out, h, gleak, vleak, cm, num, den, eps):
    """The semi-implicit update; leaves the full denominator ``D`` in ``den``."""
    for j in range(v.shape[0]):
        c = cm[j] / h
        den[j] = c + gleak[j] + den[j] + eps
        out[j] = (c * v[j] + gleak[j] * vleak[j] + num[j]) / den[j]


@njit(parallel=True, **_JIT)
def ltc_forward(
    u, dt, valid, v0, gleak, vleak, cm, src, ptr, w, sig, mu, erev,
    ssrc, sptr, sw, ssig, smu, serev, unfolds, eps, out,
):  # fmt: skip
    """``out[t, b]`` = state after input step ``t``; invalid steps hold the state."""
    steps, batch = u.shape[0], u.shape[1]
    for b in prange(batch):
        v = v0[b].copy()
        nxt, num, den = np.empty_like(v), np.empty_like(v), np.empty_like(v)
        num_in, den_in = np.empty_like(v), np.empty_like(v)
        a, s = np.empty_like(w), np.empty_like(w)
        sa, ss = np.empty_like(sw), np.empty_like(sw)
        for t in range(steps):
            if valid[t, b]:
                h = dt[t, b] / unfolds
                num_in[:] = 0.0
                den_in[:] = 0.0
                _activate(u[t, b], ssrc, sw, ssig, smu, sa, ss)
                _collect(sptr, ss, serev, num_in, den_in)
                for _ in range(unfolds):
                    num[:] = num_in
                    den[:] = den_in
                    _activate(v, src, w, sig, mu, a, s)
                    _collect(ptr, s, erev, num, den)
                    _update(v, nxt, h, gleak, vleak, cm, num, den, eps)
                    v[:] = nxt
            out[t, b] = v


@njit(**_JIT)
def _edge_grads(pre, src, ptr, w, sig, mu, erev, a, g_num, g_den, g_w, g_sig, g_mu, g_erev, g_pre):
    """Backward through ``s_e = w_e sigmoid(sigma_e (pre_src - mu_e))`` feeding num/den."""
    for j in range(ptr.shape[0] - 1):
        for e in range(ptr[j], ptr[j + 1]):
            x = pre[src[e]] - mu[e]
            g_s = g_num[j] * erev[e] + g_den[j]
            g_erev[e] += g_num[j] * w[e] * a[e]
            g_w[e] += g_s * a[e]
            g_z = g_s * w[e] * a[e] * (1.0 - a[e])
            g_sig[e] += g_z * x
            g_mu[e] -= g_z * sig[e]
            g_pre[src[e]] += g_z * sig[e]


@njit(parallel=True, **_JIT)
def ltc_backward(
    u, dt, valid, v0, states, grad_states, gleak, vleak, cm, src, ptr, w, sig, mu, erev,
    ssrc, sptr, sw, ssig, smu, serev, unfolds, eps,
    g_u, g_dt, g_v0, g_gleak, g_vleak, g_cm, g_w, g_sig, g_mu, g_erev,
    g_sw, g_ssig, g_smu, g_serev,
):  # fmt: skip
    """Reverse pass of :func:`ltc_forward`; per-parameter gradients get a leading batch row."""
    steps, batch = u.shape[0], u.shape[1]
    n = v0.shape[1]
    for b in prange(batch):
        carry = np.zeros_like(v0[b])  # dL/dv flowing back in time
        vs = np.empty((unfolds + 1, n), dtype=v0.dtype)
        dens = np.empty((unfolds, n), dtype=v0.dtype)
        acts = np.empty((unfolds, w.shape[0]), dtype=w.dtype)
        s = np.empty_like(w)
        sa, ss = np.empty_like(sw), np.empty_like(sw)
        num, num_in, den_in = np.empty_like(carry), np.empty_like(carry), np.empty_like(carry)
        g_a, g_d = np.empty_like(carry), np.empty_like(carry)
        g_num_in, g_den_in, new = np.empty_like(carry), np.empty_like(carry), np.empty_like(carry)
        for t in range(steps - 1, -1, -1):
            carry += grad_states[t, b]
            if not valid[t, b]:
                continue  # the state was held: the gradient passes through unchanged
            h = dt[t, b] / unfolds
            vs[0] = states[t - 1, b] if t > 0 else v0[b]
            num_in[:] = 0.0
            den_in[:] = 0.0
            _activate(u[t, b], ssrc, sw, ssig, smu, sa, ss)
            _collect(sptr, ss, serev, num_in, den_in)
            for k in range(unfolds):  # recompute the unfolds, keeping activations and D
                num[:] = num_in
                dens[k] = den_in
                _activate(vs[k], src, w, sig, mu, acts[k], s)
                _collect(ptr, s, erev, num, dens[k])
                _update(vs[k], vs[k + 1], h, gleak, vleak, cm, num, dens[k], eps)
            g_num_in[:] = 0.0
            g_den_in[:] = 0.0
            g_h = 0.0
            for k in range(unfolds - 1, -1, -1):
                v, v1, den = vs[k], vs[k + 1], dens[k]
                for j in range(n):
                    c = cm[j] / h
                    g_a[j] = carry[j] / den[j]
                    g_d[j] = -carry[j] * v1[j] / den[j]
                    g_c = carry[j] * v[j] / den[j] + g_d[j]
                    g_cm[b, j] += g_c / h
                    g_h -= g_c * cm[j] / (h * h)
                    g_gleak[b, j] += g_a[j] * vleak[j] + g_d[j]
                    g_vleak[b, j] += g_a[j] * gleak[j]
                    g_num_in[j] += g_a[j]
                    g_den_in[j] += g_d[j]
                    new[j] = carry[j] * c / den[j]
                _edge_grads(v, src, ptr, w, sig, mu, erev, acts[k], g_a, g_d,
                            g_w[b], g_sig[b], g_mu[b], g_erev[b], new)  # fmt: skip
                carry[:] = new
            _edge_grads(u[t, b], ssrc, sptr, sw, ssig, smu, serev, sa, g_num_in, g_den_in,
                        g_sw[b], g_ssig[b], g_smu[b], g_serev[b], g_u[t, b])  # fmt: skip
            g_dt[t, b] = g_h / unfolds
        g_v0[b] = carry
