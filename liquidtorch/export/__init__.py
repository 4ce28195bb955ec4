"""From a trained model to a running device: ONNX (float32 and int8), dependency-free C99,
and a model card beside each export.

Every exporter starts from :class:`StepModule`, one step with a flat state that calls the
cells' reference ``forward`` (the fused numba kernels are never traced).

>>> files = export_onnx(model, "deploy/")                              # doctest: +SKIP
>>> c_files = export_c(model, "deploy/")                               # doctest: +SKIP
"""

from ._step import StepModule, split_model
from .onnx import Exporter, OnnxFiles, export_onnx

__all__ = ["Exporter", "OnnxFiles", "StepModule", "export_onnx", "split_model"]
