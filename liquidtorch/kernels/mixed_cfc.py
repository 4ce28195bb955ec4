"""Mixed memory over a dense CfC, fused: the LSTM gate and the CfC step of every time step in
one autograd Function with a hand-derived backward (plain torch ops, any device).

What can leave the loop does (the caller computes it with ordinary differentiable ops): the
LSTM's input projection ``zx = x Wx^T + b`` (forget-gate +1 included) and the input part of
the first linear layer ``zb``, each one product over all steps; lecun_tanh's constants are
folded into the weights so the loop sees ``tanh`` and ``relu`` only. Per step the loop runs
``addmm`` for the LSTM's recurrent map, the backbone and the heads, and a few elementwise
ops; backward gets every local derivative in whole-sequence ops, carries ``d loss / d (h,
c)`` through the per-step loop, and computes each weight gradient as one product over all
steps.

Per step, state ``(h, c)``::

    [i, ig, f, o] = zx[t] + h Wh^T;   c' = c sigmoid(f) + tanh(i) sigmoid(ig)
    hl = tanh(c') sigmoid(o);          a0 = zb[t] + hl W0h^T;  a_l+1 = act(a_l) W_l+1^T + b
    h' = closed_form(heads, dt)        (default / no_gate / pure, as ``cells.cfc``)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..cells.options import CfCMode
from ._common import MODE_CODES, as_numpy


class MixedCfCPlan(NamedTuple):
    """The static part of a fused mixed-memory CfC call."""

    mode: CfCMode
    activations: tuple[str, ...]  # per backbone layer: "tanh" | "relu" (lecun folded)
    units: int
    dt: float | None  # the elapsed time of every step, or None: a (time, batch, 1) tensor


def _heads_count(plan: MixedCfCPlan) -> int:
    """Heads as the loop sees them: pure ``[ff1]``; constant dt ``[ff1 | ff2 | gate]`` (the
    caller folds ``dt * time_a + time_b`` into one head); else ``[ff1 | ff2 | time_a |
    time_b]``."""
    return 1 if plan.mode is CfCMode.PURE else 3 if plan.dt is not None else 4


def _compiled(plan: MixedCfCPlan, zx: torch.Tensor) -> bool:
    """Whether the per-step loops run in compiled code (:mod:`._mixed_cfc_numba`): the
    conditions of the dense CfC's (:func:`.cfc._compiled_loop`), at most one backbone
    layer."""
    from .cfc import _compiled_loop

    return _compiled_loop(zx) and len(plan.activations) <= 1


def _forward_compiled(plan, zx, zb, dt, valid, h0, c0, wh, w0h, rest, pure):
    """:func:`_forward` with the loop in :func:`._mixed_cfc_numba.mixed_cfc_loop`."""
    from ._mixed_cfc_numba import mixed_cfc_loop

    steps, batch, _ = zx.shape
    u = plan.units
    hs, cs = zx.new_empty(steps + 1, batch, u), zx.new_empty(steps + 1, batch, u)
    hs[0], cs[0] = h0, c0
    gates, pre0 = zx.clone(), zb.clone()
    tc, hl = zx.new_empty(steps, batch, u), zx.new_empty(steps, batch, u)
    hidden = len(plan.activations) == 1
    ys = [zx.new_empty(steps, batch, zb.shape[-1])] if hidden else []
    heads = zx.new_empty(steps, batch, rest[0][0].shape[0]) if hidden else pre0
    is_pure = plan.mode is CfCMode.PURE
    e = zx.new_empty(steps, batch, u) if is_pure else None
    ff = None if is_pure else zx.new_empty(steps, batch, 2 * u)
    gate = None if is_pure else zx.new_empty(steps, batch, u)
    empty = np.empty((0, 0), dtype=hs.numpy().dtype)
    empty3 = empty.reshape(0, 0, 0)
    mixed_cfc_loop(
        as_numpy(wh.t()), as_numpy(w0h.t()),
        as_numpy(rest[0][0].t()) if hidden else empty,
        as_numpy(rest[0][1]) if hidden else empty.reshape(0),
        hidden and plan.activations[0] == "relu",
        MODE_CODES[plan.mode], float(plan.dt or 0.0),
        as_numpy(dt) if dt is not None else empty3,
        as_numpy(valid) if valid is not None else np.empty((0, 0), np.bool_),
        hs.numpy(), cs.numpy(), gates.numpy(), tc.numpy(), hl.numpy(), pre0.numpy(),
        ys[0].numpy() if hidden else empty3, heads.numpy(),
        e.numpy() if is_pure else empty3, ff.numpy() if ff is not None else empty3,
        gate.numpy() if gate is not None else empty3,
        as_numpy(pure[0]) if is_pure else empty, as_numpy(pure[1].abs()) if is_pure else empty,
    )  # fmt: skip
    pre = [pre0] if hidden else []
    saved = (hs, cs, gates, tc, hl, heads, *pre, *ys)
    return saved + ((e,) if is_pure else (ff, gate))


def _forward(plan, zx, zb, dt, valid, h0, c0, wh, w0h, rest, pure):
    if _compiled(plan, zx):
        return _forward_compiled(plan, zx, zb, dt, valid, h0, c0, wh, w0h, rest, pure)
    steps, batch, _ = zx.shape
    u = plan.units
    masked = valid is not None
    hs, cs = zx.new_empty(steps + 1, batch, u), zx.new_empty(steps + 1, batch, u)
    hs[0], cs[0] = h0, c0
    gates = zx.clone()  # pre-activations, then [tanh(i), sig(ig), sig(f), sig(o)]
    tc, hl = zx.new_empty(steps, batch, u), zx.new_empty(steps, batch, u)
    pre = [zb.clone()] + [b.expand(steps, batch, -1).clone() for _, b in rest]
    ys = [zx.new_empty(steps, batch, p.shape[-1]) for p in pre[:-1]]
    heads = pre[-1]
    whT, w0hT, restT = wh.t(), w0h.t(), [w.t() for w, _ in rest]
    if plan.mode is CfCMode.PURE:
        a, w_tau = pure
        e = zx.new_empty(steps, batch, u)
        abs_w, neg_a = w_tau.abs(), -a
        tmp = zx.new_empty(batch, u)
    else:
        ff = zx.new_empty(steps, batch, 2 * u)
        gate = zx.new_empty(steps, batch, u)
    if masked:
        keep = valid.unsqueeze(-1).unbind(0)
        h_new, c_new = zx.new_empty(batch, u), zx.new_empty(batch, u)
    # Views of every step, made once (indexing in the loop costs more than the small ops).
    h_t, c_t, tc_t, hl_t = hs.unbind(0), cs.unbind(0), tc.unbind(0), hl.unbind(0)
    g_t = gates.unbind(0)
    gi_t, gr_t = gates[..., :u].unbind(0), gates[..., u:].unbind(0)
    i_t, ig_t, f_t, o_t = (gates[..., k * u : (k + 1) * u].unbind(0) for k in range(4))
    pre_t, ys_t = [p.unbind(0) for p in pre], [y.unbind(0) for y in ys]
    steps_acts = list(enumerate(plan.activations))
    if plan.mode is CfCMode.PURE:
        e_t = e.unbind(0)
        neg_dt = [-plan.dt] * steps if dt is None else (-dt).unbind(0)
    else:
        ff_t, gate_t = ff.unbind(0), gate.unbind(0)
        f1_t, f2_t = ff[..., :u].unbind(0), ff[..., u:].unbind(0)
        ta_t, tb_t = heads[..., 2 * u : 3 * u].unbind(0), heads[..., 3 * u :].unbind(0)
        ffh_t = heads[..., : 2 * u].unbind(0)
        dt_t = None if dt is None else dt.unbind(0)
    for t in range(steps):
        g_t[t].addmm_(h_t[t], whT)
        torch.tanh_(gi_t[t])
        torch.sigmoid_(gr_t[t])
        c = c_new if masked else c_t[t + 1]
        torch.mul(c_t[t], f_t[t], out=c).addcmul_(i_t[t], ig_t[t])
        torch.mul(torch.tanh(c, out=tc_t[t]), o_t[t], out=hl_t[t])
        y = pre_t[0][t].addmm_(hl_t[t], w0hT)
        for k, act in steps_acts:
            if act == "tanh":
                torch.tanh(y, out=ys_t[k][t])
            else:
                torch.clamp(y, min=0.0, out=ys_t[k][t])
            y = pre_t[k + 1][t].addmm_(ys_t[k][t], restT[k])
        h = h_new if masked else h_t[t + 1]
        if plan.mode is CfCMode.PURE:  # h = a - a ff1 exp(-dt (|w_tau| + |ff1|))
            et = torch.abs(y, out=e_t[t]).add_(abs_w).mul_(neg_dt[t]).exp_()
            torch.addcmul(a, neg_a, torch.mul(y, et, out=tmp), out=h)
        else:
            torch.tanh(ffh_t[t], out=ff_t[t])
            if dt is None:  # the gate's pre-activation is a head of its own
                gt = torch.sigmoid(ta_t[t], out=gate_t[t])
            else:
                gt = torch.sigmoid_(torch.addcmul(tb_t[t], ta_t[t], dt_t[t], out=gate_t[t]))
            if plan.mode is CfCMode.DEFAULT:
                torch.lerp(f1_t[t], f2_t[t], gt, out=h)
            else:
                torch.addcmul(f1_t[t], gt, f2_t[t], out=h)
        if masked:
            torch.where(keep[t], h_new, h_t[t], out=h_t[t + 1])
            torch.where(keep[t], c_new, c_t[t], out=c_t[t + 1])
    saved = (hs, cs, gates, tc, hl, heads, *pre[:-1], *ys)
    saved += (e,) if plan.mode is CfCMode.PURE else (ff, gate)
    return saved


def _local_derivatives(plan, heads, extra, dt, valid):
    """d h' / d heads (time, batch, heads, units), heads in their own order, zero at invalid
    steps; for pure mode also ``e``."""
    u = plan.units
    if plan.mode is CfCMode.PURE:
        (e,) = extra
        dtc = plan.dt if dt is None else dt
        d = heads.abs().mul_(dtc).sub_(1).mul_(e).unsqueeze(2)  # e (dt |f| - 1); times a later
    else:
        ff, gate = extra
        f1, f2 = ff[..., :u], ff[..., u:]
        one = torch.ones((), dtype=ff.dtype, device=ff.device)
        k = _heads_count(plan)
        d = ff.new_empty(*ff.shape[:2], k, u)
        gg = torch.addcmul(gate, gate, gate, value=-1)  # sigmoid' = g (1 - g)
        torch.addcmul(one, f1, f1, value=-1, out=d[:, :, 0])
        torch.addcmul(one, f2, f2, value=-1, out=d[:, :, 1]).mul_(gate)
        if plan.mode is CfCMode.DEFAULT:  # h = ff1 (1 - g) + ff2 g
            d[:, :, 0].addcmul_(d[:, :, 0], gate, value=-1)
            torch.sub(f2, f1, out=d[:, :, k - 1]).mul_(gg)
        else:  # h = ff1 + ff2 g
            torch.mul(f2, gg, out=d[:, :, k - 1])
        if dt is not None:  # time_a's derivative is dt times time_b's
            torch.mul(d[:, :, 3], dt, out=d[:, :, 2])
    if valid is not None:
        d.mul_(valid[:, :, None, None])
    return d


def _backward(plan, ctx, g_h, g_c):
    zx, zb, dt, valid, h0, c0, wh, w0h, *rest = ctx.saved_tensors
    n_rest, n_acts = ctx.n_rest, len(plan.activations)
    pure_mode = plan.mode is CfCMode.PURE
    weights = rest[: 2 * n_rest]
    pure = rest[2 * n_rest : 2 * n_rest + (2 if pure_mode else 0)]
    saved = rest[2 * n_rest + len(pure) :]
    hs, cs, gates, tc, hl, heads = saved[:6]
    pre = list(saved[6 : 6 + n_acts])  # backbone pre-activations (first layer: pre[0])
    ys = list(saved[6 + n_acts : 6 + 2 * n_acts])
    extra = saved[6 + 2 * n_acts :]
    steps, batch, _ = zx.shape
    u = plan.units
    needs = ctx.needs_input_grad[1:]  # n_rest, zx, zb, dt, valid, h0, c0, wh, w0h, ...
    one = torch.ones((), dtype=zx.dtype, device=zx.device)

    # Local derivatives of all steps.
    d = _local_derivatives(plan, heads, extra, dt, valid)
    if pure_mode:  # d h / d ff1 = a e (dt |ff1| - 1)
        d.mul_(pure[0])
    i, ig, f, o = gates.split(u, -1)
    q = torch.addcmul(one, tc, tc, value=-1).mul_(o)  # d hl / d c' = o (1 - tanh(c')^2)
    p_o = torch.addcmul(o, o, o, value=-1).mul_(tc)  # d hl / d o-pre = tanh(c') o (1 - o)
    r = zx.new_empty(steps, batch, 3, u)  # d c' / d (i, ig, f pre-activations)
    torch.addcmul(one, i, i, value=-1, out=r[:, :, 0]).mul_(ig)
    torch.addcmul(ig, ig, ig, value=-1, out=r[:, :, 1]).mul_(i)
    torch.addcmul(f, f, f, value=-1, out=r[:, :, 2]).mul_(cs[:-1])
    d_act = [
        torch.addcmul(one, y, y, value=-1) if act == "tanh" else (z > 0).to(z.dtype)
        for y, z, act in zip(ys, pre, plan.activations, strict=True)
    ]

    # d loss / d state: gh[t + 1], gc[t + 1] after step t; [0] for the initial state.
    gh, gc = torch.zeros_like(hs), torch.zeros_like(cs)
    if g_h is not None:
        gh[1:] = g_h
    if g_c is not None:
        gc[1:] = g_c
    k = _heads_count(plan)
    g_heads = zx.new_empty(steps, batch, k * u)
    g_pre = [torch.empty_like(z) for z in pre]  # backbone pre-activations
    g_gates = torch.empty_like(gates)
    g_first = g_pre[0] if n_acts else g_heads
    w_rest = [weights[2 * j] for j in range(n_rest)]
    tmp = [zx.new_empty(batch, z.shape[-1]) for z in pre]
    g_hl, g_cc, g_keep = (zx.new_empty(batch, u) for _ in range(3))
    if valid is not None:
        keep = valid.unsqueeze(-1).to(zx.dtype)
        hold = (~valid).unsqueeze(-1).to(zx.dtype)
    if _compiled(plan, zx):
        from ._mixed_cfc_numba import mixed_cfc_backward_loop

        empty = zx.new_empty(0, 0, 0).numpy()
        hidden = n_acts == 1
        mixed_cfc_backward_loop(
            d.numpy(), as_numpy(w_rest[0]) if hidden else empty.reshape(0, 0),
            d_act[0].numpy() if hidden else empty, as_numpy(w0h), as_numpy(wh), q.numpy(),
            p_o.numpy(), r.numpy(), as_numpy(gates), gh.numpy(), gc.numpy(), g_heads.numpy(),
            g_pre[0].numpy() if hidden else empty, g_gates.numpy(),
            keep.numpy() if valid is not None else empty,
            hold.numpy() if valid is not None else empty, bool(needs[5]), bool(needs[6]),
        )  # fmt: skip
    else:
        gh_t, gc_t, gg_t = gh.unbind(0), gc.unbind(0), g_gates.unbind(0)
        gga_t = g_gates[..., : 3 * u].view(steps, batch, 3, u).unbind(0)
        ggo_t = g_gates[..., 3 * u :].unbind(0)
        d_t, gheads_t = d.unbind(0), g_heads.view(steps, batch, k, u).unbind(0)
        gpre_t, dact_t = [g.unbind(0) for g in g_pre], [g.unbind(0) for g in d_act]
        gfirst_t, g2_t = g_first.unbind(0), g_heads.unbind(0)
        q_t, po_t, r_t, f_t = q.unbind(0), p_o.unbind(0), r.unbind(0), f.unbind(0)
        layers = list(range(n_acts - 1, -1, -1))
        if valid is not None:
            keep_t, hold_t = keep.unbind(0), hold.unbind(0)
        for t in range(steps - 1, -1, -1):
            torch.mul(d_t[t], gh_t[t + 1].unsqueeze(1), out=gheads_t[t])
            g = g2_t[t]
            for j in layers:
                g = torch.mul(torch.mm(g, w_rest[j], out=tmp[j]), dact_t[j][t], out=gpre_t[j][t])
            torch.mm(gfirst_t[t], w0h, out=g_hl)
            gct = gc_t[t + 1] if valid is None else torch.mul(gc_t[t + 1], keep_t[t], out=g_keep)
            torch.addcmul(gct, g_hl, q_t[t], out=g_cc)
            torch.mul(r_t[t], g_cc.unsqueeze(1), out=gga_t[t])
            torch.mul(g_hl, po_t[t], out=ggo_t[t])
            if t or needs[5]:
                gh_t[t].addmm_(gg_t[t], wh)
            if t or needs[6]:
                gc_t[t].addcmul_(g_cc, f_t[t])
            if valid is not None:
                gh_t[t].addcmul_(gh_t[t + 1], hold_t[t])
                gc_t[t].addcmul_(gc_t[t + 1], hold_t[t])

    # Weight gradients: one matrix product over all steps each.
    flat = lambda a: a.reshape(-1, a.shape[-1])
    g_wh = flat(g_gates).t() @ flat(hs[:-1])
    g_w0h = flat(g_first).t() @ flat(hl)
    grads = []
    for j in range(n_rest):
        g_out = g_pre[j + 1] if j + 1 < n_acts else g_heads
        grads += [flat(g_out).t() @ flat(ys[j]), flat(g_out).sum(0)]
    g_dt = None
    if pure_mode:
        a, w_tau = pure
        g_new = gh[1:] if valid is None else gh[1:] * valid.unsqueeze(-1)
        fe = heads * extra[0]
        common = g_new * a * fe
        dtc = plan.dt if dt is None else dt
        grads += [
            (g_new - g_new * fe).sum((0, 1)).view_as(a),
            (common * dtc).sum((0, 1)).view_as(w_tau) * torch.sign(w_tau),
        ]
        if dt is not None and needs[3]:
            g_dt = (common * (w_tau.abs() + heads.abs())).sum(-1, keepdim=True)
    elif dt is not None and needs[3]:  # d gate-pre-activation / d dt = time_a
        g_dt = (g_heads[..., 3 * u :] * heads[..., 2 * u : 3 * u]).sum(-1, keepdim=True)
    return (None, g_gates, g_first, g_dt, None, gh[0], gc[0], g_wh, g_w0h, *grads)


class MixedCfCScan(torch.autograd.Function):
    """States ``(h, c)``, each (time, batch, units), of mixed memory over a dense CfC.

    Tensor arguments after ``plan`` and ``n_rest``: ``zx`` (time, batch, 4 units) the LSTM's
    input projection with its bias; ``zb`` (time, batch, rows) the input part of the first
    linear layer (the first backbone layer, or the heads without backbone) with its bias;
    ``dt`` (time, batch, 1) or None (``plan.dt``); ``valid`` (time, batch) bool or None;
    ``h0``, ``c0`` (batch, units); ``wh`` (4 units, units); ``w0h`` the first layer's
    weights on ``hl``; ``n_rest`` (weight, bias) pairs of the following layers (heads last);
    in pure mode ``A`` and ``w_tau`` (1, units).
    """

    @staticmethod
    def forward(ctx, plan: MixedCfCPlan, n_rest: int, *tensors):
        zx, zb, dt, valid, h0, c0, wh, w0h, *rest = tensors
        weights = rest[: 2 * n_rest]
        pairs = [(weights[2 * j], weights[2 * j + 1]) for j in range(n_rest)]
        saved = _forward(plan, zx, zb, dt, valid, h0, c0, wh, w0h, pairs, rest[2 * n_rest :])
        ctx.plan, ctx.n_rest = plan, n_rest
        ctx.save_for_backward(*tensors, *saved)
        hs, cs = saved[:2]
        return hs[1:].clone(), cs[1:].clone()  # not views: callers may modify them

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_h, g_c):
        return (None, None, *_backward(ctx.plan, ctx, g_h, g_c)[1:])
