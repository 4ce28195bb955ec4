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
