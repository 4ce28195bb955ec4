"""Shared check for the fused-path tests: the fused path equals the reference loop.

Both paths run the same model on the same inputs with a loss that weighs every output and
state entry differently; outputs, final states and the gradients of every parameter, the
input, the initial state and float timespans must agree (gradients relative to their
largest entry).
"""

import torch

from liquidtorch.kernels import use_fused


def run_path(model, fused: bool, x, *, hx=None, inference: bool = False, **kw):
    """Outputs, final states and gradients with the fused path on or off.

    Returns ``(tensors, grads)``: ``tensors`` holds the output, each final state (an LSTM
    pair gives two) and, with ``inference``, the output again under ``torch.no_grad``;
    ``grads`` maps parameter names and ``input`` / ``hx`` / ``timespans`` to gradients.
    """
    model.zero_grad()
    leaves = {"input": x.clone().requires_grad_()}
    if isinstance(hx, tuple):  # mixed memory: (h, c)
        leaves["hx"], leaves["cx"] = hx = tuple(t.clone().requires_grad_() for t in hx)
    elif hx is not None:
        leaves["hx"] = hx = hx.clone().requires_grad_()
    ts = kw.get("timespans")
    if isinstance(ts, torch.Tensor) and ts.is_floating_point():
        leaves["timespans"] = kw["timespans"] = ts.clone().requires_grad_()
    with use_fused(fused):
        y, h = model(leaves["input"], hx, **kw)
        states = h if isinstance(h, tuple) else (h,)
        loss = (y * torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype)).pow(2).sum()
        loss = loss + sum((s * s.detach().sign()).sum() for s in states)
        loss.backward()
        tensors = [y.detach(), *(s.detach() for s in states)]
        if inference:
            with torch.no_grad():
                tensors.append(model(leaves["input"], hx, **kw)[0])
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    grads.update({k: t.grad for k, t in leaves.items()})
    return tensors, grads


def assert_equal_paths(model, x, rtol, atol, *, calls=None, **kw):
    """The fused and the reference path agree (see :func:`run_path` for ``kw``).

    ``calls``: a list the fused kernel appends to when it runs; checked to fill on the
    fused path and to stay empty on the reference path.
    """
    out1, g1 = run_path(model, True, x, **kw)
    if calls is not None:
        assert calls, "the fused path was not used"
        calls.clear()
    out0, g0 = run_path(model, False, x, **kw)
    if calls is not None:
        assert not calls, "the reference path called the fused kernel"
    for a, b in zip(out1, out0, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    assert g1.keys() == g0.keys()
    for name in g0:
        scale = g0[name].abs().max().clamp_min(1.0)
        torch.testing.assert_close(
            g1[name] / scale, g0[name] / scale, rtol=rtol, atol=atol, msg=name
        )


def sequence_inputs(model, kind: str, dtype, *, batch: int = 4, steps: int = 9, hx: bool = False):
    """Input and keyword arguments for ``model`` (batch-first or time-first, as it wants).

    ``kind`` names what to add: "timespans" (a tensor), "constant_dt" (0.7), "lengths"
    (0 .. steps: one sequence without a valid step), "mask" (one sequence all invalid),
    "hx" (a random initial state, also with ``hx=True``; a tuple for mixed memory).
    """
    x = torch.randn(batch, steps, model.input_size, dtype=dtype)
    kw = {}
    if hx or kind == "hx":
        state = model.init_state(batch, dtype=dtype)
        parts = state if isinstance(state, tuple) else (state,)
        parts = tuple(torch.randn_like(p) * 0.5 for p in parts)
        kw["hx"] = parts if isinstance(state, tuple) else parts[0]
    if "timespans" in kind:
        kw["timespans"] = torch.rand(batch, steps, dtype=dtype) * 2 + 0.05
    if kind == "constant_dt":
        kw["timespans"] = 0.7
    if kind == "lengths":
        kw["lengths"] = torch.arange(batch) * 3 % (steps + 1)
    if "mask" in kind:
        mask = torch.rand(batch, steps) > 0.3
        mask[2] = False
        kw["mask"] = mask
    if not model.batch_first:
        x = x.transpose(0, 1)
        kw = {k: (v.transpose(0, 1) if k in ("timespans", "mask") else v) for k, v in kw.items()}
    return x, kw
