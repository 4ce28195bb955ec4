"""What every fused kernel shares: compiler flags, the codes of the cells' options, the
caches of what kernels derive from a cell, elapsed times and validity as full arrays, and
the batch chunks that run on threads.

Caches never hold parameter *values*: :class:`Views` holds NumPy views of the tensors (they
share memory, so in-place and ``.data`` edits are seen) and :class:`Derived` compares the
contents of its sources on every call, so that loading a state dict, ``.to()``,
``.double()``, ``p.data.mul_()`` or an in-place mask edit can never leave a stale answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

import numpy as np
import torch
from torch import nn

from ..cells._activations import LECUN_IN, LECUN_OUT, LeCunTanh
from ..cells.options import CfCMode, Constraint

T = TypeVar("T")

# Numba flags. ``error_model="numpy"`` drops Python's division-by-zero checks so that loops
# vectorise. Where sigmoid / tanh / exp are evaluated: fast math without reassociation, which
# would undo the float32 exp's exact range reduction (sigmoid error 1e-6 instead of 1e-7).
JIT = {"cache": True, "error_model": "numpy", "fastmath": True}
NO_REASSOC = {**JIT, "fastmath": {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}}

#: Kernel codes of the options, in the enums' order (``CfCMode.DEFAULT`` is 0, ...).
MODE_CODES: dict[CfCMode, int] = {m: i for i, m in enumerate(CfCMode)}
CONSTRAINT_CODES: dict[Constraint, int] = {c: i for i, c in enumerate(Constraint)}
DEFAULT, NO_GATE, PURE = (MODE_CODES[m] for m in CfCMode)
SOFTPLUS, CLAMP = (CONSTRAINT_CODES[c] for c in Constraint)

#: Backbone activations the fused CfC paths know (exact module types: a subclass may change
#: ``forward``), their names and kernel codes.
FUSED_ACTIVATIONS: dict[type[nn.Module], str] = {
    LeCunTanh: "lecun_tanh",
    nn.Tanh: "tanh",
    nn.ReLU: "relu",
}
ACTIVATION_CODES: dict[str, int] = {name: i for i, name in enumerate(FUSED_ACTIVATIONS.values())}
LECUN_TANH, TANH, RELU = ACTIVATION_CODES.values()

__all__ = [
    "ACTIVATION_CODES", "CLAMP", "CONSTRAINT_CODES", "DEFAULT", "FUSED_ACTIVATIONS", "JIT",
    "LECUN_IN", "LECUN_OUT", "MODE_CODES", "NO_GATE", "NO_REASSOC", "PURE", "RELU", "SOFTPLUS",
    "TANH", "LECUN_TANH", "Derived", "Views", "as_numpy", "full_dt", "full_valid",
    "chunk_bounds", "for_each_chunk",
]  # fmt: skip


# ----------------------------------------------------------------------------- caches
class Views:
    """NumPy views of tensors, made again when a tensor's storage, shape, strides or dtype
    change (``load_state_dict(assign=True)``, ``.to()``, ``p.data = ...``).

    A view shares memory with its tensor, so value edits need no refresh; the views keep the
    storages they show alive, so an equal ``data_ptr`` is the same memory. ``None`` entries
    stay ``None``.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._arrays: list[np.ndarray | None] = []

    def get(self, tensors: Sequence[torch.Tensor | None]) -> list[np.ndarray | None]:
        key = tuple(
            None if t is None else (t.data_ptr(), t.shape, t.stride(), t.dtype) for t in tensors
        )
        if key != self._key:
            self._arrays = [None if t is None else t.detach().numpy() for t in tensors]
            self._key = key
        return self._arrays


class Derived(Generic[T]):
    """A value built from tensors' contents, built again whenever any of them differs in
    value (compared on every call against a private copy of their bytes), shape or dtype."""

    def __init__(self) -> None:
        self._key: list[tuple] | None = None
        self._value: T | None = None

    def get(self, tensors: Sequence[torch.Tensor], build: Callable[[list[np.ndarray]], T]) -> T:
        arrays = [t.detach().cpu().numpy() for t in tensors]
        # bytes: one C-level copy and compare (np.array_equal costs microseconds per call in
        # Python overhead, which a streaming step cannot afford)
        key = [(a.shape, a.dtype, a.tobytes()) for a in arrays]
        if key != self._key:
            self._value = build(arrays)
            self._key = key
        return self._value  # type: ignore[return-value]


def as_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    """A NumPy view of a CPU tensor for the kernels (a contiguous copy where it is not
    contiguous, detached); arrays pass through."""
    return t if isinstance(t, np.ndarray) else t.detach().contiguous().numpy()


# ------------------------------------------------------------------ time and validity
def full_dt(dt: float | torch.Tensor, steps: int, batch: int, like: torch.Tensor) -> torch.Tensor:
    """Elapsed times (time, batch) from a float or a (time, batch[, 1]) tensor."""
    if isinstance(dt, torch.Tensor):
        return dt.reshape(steps, batch)
    return torch.full((steps, batch), float(dt), dtype=like.dtype, device=like.device)


def full_valid(valid: torch.Tensor | None, steps: int, batch: int) -> torch.Tensor:
    """Validity (time, batch) bool, every step valid for ``None``."""
    return torch.ones(steps, batch, dtype=torch.bool) if valid is None else valid


# ----------------------------------------------------------------------- batch chunks
def chunk_bounds(batch: int, chunks: int, align: int) -> tuple[np.ndarray, int]:
    """Bounds ``b[c]:b[c+1]`` of up to ``chunks`` batch chunks and their width, a multiple
    of ``align`` columns (the last chunk may be narrower, the first too for a small batch)."""
    width = -(-max(batch, 1) // max(chunks, 1))
    width = -(-width // align) * align
    return np.minimum(np.arange(0, max(batch, 1) + width, width), batch), width


def threads(batch: int, align: int, work: float, min_work: float = 2e5) -> int:
    """How many threads a kernel call uses: torch's thread count, at most one per ``align``
    columns of the batch, and one for calls with less than ``min_work`` (waking threads costs
    more than such a call)."""
    if work < min_work:
        return 1
    return max(1, min(torch.get_num_threads(), batch // align))


_POOL: dict = {}


def _pool() -> ThreadPoolExecutor:
    """The worker threads (made again in a forked child, which does not inherit them)."""
    if _POOL.get("pid") != os.getpid():
        workers = max(1, (os.cpu_count() or 1) - 1)
        _POOL.update(pid=os.getpid(), pool=ThreadPoolExecutor(workers, "liquidtorch"))
    return _POOL["pool"]


def for_each_chunk(bounds: np.ndarray, run: Callable[[int, int, int], None]) -> None:
    """``run(c, b0, b1)`` for every batch chunk ``c``: the first in this thread, the others on
    the worker threads (kernels run with ``nogil``) under this thread's floating-point
    settings (denormals flushed or not, see :mod:`._fpu`)."""
    from ._fpu import fpu_state, same_fpu_state

    chunks = [(c, int(bounds[c]), int(bounds[c + 1])) for c in range(len(bounds) - 1)]
    if len(chunks) > 1:
        state = fpu_state()

        def on_worker(c: int, b0: int, b1: int) -> None:
            with same_fpu_state(state):
                run(c, b0, b1)

        others = [_pool().submit(on_worker, *chunk) for chunk in chunks[1:]]
    else:
        others = []
    run(*chunks[0])
    for future in others:
        future.result()
