"""Scalar functions for numba kernels: a vectorisable float32 sigmoid, and tanh, exp(-y) and
a typed zero built on it (float64 uses the exact ``math`` functions).

The float32 sigmoid evaluates ``2**f`` by a Taylor polynomial after an exact range
reduction (max abs error of the sigmoid ~1e-7); call it only from functions compiled with
``NO_REASSOC`` (see :mod:`._common`): reassociation would undo the reduction.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_LOG2E = np.float32(1.4426950408889634)
# Taylor coefficients of 2**f = exp(f ln 2) on [-0.5, 0.5]; truncation error < 2e-9.
_C = [np.float32(math.log(2) ** k / math.factorial(k)) for k in range(8)]
_TWO, _ONE = np.float32(2.0), np.float32(1.0)


@intrinsic
def _i32_as_f32(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


def _f32(z) -> bool:
    return isinstance(z, types.Float) and z.bitwidth == 32


def sigmoid(z):  # pragma: no cover - replaced by the overload inside jitted code
    return 1.0 / (1.0 + math.exp(-z))


@overload(sigmoid, inline="always", fastmath=True)
def _sigmoid_overload(z):
    if _f32(z):
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


def tanh(z):  # pragma: no cover - replaced by the overload inside jitted code
    return math.tanh(z)


@overload(tanh, inline="always", fastmath=True)
def _tanh_overload(z):
    if _f32(z):
        return lambda z: _TWO * sigmoid(_TWO * z) - _ONE
    return lambda z: math.tanh(z)


def exp_neg(y):  # pragma: no cover - replaced by the overload inside jitted code
    return math.exp(-y)


@overload(exp_neg, inline="always", fastmath=True)
def _exp_neg_overload(y):
    if _f32(y):
        # exp(-y) = sigmoid(-y) / sigmoid(y): both factors keep their relative accuracy.
        return lambda y: sigmoid(-y) / sigmoid(y)
    return lambda y: math.exp(-y)


def zero(x):  # pragma: no cover - replaced by the overload inside jitted code
    return 0.0


@overload(zero, inline="always")
def _zero_overload(x):
    """A zero of ``x``'s floating type (Python's 0.0 would promote float32 sums)."""
    if _f32(x):
        return lambda x: np.float32(0.0)
    return lambda x: 0.0
