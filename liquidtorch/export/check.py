"""Numerical checks of an export against PyTorch: the same random sequence through both.

The PyTorch side is the model as a user calls it (the whole sequence at once, fused kernels
where they apply) for the outputs and the final state, and :class:`StepModule` (the
reference path) for every step's output and state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..layers import SequenceLayer
from ._step import StepModule, inference_copy, split_model


@dataclass(frozen=True)
class Probe:
    """A random float32 sequence and what PyTorch makes of it.

    ``x`` (batch, steps, input_size), ``dt`` (batch, steps); ``ys`` (batch, steps, output)
    and ``states`` (batch, steps, state_size) step by step (reference path); ``final``
    (batch, state_size) and ``model_out`` from one whole-sequence call of the model.
    """

    x: np.ndarray
    dt: np.ndarray
    ys: np.ndarray
    states: np.ndarray
    final: np.ndarray
    model_out: np.ndarray
    per_step: bool


def flat_state(layer: SequenceLayer, state: Any) -> torch.Tensor:
    """A layer's public state (tensor, ``(h, c)``, stacked layers) as (batch, state_size)."""
    parts = state if isinstance(state, tuple) else (state,)
    if len(layer.cells) == 1:
        return torch.cat(parts, dim=-1)
    return torch.cat([p[i] for i in range(len(layer.cells)) for p in parts], dim=-1)


@torch.no_grad()
def probe(
    model: nn.Module,
    *,
    steps: int = 1000,
    batch: int = 2,
    seed: int = 0,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Probe:
    """``data``: ``(x, dt)`` (batch, steps, features) and (batch, steps) to use instead of
    random inputs (standard normal features, elapsed times uniform in [0.5, 1.5])."""
    model = inference_copy(model)
    layer, head = split_model(model)
    if data is not None:
        x, dt = (t.float() for t in data)
    else:
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(batch, steps, layer.input_size, generator=gen)
        dt = 0.5 + torch.rand(batch, steps, generator=gen)
    batch, steps = x.shape[:2]
    step = StepModule(model)
    s = step.init_state(batch)
    ys, states = [], []
    for t in range(steps):
        y, s = step(x[:, t], s, dt[:, t : t + 1])
        ys.append(y)
        states.append(s)
    tm = (lambda a: a.transpose(0, 1)) if not layer.batch_first else (lambda a: a)
    out, final = layer(tm(x), timespans=tm(dt))
    if head is not None:
        out = head(out)
    per_step = bool(layer.return_sequences)
    return Probe(
        x.numpy(), dt.numpy(), torch.stack(ys, 1).numpy(), torch.stack(states, 1).numpy(),
        flat_state(layer, final).numpy(), tm(out).numpy() if per_step else out.numpy(), per_step,
    )  # fmt: skip


def task_stream(task: Any, steps: int, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` streams of ``steps`` steps cut from the task's test sequences laid end to
    end (their real inputs and elapsed times): (batch, steps, features), (batch, steps)."""
    data = task.test
    x = data.x.reshape(-1, data.x.shape[-1])
    dt = torch.ones(x.shape[0]) if data.timespans is None else data.timespans.reshape(-1)
    if data.lengths is not None:  # drop the padding
        keep = (torch.arange(data.x.shape[1]) < data.lengths.unsqueeze(1)).reshape(-1)
        x, dt = x[keep], dt[keep]
    n = min(steps, x.shape[0] // batch)
    return x[: batch * n].reshape(batch, n, -1), dt[: batch * n].reshape(batch, n)


def errors(p: Probe, ys: np.ndarray, states: np.ndarray) -> dict[str, float]:
    """Max absolute errors of a runtime's outputs ``ys`` (batch, steps, out) and states
    (batch, steps, state) [or only the final state (batch, state)] against the probe."""
    final = states[:, -1] if states.ndim == 3 else states
    model_ys = ys if p.per_step else ys[:, -1]
    out = {
        "output": float(np.abs(ys - p.ys).max()),
        "model_output": float(np.abs(model_ys - p.model_out).max()),
        "final_state": float(np.abs(final - p.final).max()),
    }
    if states.ndim == 3:
        out["state"] = float(np.abs(states - p.states).max())
    return out


def onnx_errors(files: Any, p: Probe) -> dict[str, dict[str, float]]:
    """Errors of the step graph streamed over every step (state fed back) and of the
    sequence graph in one call."""
    from .onnx import session

    step = session(files.step)
    s = np.zeros(p.states.shape[::2], dtype=np.float32)
    ys, states = [], []
    for t in range(p.x.shape[1]):
        y, s = step.run(None, {"x": p.x[:, t], "state": s, "dt": p.dt[:, t : t + 1]})
        ys.append(y)
        states.append(s)
    seq = session(files.sequence)
    zero = np.zeros_like(p.final)
    y_seq, s_seq = seq.run(None, {"x": p.x, "state": zero, "dt": p.dt})
    return {
        "step": errors(p, np.stack(ys, 1), np.stack(states, 1)),
        "sequence": errors(p, y_seq, s_seq),
    }


def c_errors(exe: str | Path, p: Probe) -> dict[str, float]:
    """Errors of the compiled example ``main.c`` (``-s``: outputs and state per step),
    each batch row streamed from a reset state."""
    import subprocess

    lines = []
    for b in range(p.x.shape[0]):
        lines.append("reset")
        rows = np.concatenate([p.dt[b, :, None], p.x[b]], axis=1).tolist()
        lines += [" ".join(repr(v) for v in row) for row in rows]
    result = subprocess.run(
        [str(exe), "-s"], input="\n".join(lines) + "\n", capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"the compiled example failed: {result.stderr.strip()[:500]}")
    values = np.array([row.split() for row in result.stdout.splitlines()], dtype=np.float32)
    values = values.reshape(p.x.shape[0], p.x.shape[1], -1)
    n_out = p.ys.shape[-1]
    return errors(p, values[..., :n_out], values[..., n_out:])
