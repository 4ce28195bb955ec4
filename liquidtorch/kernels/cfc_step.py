"""One dense CfC step in compiled code for streaming inference (see ``_cfc_step_numba``):
the weights are read through NumPy views on every call, so no value is ever stale."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..cells.options import CfCMode
from ._common import ACTIVATION_CODES, LECUN_TANH, MODE_CODES, Views

_EMPTY = {t: np.empty(0, dtype=t) for t in (np.float32, np.float64)}  # read-only use
_MODES = dict(MODE_CODES)


def _kernel_args(
    arrays: Sequence[np.ndarray],
    n_backbone: int,
    activations: Sequence[str],
    mode: CfCMode,
    transposed: bool,
) -> tuple:
    """``(w1, b1, act, w2, b2, mode, A, w_tau)`` of ``cfc_step`` from the arrays of the
    backbone layer's (weight, bias) (``n_backbone`` of them: 0 or 2), the heads' (weight,
    bias) and in pure mode A and w_tau; weights transposed (copies) where ``transposed``."""
    none = _EMPTY[arrays[0].dtype.type]
    w1, b1 = arrays[:2] if n_backbone else (none[:0, None], none)
    w2, b2, *pure = arrays[n_backbone:]
    if transposed:
        w1, w2 = w1.T.copy(), w2.T.copy()
    a_pure, w_tau = (pure[0][0], pure[1][0]) if pure else (none, none)
    act = ACTIVATION_CODES[activations[0]] if activations else LECUN_TANH
    return w1, b1, act, w2, b2, _MODES[mode], a_pure, w_tau


class FusedCfCStep:
    """The compiled streaming step of one dense CfC cell (at most one backbone layer).
    Copying or pickling a cell starts the views afresh."""

    def __init__(self) -> None:
        self._views = Views()

    def __reduce__(self):
        return (type(self), ())

    def step(
        self,
        backbone: Sequence[torch.Tensor],
        activations: Sequence[str],
        heads: Sequence[torch.Tensor],
        mode: CfCMode,
        x: np.ndarray,
        h: np.ndarray,
        dt: float,
    ) -> np.ndarray:
        """The new state (batch, units) for inputs ``x`` (batch, inputs) and state ``h``;
        ``backbone`` (weight, bias) of its one layer or empty, ``heads`` the heads' (weight,
        bias) and in pure mode ``A`` and ``w_tau`` (all of ``x``'s dtype)."""
        from ._cfc_step_numba import cfc_step

        arrays = self._views.get([*backbone, *heads])
        args = _kernel_args(arrays, len(backbone), activations, mode, transposed=False)
        out = np.empty(h.shape, dtype=h.dtype)
        cfc_step(x, h, float(dt), *args, out, False)
        return out

    def frozen(
        self,
        backbone: Sequence[torch.Tensor],
        activations: Sequence[str],
        heads: Sequence[torch.Tensor],
        mode: CfCMode,
    ):
        """A step function ``(x, h, dt) -> new state`` over NumPy arrays with *copies* of the
        weights (arguments as for :meth:`step`): blind to later parameter changes."""
        from ._cfc_step_numba import cfc_step

        arrays = [t.detach().cpu().numpy().copy() for t in [*backbone, *heads]]
        # transposed: the faster product at batch 1
        args = _kernel_args(arrays, len(backbone), activations, mode, transposed=True)

        def step(x: np.ndarray, h: np.ndarray, dt: float) -> np.ndarray:
            out = np.empty(h.shape, dtype=h.dtype)
            cfc_step(x, h, dt, *args, out, True)
            return out

        return step
