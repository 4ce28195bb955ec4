"""One call from a trained model to deployable files and their model card.

``export_bundle(model, out_dir, formats={Format.ONNX, Format.C}, int8=True, task=task)``
writes the exports, checks each against PyTorch on a random stream, times a step in every
runtime, evaluates the task metric where a task is given, and writes ``<name>.card.json``
and ``<name>.card.md`` beside the files.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from torch import nn

from . import card as cards
from ._step import inference_copy
from .check import c_errors, onnx_errors, probe, task_stream


class Format(str, Enum):
    ONNX = "onnx"
    C = "c"


def _worst(errors: dict) -> float:
    """The largest error in a (nested) dict of errors."""
    values = [_worst(v) if isinstance(v, dict) else v for v in errors.values()]
    return max(values) if values else 0.0


def export_bundle(
    model: nn.Module,
    out_dir: str | Path,
    *,
    formats: set[Format] | frozenset[Format] = frozenset({Format.ONNX, Format.C}),
    name: str = "model",
    int8: bool = False,
    task: Any = None,
    check_steps: int = 1000,
    timing: bool = True,
) -> dict[str, Any]:
    """Export ``model`` in ``formats`` to ``out_dir`` and write its model card; returns the
    card (a JSON-ready dict).

    ``int8``: also the ONNX graphs with int8 matrix products (needs ``Format.ONNX``);
    ``task``: a :class:`~liquidtorch.data.Task` for the test metric in each runtime;
    ``check_steps``: length of the two streams compared with PyTorch (state fed back
    every step; the task's test inputs laid end to end, else random; 0 skips the checks);
    ``timing``: measure the latency per step.
    """
    from .c import compile_example, export_c, find_compiler
    from .onnx import export_onnx

    formats = {Format(f) for f in formats}
    if int8 and Format.ONNX not in formats:
        raise ValueError("int8: needs the onnx format")
    model = inference_copy(model)
    out = Path(out_dir)
    card: dict[str, Any] = {"model": cards.describe(model)["model"]}
    card["size"] = cards.describe(model)
    files: dict[str, str] = {}
    errors: dict[str, float] = {}
    latency: dict[str, float] = {}
    metric: dict[str, Any] = {}
    sample = None
    if check_steps > 0:  # the task's own test inputs where there is a task
        data = None if task is None else task_stream(task, check_steps)
        sample = probe(model, steps=check_steps, data=data)
    steppers = {"pytorch_us": cards.pytorch_stepper(model)} if timing else {}
    if task is not None:
        metric["name"] = task.metric.value
        metric["pytorch"] = cards.torch_metric(model, task)
    if Format.ONNX in formats:
        onnx_files = export_onnx(model, out, name=name)
        files |= {"onnx_step": onnx_files.step.name, "onnx_sequence": onnx_files.sequence.name}
        card["size"]["onnx_step_file_bytes"] = onnx_files.step.stat().st_size
        if sample is not None:
            errs = onnx_errors(onnx_files, sample)
            errors["onnx_step_max_abs"] = _worst(errs["step"])
            errors["onnx_sequence_max_abs"] = _worst(errs["sequence"])
        if timing:
            steppers["onnxruntime_us"] = cards.onnx_stepper(onnx_files.step)
        if task is not None:
            metric["onnxruntime"] = cards.onnx_metric(onnx_files.sequence, task)
        if int8:
            from .quantize import quantize_onnx, quantized_nodes

            q = quantize_onnx(onnx_files)
            files |= {"onnx_int8_step": q.step.name, "onnx_int8_sequence": q.sequence.name}
            card["size"]["onnx_int8_step_file_bytes"] = q.step.stat().st_size
            counts = quantized_nodes(q.step)
            card["int8"] = {"int8_matrix_products": counts["int8"],
                            "float_matrix_products": counts["float"]}  # fmt: skip
            if counts["float"]:
                card["int8"]["note"] = (
                    "the float products left are an LTC's element-wise synapses (Einsum over "
                    "sigmoid activations), which dynamic quantization does not cover"
                )
            if sample is not None:
                errs = onnx_errors(q, sample)
                errors["onnx_int8_step_max_abs"] = _worst(errs["step"])
            if timing:
                steppers["onnxruntime_int8_us"] = cards.onnx_stepper(q.step)
            if task is not None:
                metric["onnxruntime_int8"] = cards.onnx_metric(q.sequence, task)
                metric["int8_change"] = metric["onnxruntime_int8"] - metric["onnxruntime"]
    if steppers:
        latency |= cards.latencies_us(steppers)
    if Format.C in formats:
        c_files = export_c(model, out, name=name)
        files |= {"c_header": c_files.header.name, "c_source": c_files.source.name,
                  "c_example": c_files.main.name}  # fmt: skip
        card["size"] |= {"c_flash_bytes": c_files.flash_bytes,
                         "c_ram_bytes": c_files.ram_bytes,
                         "c_state_bytes": c_files.state_bytes}  # fmt: skip
        if find_compiler() is not None and (sample is not None or timing):
            exe = compile_example(c_files)
            if sample is not None:
                errors["c_max_abs"] = _worst(c_errors(exe, sample))
            if timing:
                latency["c_us"] = cards.c_latency_us(exe)
            exe.unlink()
    if errors:
        inputs = "random" if task is None else f"{task.name} test inputs"
        steps = 0 if sample is None else sample.x.shape[1]
        card["error_vs_pytorch"] = errors | {"stream_steps": steps, "inputs": inputs}
    if latency:
        card["latency_per_step_batch_1"] = latency
    if metric:
        card["task_metric"] = metric
    card["files"] = files
    cards.write_card(card, out, name)
    return card
