"""Validation and normalisation of a sequence layer's inputs: elapsed times, lengths and
masks, each to a time-major tensor (or ``None``) with a one-line error naming the argument."""

from __future__ import annotations

import torch


def _timespans(timespans, x, shape_tb, batched, batch_first, order):
    """A float (one elapsed time for every step) or a (time, batch, 1) tensor of x's dtype.

    A 0-dim tensor becomes a float unless it requires grad: then it is broadcast (as a
    tensor), so that its gradient is computed."""
    if timespans is None:
        return 1.0
    if isinstance(timespans, bool) or (
        isinstance(timespans, torch.Tensor)
        and (timespans.dtype == torch.bool or timespans.is_complex())
    ):
        what = "bool" if isinstance(timespans, bool) else f"a {timespans.dtype} tensor"
        raise ValueError(f"timespans: expected real numbers (elapsed times), got {what}")
    if isinstance(timespans, (int, float)) or (
        isinstance(timespans, torch.Tensor) and timespans.dim() == 0 and not timespans.requires_grad
    ):
        value = float(timespans)
        if not (value > 0 and value < float("inf")):
            raise ValueError(f"timespans: must be finite and > 0, got {value}")
        return value
    if not isinstance(timespans, torch.Tensor):
        raise ValueError(
            f"timespans: expected a number or a tensor, got {type(timespans).__name__}"
        )
    if timespans.dim() == 0:  # requires grad: keep it in the graph
        return timespans.to(device=x.device, dtype=x.dtype).expand(*shape_tb).unsqueeze(-1)
    ts = timespans
    if batched:
        expected = f"{order} or {order[:-1]}, 1)"
        if ts.dim() == 3 and ts.shape[-1] == 1:
            ts = ts.squeeze(-1)
        if ts.dim() == 2 and batch_first:
            ts = ts.transpose(0, 1)
    else:
        expected = "(time,) or (time, 1)"
        if ts.dim() == 2 and ts.shape[-1] == 1:
            ts = ts.squeeze(-1)
        if ts.dim() == 1:
            ts = ts.unsqueeze(1)
    if tuple(ts.shape) != shape_tb:
        raise ValueError(
            f"timespans: expected shape {expected} matching the input, "
            f"got {tuple(timespans.shape)} for input of {shape_tb[0]} steps, batch {shape_tb[1]}"
        )
    return ts.to(device=x.device, dtype=x.dtype).unsqueeze(-1)


def _valid(lengths, mask, x, shape_tb, batched, batch_first, order):
    if lengths is not None and mask is not None:
        raise ValueError("pass either lengths or mask, not both")
    steps, batch = shape_tb
    if lengths is not None:
        if not batched:
            raise ValueError("lengths: only for batched input; slice an unbatched sequence")
        lengths = torch.as_tensor(lengths, device=x.device)
        if (
            lengths.shape != (batch,)
            or lengths.is_floating_point()
            or lengths.is_complex()
            or lengths.dtype == torch.bool
        ):
            raise ValueError(
                f"lengths: expected integers of shape ({batch},), got "
                f"{lengths.dtype} {tuple(lengths.shape)}"
            )
        if bool(((lengths < 0) | (lengths > steps)).any()):
            raise ValueError(f"lengths: every length must be in [0, {steps}]")
        return torch.arange(steps, device=x.device).unsqueeze(1) < lengths.unsqueeze(0)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise ValueError("mask: expected a bool tensor, True at valid steps")
        m = mask if batched else mask.unsqueeze(1)
        if batched and batch_first:
            m = m.transpose(0, 1)
        if tuple(m.shape) != shape_tb:
            raise ValueError(
                f"mask: expected shape {order if batched else '(time,)'} matching the input, "
                f"got {tuple(mask.shape)}"
            )
        return m.to(x.device)
    return None
