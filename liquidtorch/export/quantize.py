"""int8 for ONNX: onnxruntime's dynamic quantization of the matrix products.

Dynamic quantization stores the weights of ``MatMul``/``Gemm`` nodes as int8 and quantizes
their inputs on the fly. What that covers depends on the cell:

* dense CfC: the backbone and the heads (almost all of its weights) become int8;
* wired CfC: its masked heads are ``MatMul`` nodes too (int8; the zeros stay stored);
* LTC: its synapses are element-wise (``sigmoid(sigma * (v - mu))`` times ``w``, summed),
  not matrix products, so they stay float32; only the linear head (and a mixed-memory
  LSTM's matrices) become int8. :func:`quantized_nodes` reports what changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .onnx import OnnxFiles, require


def quantize_file(src: str | Path, dst: str | Path) -> Path:
    """Write an int8 (dynamic, signed, per tensor) copy of the ONNX file ``src``."""
    import logging

    require("onnx")
    quantization = require("onnxruntime.quantization")
    logging.disable(logging.WARNING)  # its advice to pre-process goes to the root logger
    try:
        quantization.quantize_dynamic(
            str(src), str(dst), weight_type=quantization.QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm"], extra_options={"EnableSubgraph": True},
        )  # fmt: skip
    finally:
        logging.disable(logging.NOTSET)
    return Path(dst)


def quantize_onnx(files: OnnxFiles) -> OnnxFiles:
    """int8 copies ``<name>.step.int8.onnx`` and ``<name>.sequence.int8.onnx`` beside
    ``files``."""
    step = files.step.with_name(files.step.name.replace(".step.onnx", ".step.int8.onnx"))
    seq = files.sequence.with_name(
        files.sequence.name.replace(".sequence.onnx", ".sequence.int8.onnx")
    )
    return OnnxFiles(quantize_file(files.step, step), quantize_file(files.sequence, seq))


def quantized_nodes(path: str | Path) -> dict[str, int]:
    """Counts of the matrix products in an ONNX file: ``int8`` (``MatMulInteger`` /
    ``DynamicQuantizeMatMul``) and ``float`` (``MatMul``/``Gemm``/``Einsum``), subgraphs
    included."""
    onnx = require("onnx")
    counts = {"int8": 0, "float": 0}

    def walk(graph: Any) -> None:
        for node in graph.node:
            if node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "QGemm"):
                counts["int8"] += 1
            elif node.op_type in ("MatMul", "Gemm", "Einsum"):
                counts["float"] += 1
            for attr in node.attribute:
                if attr.type == attr.GRAPH:
                    walk(attr.g)

    walk(onnx.load(str(path)).graph)
    return counts
