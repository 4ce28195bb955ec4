"""Mixed memory's LSTM inside the compiled loops of the LTC and the wired CfC kernels.

Arrays are batch-last, ``(features, width)`` for one batch chunk; gates in the rows of
``MemoryLSTMCell``: ``[i | ig | f | o]`` (the forget gate's +1 is in the input projection,
which the caller computes for all steps at once). The products use BLAS (numba's loops do
not vectorise them); the nonlinearities the vectorisable functions of :mod:`._math`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._common import JIT, NO_REASSOC
from ._math import sigmoid, tanh, zero


@njit(**NO_REASSOC)
def lstm_gates(z, wh, v, c, c_new):
    """``z`` (4 units, width) holds the input projection of the step; adds ``wh v``, applies
    the gates (``[tanh(i), sigmoid(ig, f, o)]`` in place), writes the new cell ``c_new`` and
    the LSTM's output over ``v``."""
    z += np.dot(wh, v)
    n, width = v.shape
    for r in range(4 * n):
        zr = z[r]
        if r < n:
            for b in range(width):
                zr[b] = tanh(zr[b])
        else:
            for b in range(width):
                zr[b] = sigmoid(zr[b])
    for j in range(n):
        for b in range(width):
            c_new[j, b] = c[j, b] * z[2 * n + j, b] + z[j, b] * z[n + j, b]
        for b in range(width):
            v[j, b] = tanh(c_new[j, b]) * z[3 * n + j, b]


@njit(**NO_REASSOC)
def lstm_local(g_hl, g_c, z, c_prev, c_new, gz, g_cp):
    """Backward of :func:`lstm_gates`'s elementwise part: ``gz`` = d loss / d the gates'
    pre-activations and ``g_cp`` = d loss / d c_prev, from ``g_hl`` (d loss / d the output)
    and ``g_c`` (d loss / d c_new)."""
    n, width = g_hl.shape
    one = zero(z[0, 0]) + 1.0
    for j in range(n):
        for b in range(width):
            i, ig, f, o = z[j, b], z[n + j, b], z[2 * n + j, b], z[3 * n + j, b]
            tc = tanh(c_new[j, b])
            gcc = g_c[j, b] + g_hl[j, b] * o * (one - tc * tc)
            gz[j, b] = gcc * ig * (one - i * i)
            gz[n + j, b] = gcc * i * ig * (one - ig)
            gz[2 * n + j, b] = gcc * c_prev[j, b] * f * (one - f)
            gz[3 * n + j, b] = g_hl[j, b] * tc * o * (one - o)
            g_cp[j, b] = gcc * f


@njit(**JIT)
def lstm_weights_backward(gz, hp, wh, g_wh, g_hp):
    """``g_wh += gz hp^T`` (the chunk's share) and ``g_hp = wh^T gz``."""
    g_wh += np.dot(gz, hp.T)
    g_hp[:] = np.dot(wh.T, gz)
