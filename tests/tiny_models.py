"""Tiny instances of every registered model, for the tests that iterate the registry."""

from __future__ import annotations

import dataclasses

import torch

from liquidtorch.zoo import build_model, model_info

INPUTS, OUTPUTS = 3, 2


@dataclasses.dataclass
class TinyTask:
    """The attributes of a Task that ``build_model`` reads."""

    per_step: bool = True
    input_size: int = INPUTS
    output_size: int = OUTPUTS
    defaults: dict = dataclasses.field(default_factory=dict)


def tiny(name: str, *, per_step: bool = True, dtype=torch.float32, inputs: int = INPUTS, **options):
    """A small instance of ``name``: 8 units (12 for NCP wirings), small backbones."""
    info = model_info(name)
    units = 12 if info.wired else 8
    if name.startswith("cfc") and not info.wired:
        options.setdefault("backbone_units", 8)
    model = build_model(name, TinyTask(per_step, inputs), units=units, **options)
    return model.to(dtype)
