"""The dense CfC fast path: a whole sequence in one autograd Function with a hand-derived
backward (used by ``CfCCell.fused_scan``; plain torch ops, so any device).

A dense CfC step costs two small matrix products; through autograd its ~15 small ops forward
and ~25 backward cost several times more. Here a step with one backbone layer is 5 ops
forward (default mode) and 4 backward:

* the input's part of the first layer is one batched product over all steps, and the other
  layers' biases are written into their output buffers first: per step ``addmm_`` only;
* lecun_tanh's constants live in the weights (``1.7159 * tanh(0.666 a)``: a layer's rows
  times 0.666, the next layer's columns times 1.7159); with a constant ``dt`` the two time
  heads become one, ``dt * time_a + time_b``;
* tanh is ``2 sigmoid(2 y) - 1`` (torch's CPU tanh costs several times its sigmoid): the
  loop keeps tanh units as their sigmoids and the next layer's weights absorb ``2 u - 1``;
  one sigmoid covers ff1, ff2 and the gate, and the default mode's state stays a sigmoid too;
* a step's activations are columns (features, batch), so each head is a contiguous block;
* backward gets the local derivatives of all steps in a few whole-sequence ops, carries only
  ``d loss / d state`` through the per-step loop and computes each weight gradient as one
  matrix product over all steps.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch

from ..cells.options import CfCMode
from ._common import LECUN_IN, LECUN_OUT, MODE_CODES, as_numpy

#: Whether CPU calls run the per-step loop in compiled code (numba installed); the torch loop
#: serves other devices (tests switch this off to check the two loops agree).
COMPILED_LOOP = True


def _compiled_loop(x: torch.Tensor) -> bool:
    """Whether the per-step loop runs in :mod:`._cfc_numba`: CPU tensors of float32 /
    float64 with numba installed."""
    from . import numba_available

    return (
        COMPILED_LOOP
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and numba_available()
    )


class CfCPlan(NamedTuple):
    """The static part of a fused dense CfC call."""

    mode: str  # "default" | "no_gate" | "pure"
    activations: tuple[str, ...]  # per backbone layer: "lecun_tanh" | "tanh" | "relu"
    input_size: int
    units: int
    backbone_units: int
    dt: float | None  # the elapsed time of every step, or None: a (time, batch, 1) tensor


def _state_as_sigmoid(plan: CfCPlan) -> bool:
    """The default mode's update ``lerp(ff1, ff2, gate)`` is affine in ff1 and ff2, so its
    loop keeps the state as ``(1 + h) / 2``, computed from the sigmoids directly."""
    return plan.mode == "default"


def _head_rows(plan: CfCPlan) -> int:
    """Rows of the heads as the loops use them (see ``_mix_heads``)."""
    return plan.units * (1 if plan.mode == "pure" else 3 if plan.dt is not None else 4)


@functools.lru_cache(maxsize=64)
def _factors(plan: CfCPlan, loop: bool, dtype: torch.dtype, device: torch.device):
    """Per layer (backbone layers, then the heads) the constants that fold it, ``(f, r,
    shift)``: weight' = weight * f, bias' = bias * r + weight' @ shift (shift may be None).

    ``r`` (rows,) scales the pre-activations: lecun_tanh's 0.666 and, in the loop, 2 for tanh
    units (tanh(y) = 2 sigmoid(2 y) - 1). ``f = r c^T`` with ``c`` (columns,) the scale of the
    layer's input: lecun_tanh's 1.7159 and, in the loop, 2 for inputs kept as sigmoids
    ``u = (1 + z) / 2`` (tanh units; the state where ``_state_as_sigmoid``), each with shift
    -1/2: ``w z = 2 w u - w 1``.
    """
    h, n_in, acts = plan.units, plan.input_size, plan.activations
    tensor = lambda v: torch.tensor(v, dtype=dtype, device=device)
    out = []
    scale, kept = [1.0] * (n_in + h), [False] * n_in + [loop and _state_as_sigmoid(plan)] * h
    for act in acts + ("heads",):
        if act == "heads":
            rows = [2.0 if loop else 1.0] * (2 * h) if plan.mode != "pure" else []
            rows += [1.0] * (_head_rows(plan) - len(rows))
        else:
            width = plan.backbone_units
            inner = LECUN_IN if act == "lecun_tanh" else 1.0
            rows = [inner * (2.0 if loop and act != "relu" else 1.0)] * width
        c = [s * (2.0 if k else 1.0) for s, k in zip(scale, kept, strict=True)]
        r = tensor(rows)
        shift = tensor([-0.5 if k else 0.0 for k in kept]) if any(kept) else None
        out.append((r[:, None] * tensor(c), r, shift))
        if act != "heads":
            scale = [LECUN_OUT if act == "lecun_tanh" else 1.0] * width
            kept = [loop and act != "relu"] * width
    return out


def _mix_heads(plan: CfCPlan, a: torch.Tensor) -> torch.Tensor:
    """Head rows ``[ff1 | ff2 | time_a | time_b]`` as the loops use them: pure ``[ff1]``;
    constant dt ``[ff1 | ff2 | dt*time_a + time_b]``; dt tensor ``[ff1 | ff2 | time_b |
    time_a]`` (the gate's pre-activation next to ff1, ff2)."""
    h = plan.units
    if plan.mode == "pure":
        return a
    if plan.dt is None:
        return torch.cat([a[: 2 * h], a[3 * h :], a[2 * h : 3 * h]])
    return torch.cat([a[: 2 * h], torch.add(a[3 * h :], a[2 * h : 3 * h], alpha=plan.dt)])


def _unmix_heads(plan: CfCPlan, g: torch.Tensor) -> torch.Tensor:
    """Gradients for the rows of ``_mix_heads`` back to the heads' own rows."""
    h = plan.units
    if plan.mode == "pure":
        return g
    ff, rest = g[: 2 * h], g[2 * h :]
    if plan.dt is None:
        return torch.cat([ff, rest[h:], rest[:h]])
    return torch.cat([ff, rest * plan.dt, rest])


def _fold(plan: CfCPlan, params, loop: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of each backbone layer and of the heads as the forward loop (``loop``)
    or backward uses them (see ``_factors``)."""
    factors = _factors(plan, loop, params[0].dtype, params[0].device)
    out = []
    for i, (f, r, shift) in enumerate(factors):
        w, b = params[2 * i], params[2 * i + 1]
        if i == len(factors) - 1:
            w, b = _mix_heads(plan, w), _mix_heads(plan, b)
        w = w * f
        out.append((w, b * r if shift is None else torch.addmv(b * r, w, shift)))
    return out


def _forward(plan: CfCPlan, x, dt, valid, h0, params, for_backward: bool):
    """States (time + 1, units, batch), h0 first, and what backward needs."""
    steps, batch, n_in = x.shape
    units, n_bb = plan.units, len(plan.activations)
    pure, gated, masked = plan.mode == "pure", plan.mode == "default", valid is not None
    layers = _fold(plan, params, loop=True)
    if _compiled_loop(x) and n_bb <= 1:
        return _forward_compiled(plan, x, dt, valid, h0, params, layers, for_backward)
    w0, b0 = layers[0]
    w0h = w0[:, n_in:].contiguous()
    # Per layer (time, rows, batch): each step's pre-activations, the bias (and for the
    # first layer the input's part) already in.
    first = torch.baddbmm(b0[:, None], w0[:, :n_in].expand(steps, -1, -1), x.transpose(1, 2))
    bufs = [first] + [b[:, None].expand(steps, -1, batch).clone() for _, b in layers[1:]]
    s = bufs[-1]
    hs = x.new_empty(steps + 1, units, batch)
    h_t, buf_t = hs.unbind(0), [b.unbind(0) for b in bufs]
    if _state_as_sigmoid(plan):
        torch.mul(h0.t(), 0.5, out=h_t[0]).add_(0.5)
    else:
        h_t[0].copy_(h0.t())
    minus_one = torch.full((), -1.0, dtype=x.dtype, device=x.device)
    sigmoid = [a != "relu" for a in plan.activations]  # tanh units, kept as sigmoids
    if masked:
        new = x.new_empty(units, batch)
        keep = valid.unsqueeze(1).unbind(0)
    if pure:
        e = x.new_empty(steps, units, batch)  # exp(-dt (|w_tau| + |ff1|))
        e_t, fe = e.unbind(0), x.new_empty(units, batch)
        a, w_tau = (p.t() for p in params[-2:])
        abs_w, neg_a = w_tau.abs(), -a
        if dt is None:
            neg_dt_w = abs_w * -plan.dt
        else:
            neg_dt = (-dt).transpose(1, 2).unbind(0)
    else:
        # One sigmoid for ff1, ff2 (pre-activations doubled) and the gate: rows :3 units.
        sig_t = buf_t[-1] if dt is None else s[:, : 3 * units].unbind(0)
        f1_t, f2_t = s[:, :units].unbind(0), s[:, units : 2 * units].unbind(0)
        gate_t = s[:, 2 * units : 3 * units].unbind(0)
        if dt is not None:
            time_a, dt_t = s[:, 3 * units :].unbind(0), dt.transpose(1, 2).unbind(0)
        if plan.mode == "no_gate":
            ff_t = s[:, : 2 * units].unbind(0)

    # Each backbone layer's activation, then the product into the next layer's buffer.
    after = list(zip(sigmoid, buf_t[1:], [w for w, _ in layers[1:]], strict=True))
    for t in range(steps):
        y = buf_t[0][t].addmm_(w0h, h_t[t])
        for kept, out, w in after:
            if kept:
                torch.sigmoid_(y)
            else:
                torch.relu_(y)
            y = out[t].addmm_(w, y)
        h = new if masked else h_t[t + 1]
        if pure:  # h = a - a ff1 exp(-dt (|w_tau| + |ff1|))
            et = torch.abs(y, out=e_t[t])
            if dt is None:
                torch.add(neg_dt_w, et, alpha=-plan.dt, out=et)
            else:
                et.add_(abs_w).mul_(neg_dt[t])
            torch.mul(et.exp_(), y, out=fe)
            torch.addcmul(a, neg_a, fe, out=h)
        else:
            if dt is not None:
                gate_t[t].addcmul_(time_a[t], dt_t[t])
            torch.sigmoid_(sig_t[t])
            if gated:  # (1 + h) / 2 = lerp((1 + ff1) / 2, (1 + ff2) / 2, gate)
                torch.lerp(f1_t[t], f2_t[t], gate_t[t], out=h)
            else:  # h = ff1 + gate ff2
                torch.add(minus_one, ff_t[t], alpha=2, out=ff_t[t])
                torch.addcmul(f1_t[t], gate_t[t], f2_t[t], out=h)
        if masked:
            torch.where(keep[t], new, h_t[t], out=h_t[t + 1])

    return _finish(plan, hs, h0, bufs, e if pure else None, for_backward)


def _finish(plan: CfCPlan, hs, h0, bufs, e, for_backward: bool):
    """From sigmoids ``u`` back to tanh values ``2 u - 1``: the states, and what backward
    reads; returns the states (time + 1, units, batch) and what backward saves."""
    minus_one = torch.full((), -1.0, dtype=hs.dtype, device=hs.device)
    if _state_as_sigmoid(plan):
        torch.add(minus_one, hs, alpha=2, out=hs)
        hs[0].copy_(h0.t())
    if for_backward:
        for buf, act in zip(bufs, plan.activations, strict=False):
            if act != "relu":
                torch.add(minus_one, buf, alpha=2, out=buf)
        if plan.mode == "default":
            s = bufs[-1][:, : 2 * plan.units]
            torch.add(minus_one, s, alpha=2, out=s)
    return hs, (hs, *bufs, e) if e is not None else (hs, *bufs)


def _forward_compiled(plan: CfCPlan, x, dt, valid, h0, params, layers, for_backward: bool):
    """:func:`_forward` for CPU tensors with none or one backbone layer: the loop in
    compiled code (:func:`._cfc_numba.cfc_loop`); inference keeps only one step's
    activations."""
    from ._cfc_numba import cfc_loop

    steps, batch, n_in = x.shape
    units, pure = plan.units, plan.mode == "pure"
    keep = steps if for_backward else 1
    (w0, b0), heads = layers[0], layers[1:]
    bufs = [x.new_empty(keep, w.shape[0], batch) for w, _ in layers]
    hs = x.new_empty(steps + 1, units, batch)
    if _state_as_sigmoid(plan):
        torch.mul(h0.t(), 0.5, out=hs[0]).add_(0.5)
    else:
        hs[0].copy_(h0.t())
    e = x.new_empty(keep, units, batch) if pure else None
    empty, empty3 = np.empty((0, 0), hs.numpy().dtype), np.empty((0, 0, 0), hs.numpy().dtype)
    cfc_loop(
        as_numpy(x.transpose(1, 2)),
        as_numpy(w0[:, :n_in]),
        as_numpy(w0[:, n_in:]),
        as_numpy(b0),
        as_numpy(heads[0][0]) if heads else empty,
        as_numpy(heads[0][1]) if heads else empty.reshape(0),
        bool(plan.activations and plan.activations[0] != "relu"),
        MODE_CODES[CfCMode(plan.mode)],
        units,
        float(plan.dt or 0.0),
        as_numpy(dt.transpose(1, 2)) if dt is not None else empty3,
        as_numpy(valid) if valid is not None else np.empty((0, 0), np.bool_),
        hs.numpy(),
        bufs[0].numpy(),
        bufs[-1].numpy() if heads else empty3,
        e.numpy() if pure else empty3,
        as_numpy(params[-2].t()) if pure else empty,
        as_numpy(params[-1].t().abs()) if pure else empty,
    )
    if heads and not for_backward:
        bufs = bufs[:1]  # not read
    return _finish(plan, hs, h0, bufs, e, for_backward)


def _closed_form_derivatives(plan, s, e, dt, valid, params):
    """d new state / d head pre-activations, (time, heads, units, batch), zero at invalid
    steps; heads as ``_mix_heads`` orders them."""
    steps, _, batch = s.shape
    units = plan.units
    dt = plan.dt if dt is None else dt.transpose(1, 2)  # (time, 1, batch)
    if plan.mode == "pure":
        a = params[-2].t()
        # d/df [a - a f exp(-dt (|w| + |f|))] = -a e (1 - dt |f|)
        d = s.abs().mul_(dt).sub_(1).mul_(e).mul_(a).unsqueeze(1)
    else:
        one = torch.ones((), dtype=s.dtype, device=s.device)
        d = s.new_empty(steps, 4 if plan.dt is None else 3, units, batch)
        f1, f2, g = s[:, :units], s[:, units : 2 * units], s[:, 2 * units : 3 * units]
        gg = torch.addcmul(g, g, g, value=-1)  # sigmoid' = g (1 - g)
        torch.addcmul(one, f1, f1, value=-1, out=d[:, 0])  # tanh' = 1 - f^2
        torch.addcmul(one, f2, f2, value=-1, out=d[:, 1]).mul_(g)
        if plan.mode == "default":  # h = ff1 (1 - g) + ff2 g
            d[:, 0].addcmul_(d[:, 0], g, value=-1)
            torch.sub(f2, f1, out=d[:, 2]).mul_(gg)
        else:  # h = ff1 + ff2 g
            torch.mul(f2, gg, out=d[:, 2])
        if plan.dt is None:  # time_a's derivative is dt times time_b's
            torch.mul(d[:, 2], dt, out=d[:, 3])
    if valid is not None:
        d.mul_(valid[:, None, None, :])
    return d


def _rows(a: torch.Tensor) -> torch.Tensor:
    """(time, rows, batch) -> (rows, time * batch)."""
    return a.transpose(0, 1).reshape(a.shape[1], -1)


def _backward_loop(gs, ga, w_t, w0h_t, gamma, valid, need_h0: bool) -> None:
    """The per-step part of :func:`_backward` through torch ops: ``gs`` (time, heads, units,
    batch) and each ``ga`` (time, rows, batch), the local derivatives, become d loss / d the
    pre-activations in place; ``gamma`` (time + 1, units, batch) gains d loss / d each state
    (``gamma[0]``, the initial state's, only with ``need_h0``)."""
    steps, batch = gs.shape[0], gs.shape[-1]
    gamma_t, gs_t = gamma.unsqueeze(1).unbind(0), gs.unbind(0)
    gs_flat = gs.view(steps, -1, batch).unbind(0)
    ga_t = [g.unbind(0) for g in ga]
    tmp = [gs.new_empty(g.shape[1], batch) for g in ga]
    if valid is not None:
        hold = (~valid).unsqueeze(1).to(gs.dtype).unbind(0)
    for t in range(steps - 1, -1, -1):
        gs_t[t].mul_(gamma_t[t + 1])
        g = gs_flat[t]
        for i in range(len(ga) - 1, -1, -1):
            torch.mm(w_t[i + 1], g, out=tmp[i])
            g = ga_t[i][t].mul_(tmp[i])
        if t or need_h0:
            gamma[t].addmm_(w0h_t, g)
            if valid is not None:
                gamma[t].addcmul_(hold[t], gamma[t + 1])


def _backward_loop_compiled(gs, ga, w_t, w0h_t, gamma, valid, need_h0: bool) -> None:
    """:func:`_backward_loop` in compiled code (CPU, none or one backbone layer)."""
    from ._cfc_numba import cfc_backward_loop

    empty = gs.new_empty(0, 0, 0).numpy()
    cfc_backward_loop(
        gs.numpy(),
        ga[0].numpy() if ga else empty,
        w_t[1].numpy() if ga else empty.reshape(0, 0),
        w0h_t.contiguous().numpy(),
        gamma.numpy(),
        (~valid).unsqueeze(1).to(gs.dtype).numpy() if valid is not None else empty,
        need_h0,
    )


def _backward(plan: CfCPlan, ctx, g_states):
    x, dt, valid, h0, *rest = ctx.saved_tensors
    n_bb, units, n_in = len(plan.activations), plan.units, plan.input_size
    n_params = 2 * (n_bb + 1) + (2 if plan.mode == "pure" else 0)
    params, (hs, *bufs) = rest[:n_params], rest[n_params:]
    e = bufs.pop() if plan.mode == "pure" else None
    zs, s = bufs[:n_bb], bufs[-1]
    layers = _fold(plan, params, loop=False)
    steps, batch = x.shape[:2]
    needs = ctx.needs_input_grad  # plan, x, dt, valid, h0, *params

    # d loss / d state, (time + 1, units, batch): gamma[t + 1] after step t, gamma[0] for h0.
    gamma = torch.empty_like(hs)
    gamma[0].zero_()
    gamma[1:].copy_(g_states.transpose(1, 2))
    # d loss / d pre-activations of the heads and of each backbone layer: the local
    # derivatives of all steps, times d loss / d output step by step in the loop.
    gs = _closed_form_derivatives(plan, s, e, dt, valid, params)
    one = torch.ones((), dtype=x.dtype, device=x.device)
    ga = [
        torch.addcmul(one, z, z, value=-1) if a != "relu" else (z > 0).to(z.dtype)
        for z, a in zip(zs, plan.activations, strict=True)
    ]
    w_t = [w.t().contiguous() for w, _ in layers]
    w0h_t = w_t[0][n_in:]
    if _compiled_loop(x) and n_bb <= 1:
        _backward_loop_compiled(gs, ga, w_t, w0h_t, gamma, valid, bool(needs[4]))
    else:
        _backward_loop(gs, ga, w_t, w0h_t, gamma, valid, bool(needs[4]))

    # Weight gradients: one matrix product over all steps per layer.
    g_pre = [_rows(g) for g in ga] + [_rows(gs.view(steps, -1, batch))]
    grads = []
    factors = _factors(plan, False, x.dtype, x.device)
    for i, (g, (f, r, _)) in enumerate(zip(g_pre, factors, strict=True)):
        if i == 0:  # the input is [x, state before the step]
            gw = torch.cat([g @ x.reshape(-1, n_in), g @ _rows(hs[:-1]).t()], 1)
        else:
            gw = g @ _rows(zs[i - 1]).t()
        gw, gb = gw.mul_(f), g.sum(1).mul_(r)
        grads += [gw, gb] if i < n_bb else [_unmix_heads(plan, gw), _unmix_heads(plan, gb)]

    g_dt = None
    if plan.mode == "pure":
        a, w_tau = (p.t() for p in params[-2:])
        g_new = gamma[1:] if valid is None else gamma[1:] * valid.unsqueeze(1)
        fe = s * e
        common = g_new * a * fe
        dt_col = plan.dt if dt is None else dt.transpose(1, 2)
        grads += [
            (g_new - g_new * fe).sum((0, 2)).view_as(a.t()),
            (common * dt_col).sum((0, 2)).view_as(w_tau.t()) * torch.sign(w_tau.t()),
        ]
        if dt is not None and needs[2]:
            g_dt = (common * (w_tau.abs() + s.abs())).sum(1).unsqueeze(-1)
    elif dt is not None and needs[2]:  # d gate-pre-activation / d dt = time_a
        g_dt = (gs[:, 2] * s[:, 3 * units :]).sum(1).unsqueeze(-1)
    g_x = (g_pre[0].t() @ layers[0][0][:, :n_in]).view_as(x) if needs[1] else None
    g_h0 = gamma[0].t() if needs[4] else None
    return (None, g_x, g_dt, None, g_h0, *grads)


def cfc_states(plan: CfCPlan, x, dt, valid, h0, params) -> torch.Tensor:
    """States (time, batch, units) of a dense CfC (arguments as for :class:`CfCScan`); through
    autograd only where a gradient is wanted."""
    if torch.is_grad_enabled() and any(
        a is not None and a.requires_grad for a in (x, dt, h0, *params)
    ):
        return CfCScan.apply(plan, x, dt, valid, h0, *params)
    return _forward(plan, x, dt, valid, h0, params, for_backward=False)[0][1:].transpose(1, 2)


class CfCScan(torch.autograd.Function):
    """States (time, batch, units) of a dense CfC over time-major ``x`` (time, batch, inputs).

    Tensor arguments after ``plan``: x, dt (time, batch, 1) or None (``plan.dt``), valid
    (time, batch) bool or None (invalid steps hold the state), h0 (batch, units), then the
    backbone layers' (weight, bias), the heads' (weight, bias) and, in pure mode, A and w_tau.
    """

    @staticmethod
    def forward(ctx, plan: CfCPlan, x, dt, valid, h0, *params):
        hs, saved = _forward(plan, x, dt, valid, h0, params, for_backward=True)
        ctx.plan = plan
        ctx.save_for_backward(x, dt, valid, h0, *params, *saved)
        return hs[1:].transpose(1, 2).contiguous()  # not a view: callers may modify it

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_states):
        return _backward(ctx.plan, ctx, g_states)
