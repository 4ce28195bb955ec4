"""The calling thread's floating-point control register (x86 MXCSR): whether denormal
floats are flushed to zero, read and set exactly.

``torch.set_flush_denormal`` sets the two flags (flush-to-zero, denormals-are-zero) for the
thread that calls it and offers no way to read them back, so a library cannot switch them
for a while and restore the user's setting; and threads started elsewhere (the kernels'
chunk threads) do not inherit them. Here two compiled one-liners read and write the
register (LLVM's ``stmxcsr`` / ``ldmxcsr``); on other CPUs, or without numba, every
function reports "not supported" and changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from collections.abc import Iterator

#: MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) flags.
FLUSH_BITS = 0x8040


@functools.cache
def _compiled():
    """``(get, set)`` compiled functions, or None where MXCSR or numba is missing."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    from . import numba_available

    if not numba_available():
        return None
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    i32, i8p = ir.IntType(32), ir.IntType(8).as_pointer()

    @intrinsic
    def _stmxcsr(typingctx):
        def codegen(context, builder, signature, args):
            slot = cgutils.alloca_once(builder, i32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p]), "llvm.x86.sse.stmxcsr"
            )
            builder.call(fn, [builder.bitcast(slot, i8p)])
            return builder.load(slot)

        return types.uint32(), codegen

    @intrinsic
    def _ldmxcsr(typingctx, value):
        def codegen(context, builder, signature, args):
            slot = cgutils.alloca_once(builder, i32)
            builder.store(args[0], slot)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p]), "llvm.x86.sse.ldmxcsr"
            )
            builder.call(fn, [builder.bitcast(slot, i8p)])
            return context.get_dummy_value()

        return types.none(types.uint32), codegen

    @njit
    def get_mxcsr():
        return _stmxcsr()

    @njit
    def set_mxcsr(value):
        _ldmxcsr(value)

    return get_mxcsr, set_mxcsr


def fpu_state() -> int | None:
    """The calling thread's MXCSR, or None where it cannot be read."""
    compiled = _compiled()
    return None if compiled is None else int(compiled[0]())


def set_fpu_state(state: int | None) -> None:
    """Set the calling thread's MXCSR (a value from :func:`fpu_state`; None: nothing)."""
    compiled = _compiled()
    if compiled is not None and state is not None:
        import numpy as np

        compiled[1](np.uint32(state))


def denormals_flushed() -> bool | None:
    """Whether the calling thread flushes denormals (both flags set); None: unknown."""
    state = fpu_state()
    return None if state is None else (state & FLUSH_BITS) == FLUSH_BITS


@contextlib.contextmanager
def same_fpu_state(state: int | None) -> Iterator[None]:
    """Run the block with the thread's MXCSR set to ``state`` (another thread's, see
    :func:`fpu_state`), restoring its own afterwards; None: unchanged."""
    if state is None or _compiled() is None:
        yield
        return
    own = fpu_state()
    set_fpu_state(state)
    try:
        yield
    finally:
        set_fpu_state(own)
