"""From a trained model to a running device: ONNX (float32 and int8), dependency-free C99,
and a model card beside each export (see ``docs/deploy.md``).

Every exporter starts from :class:`StepModule`, one step with a flat state that calls the
cells' reference ``forward`` (the fused numba kernels are never traced). The heavy
dependencies (onnx, onnxruntime) are imported only when an ONNX function runs.

>>> files = export_onnx(model, "deploy/")                              # doctest: +SKIP
>>> c_files = export_c(model, "deploy/")                               # doctest: +SKIP
>>> card = export_bundle(model, "deploy/", int8=True, task=task)       # doctest: +SKIP
"""

from ._step import StepModule, split_model
from .bundle import Format, export_bundle
from .c import CFiles, export_c
from .onnx import Exporter, OnnxFiles, export_onnx
from .quantize import quantize_onnx

__all__ = [
    "CFiles",
    "Exporter",
    "Format",
    "OnnxFiles",
    "StepModule",
    "export_bundle",
    "export_c",
    "export_onnx",
    "quantize_onnx",
    "split_model",
]
