"""The model card written beside each export: what the model is, what it costs, how fast
it runs, how close each runtime is to PyTorch, and the task metric.

Latency is per step at batch 1 on one CPU thread: PyTorch (the layer's ``step`` fast lane
plus the head), onnxruntime (the step graph, float32 and int8), measured alternately in
one process, and the compiled C example (``main --bench``). Timings on a shared machine
are noisy; they are medians.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._step import StepModule, split_model


def latencies_us(
    steppers: dict[str, Callable[[], Any]], steps: int = 200, rounds: int = 7
) -> dict[str, float]:
    """Microseconds per call of each stepper: rounds of ``steps`` calls, the contenders
    alternating within each round (a busy machine slows them alike), median per stepper."""
    times: dict[str, list[float]] = {name: [] for name in steppers}
    for fn in steppers.values():
        fn()  # warm up (compilation, caches)
    for _ in range(rounds):
        for name, fn in steppers.items():
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append((time.perf_counter() - start) / steps * 1e6)
    return {name: statistics.median(t) for name, t in times.items()}


def pytorch_stepper(model: nn.Module) -> Callable[[], None]:
    """One streaming step at batch 1: the layer's ``step`` (its fast lane) and the head."""
    layer, head = split_model(model)
    layer.eval()
    x = torch.randn(1, layer.input_size)
    state: list[Any] = [None]

    @torch.no_grad()
    def one() -> None:
        y, state[0] = layer.step(x, state[0], 1.0)
        if head is not None:
            head(y)

    return one


def onnx_stepper(path: str | Path) -> Callable[[], None]:
    """One run of an ONNX step graph at batch 1 (one thread), state fed back."""
    from .onnx import session

    s = session(path)
    n_in, n_state = (s.get_inputs()[k].shape[1] for k in (0, 1))
    x = np.random.default_rng(0).normal(size=(1, n_in)).astype(np.float32)
    feed = {"x": x, "state": np.zeros((1, n_state), np.float32), "dt": np.ones((1, 1), np.float32)}

    def one() -> None:
        feed["state"] = s.run(None, feed)[1]

    return one


def c_latency_us(exe: str | Path, steps: int = 200_000) -> float:
    """Microseconds per step of the compiled example (``main --bench``), median of 3."""
    times = []
    for _ in range(3):
        out = subprocess.run([str(exe), "--bench", str(steps)], capture_output=True, text=True)
        times.append(float(out.stdout.split()[0]) / 1000.0)
    return statistics.median(times)


@torch.no_grad()
def torch_metric(model: nn.Module, task: Any, split: str = "test") -> float:
    """The task metric of the PyTorch model on a split (the model called as in training)."""
    from ..train import task_metric

    data = getattr(task, split)
    part = lambda t, i: None if t is None else t[i : i + 256]
    pred = torch.cat(
        [
            model(data.x[i : i + 256], part(data.timespans, i), lengths=part(data.lengths, i))
            for i in range(0, len(data), 256)
        ]
    )
    return float(task_metric(task)(pred, {"y": data.y, "lengths": data.lengths}))


def onnx_metric(path: str | Path, task: Any, split: str = "test") -> float:
    """The task metric of an ONNX sequence graph on a split (per-sequence tasks read the
    output at each sequence's last valid step)."""
    from ..train import task_metric
    from .onnx import session

    s, data = session(path), getattr(task, split)
    n_state = s.get_inputs()[1].shape[1]
    ys = []
    for i in range(0, len(data), 256):
        x = data.x[i : i + 256].numpy()
        if data.timespans is None:
            dt = np.ones(x.shape[:2], np.float32)
        else:
            dt = data.timespans[i : i + 256].numpy()
        zero = np.zeros((len(x), n_state), np.float32)
        ys.append(s.run(None, {"x": x, "state": zero, "dt": dt})[0])
    y = torch.from_numpy(np.concatenate(ys))
    if not task.per_step:
        last = (
            (data.lengths - 1)
            if data.lengths is not None
            else torch.full((len(y),), y.shape[1] - 1)
        )
        y = y[torch.arange(len(y)), last]
    return float(task_metric(task)(y, {"y": data.y, "lengths": data.lengths}))


def describe(model: nn.Module) -> dict[str, Any]:
    """Sizes and counts of ``model``."""
    from ..zoo import count_parameters, effective_parameters, synapse_count

    step = StepModule(model)
    config = getattr(model, "config", None)
    name = type(model).__name__
    return {
        "model": config.get("zoo", name) if isinstance(config, dict) else name,
        "input_size": step.input_size,
        "state_size": step.state_size,
        "output_size": step.output_size,
        "parameters": count_parameters(model),
        "effective_parameters": effective_parameters(model),
        "synapses": synapse_count(model),
        "float32_weight_bytes": 4 * effective_parameters(model),
    }


def write_card(card: dict[str, Any], out_dir: str | Path, name: str = "model") -> tuple[Path, Path]:
    """``<name>.card.json`` and ``<name>.card.md`` in ``out_dir``."""
    from ..train import write_json_atomic, write_text_atomic

    out = Path(out_dir)
    json_path, md_path = out / f"{name}.card.json", out / f"{name}.card.md"
    write_json_atomic(json_path, card)
    write_text_atomic(md_path, card_markdown(card))
    return json_path, md_path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-3 else f"{v:.4g}"
    return str(v)


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a markdown table per section."""
    lines = [f"# Model card: {card.get('model', 'model')}", ""]
    for section, rows in card.items():
        if not isinstance(rows, dict):
            continue
        lines += [f"## {section.replace('_', ' ')}", "", "| | |", "|---|---|"]
        lines += [f"| {k.replace('_', ' ')} | {_fmt(v)} |" for k, v in rows.items()]
        lines.append("")
    return "\n".join(lines)


__all__ = ["card_markdown", "describe", "write_card"]
