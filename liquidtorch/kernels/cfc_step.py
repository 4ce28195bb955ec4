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
        none = _EMPTY[x.dtype.type]
        w1, b1 = arrays[:2] if backbone else (none[:0, None], none)
        w2, b2, *pure = arrays[len(backbone) :]
        a_pure, w_tau = (pure[0][0], pure[1][0]) if pure else (none, none)
        act = ACTIVATION_CODES[activations[0]] if activations else LECUN_TANH
        out = np.empty(h.shape, dtype=h.dtype)
        cfc_step(x, h, float(dt), w1, b1, act, w2, b2, _MODES[mode], a_pure, w_tau, out, False)
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
        none = _EMPTY[arrays[0].dtype.type]
        w1, b1 = (arrays[0].T.copy(), arrays[1]) if backbone else (none[:0, None], none)
        w2, b2, *pure = arrays[len(backbone) :]
        w2 = w2.T.copy()  # transposed: the faster product at batch 1
        a_pure, w_tau = (pure[0][0], pure[1][0]) if pure else (none, none)
        act = ACTIVATION_CODES[activations[0]] if activations else LECUN_TANH
        code = _MODES[mode]

        def step(x: np.ndarray, h: np.ndarray, dt: float) -> np.ndarray:
            out = np.empty(h.shape, dtype=h.dtype)
            cfc_step(x, h, dt, w1, b1, act, w2, b2, code, a_pure, w_tau, out, True)
            return out

        return step
