"""ONNX export: a single-step graph and a whole-sequence graph of dynamic length.

``export_onnx(model, out_dir)`` writes

* ``<name>.step.onnx``: inputs ``x`` (batch, input_size), ``state`` (batch, state_size),
  ``dt`` (batch, 1); outputs ``y`` (batch, output_size), ``state_out`` (batch,
  state_size). Dynamic batch. Feed ``state_out`` back as ``state`` to stream.
* ``<name>.sequence.onnx``: inputs ``x`` (batch, time, input_size), ``state`` (batch,
  state_size), ``dt`` (batch, time); outputs ``y`` (batch, time, output_size) and
  ``state_out``. Dynamic batch *and* length: the step graph is the body of an ONNX ``Scan``,
  so the length is not fixed at export (no unrolled loop). A per-sequence model's prediction
  is ``y[:, -1]``; padding masks are not part of the graph (cut sequences to their length).

The state layout is :class:`~liquidtorch.export.StepModule`'s (zeros to start). The graphs
come from the cells' reference ``forward`` (plain tensor operations): the fused numba
kernels are never traced. Needs ``onnx`` (and ``onnxruntime`` to verify):
``pip install "liquidtorch[export]"``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._step import StepModule, inference_copy

STEP_INPUTS = ("x", "state", "dt")
STEP_OUTPUTS = ("y", "state_out")


class Exporter(str, Enum):
    """Which ``torch.onnx`` exporter traces the step.

    ``TORCHSCRIPT`` (default) is the tracing exporter: about 50x faster here and the same
    graph maths; ``DYNAMO`` is ``torch.export``-based (torch's default from 2.9 on)."""

    TORCHSCRIPT = "torchscript"
    DYNAMO = "dynamo"


@dataclass(frozen=True)
class OnnxFiles:
    step: Path
    sequence: Path


def require(module: str) -> Any:
    """Import an optional dependency of the exporters with a message naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ModuleNotFoundError(
            f'{module} is needed for this export: pip install "liquidtorch[export]"'
        ) from e


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.onnx's deprecation notes and registration log lines are not the user's concern."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def step_proto(model: nn.Module, *, exporter: Exporter | str = Exporter.TORCHSCRIPT) -> Any:
    """The step graph of ``model`` as an ``onnx.ModelProto`` (float32, dynamic batch)."""
    onnx = require("onnx")
    exporter = Exporter(exporter)
    step = StepModule(inference_copy(model))
    args = (torch.zeros(2, step.input_size), step.init_state(2), torch.ones(2, 1))
    with _quiet(), torch.no_grad():
        if exporter is Exporter.TORCHSCRIPT:
            buffer = io.BytesIO()
            torch.onnx.export(
                step, args, buffer,  # type: ignore[arg-type]  # a file object works
                input_names=list(STEP_INPUTS),
                output_names=list(STEP_OUTPUTS),
                dynamic_axes={k: {0: "batch"} for k in STEP_INPUTS + STEP_OUTPUTS},
                opset_version=17, dynamo=False,
            )  # fmt: skip
            return onnx.load_from_string(buffer.getvalue())
        batch = torch.export.Dim("batch")
        program = torch.onnx.export(
            step, args, input_names=list(STEP_INPUTS), output_names=list(STEP_OUTPUTS),
            dynamic_shapes=({0: batch}, {0: batch}, {0: batch}), dynamo=True, verbose=False,
        )  # fmt: skip
        assert program is not None
        return program.model_proto


def _rename_graph(graph: Any, prefix: str) -> None:
    """Prefix every value name of ``graph`` (a Scan body must not shadow outer names)."""
    name = lambda n: f"{prefix}{n}" if n else n
    for node in graph.node:
        node.input[:] = [name(n) for n in node.input]
        node.output[:] = [name(n) for n in node.output]
        if any(a.type in (a.GRAPH, a.GRAPHS) for a in node.attribute):
            raise ValueError("model: the step graph has nested subgraphs; cannot wrap it in Scan")
    for items in (graph.input, graph.output, graph.value_info, graph.initializer):
        for item in items:
            item.name = name(item.name)


def sequence_proto(step: Any) -> Any:
    """Wrap a step ``ModelProto`` in ``Scan`` over time (batch-first; dynamic length)."""
    onnx = require("onnx")
    from onnx import TensorProto, helper

    body = onnx.GraphProto()
    body.CopyFrom(step.graph)
    _rename_graph(body, "step/")
    initializers = list(body.initializer)  # moved to the outer graph (outer scope is visible)
    del body.initializer[:]
    inputs = {i.name: i for i in body.input}
    outputs = {o.name: o for o in body.output}
    body_in = [inputs[f"step/{n}"] for n in ("state", "x", "dt")]  # Scan: states first
    body_out = [outputs[f"step/{n}"] for n in ("state_out", "y")]
    del body.input[:], body.output[:]
    body.input.extend(body_in)
    body.output.extend(body_out)
    body.name = "step"

    n_in, n_state, n_out = (_dim(step, k) for k in ("x", "state", "y"))
    value = lambda name, *dims: helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)
    x, dt = value("x", "batch", "time", n_in), value("dt", "batch", "time")
    state, state_out = value("state", "batch", n_state), value("state_out", "batch", n_state)
    y = value("y", "batch", "time", n_out)
    axes = helper.make_tensor("dt_axes", TensorProto.INT64, [1], [2])
    nodes = [
        helper.make_node("Unsqueeze", ["dt", "dt_axes"], ["dt3"]),
        helper.make_node(
            "Scan", ["state", "x", "dt3"], ["state_out", "y"], body=body, num_scan_inputs=2,
            scan_input_axes=[1, 1], scan_output_axes=[1],
        ),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "liquidtorch_sequence", [x, state, dt], [y, state_out], [axes, *initializers]
    )
    model = helper.make_model(graph, opset_imports=list(step.opset_import))
    model.functions.extend(step.functions)
    model.ir_version = step.ir_version
    onnx.checker.check_model(model)
    return model


def _dim(model: Any, name: str) -> int:
    """The feature size (axis 1) of the step graph's input or output ``name``."""
    for v in list(model.graph.input) + list(model.graph.output):
        if v.name == name:
            return v.type.tensor_type.shape.dim[1].dim_value
    raise KeyError(name)


def export_onnx(
    model: nn.Module,
    out_dir: str | Path,
    *,
    name: str = "model",
    exporter: Exporter | str = Exporter.TORCHSCRIPT,
) -> OnnxFiles:
    """Write ``<name>.step.onnx`` and ``<name>.sequence.onnx`` into ``out_dir`` (see the module
    docstring for their inputs and outputs)."""
    from ..train import write_bytes_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step = step_proto(model, exporter=exporter)
    files = OnnxFiles(out / f"{name}.step.onnx", out / f"{name}.sequence.onnx")
    write_bytes_atomic(files.step, step.SerializeToString())
    write_bytes_atomic(files.sequence, sequence_proto(step).SerializeToString())
    return files


def session(path: str | Path) -> Any:
    """An onnxruntime CPU session on one thread (the latency we report is batch 1, 1 core)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
