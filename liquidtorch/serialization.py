"""One self-describing file per model: ``liquidtorch.save(model, path)`` / ``liquidtorch.load``.

The file holds the constructor settings (the model's ``config``: zoo name and options, or
the layer's arguments with its wiring as JSON), the weights, the liquidtorch version and a
format version, plus optional user metadata (JSON). It is a ``torch.save`` archive of plain
data only (strings, ints and tensors), read back with ``torch.load(weights_only=True)``, so
loading never unpickles arbitrary objects; a SHA-256 over the settings and the weights
detects a modified file. A damaged, truncated or foreign file raises a one-line
``ValueError``.

>>> liquidtorch.save(model, "watch_cfc.lt")                          # doctest: +SKIP
>>> model = liquidtorch.load("watch_cfc.lt")                         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "liquidtorch-model"
FORMAT_VERSION = 1


def _describe(model: nn.Module) -> dict[str, Any]:
    """``{"kind": "model" | "layer", "config": ...}`` of a zoo model or a sequence layer."""
    from .layers import SequenceLayer
    from .zoo import SequenceModel

    if isinstance(model, SequenceModel):
        return {"kind": "model", "config": model.config}
    if isinstance(model, SequenceLayer):
        return {"kind": "layer", "config": model.config}
    raise TypeError(
        "model: only a zoo SequenceModel or a sequence layer (LTC, CfC, a baseline) can be "
        f"saved with its settings, got {type(model).__name__}; save its state_dict instead"
    )


def _build(kind: str, config: dict[str, Any]) -> nn.Module:
    from .layers import layer_from_config
    from .zoo import model_from_config

    if kind == "model":
        return model_from_config(config)
    if kind == "layer":
        return layer_from_config(config)
    raise ValueError(f"unknown model kind {kind!r}")


def _digest(header: str, weights: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(header.encode())
    for name in sorted(weights):
        t = weights[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save(model: nn.Module, path: str | os.PathLike, *, metadata: dict | None = None) -> Path:
    """Write ``model`` (settings + weights) to ``path`` atomically; returns the path.

    Args:
        model: a zoo ``SequenceModel`` or a sequence layer whose settings are plain data
            (a custom activation function cannot be described: pass it by name).
        metadata: JSON-compatible extras kept with the model (feature names, scaling,
            the task metric...); :func:`load_metadata` reads them back.
    """
    from . import __version__
    from .layers._config import encode
    from .train import write_bytes_atomic

    try:
        header = json.dumps(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "liquidtorch_version": __version__,
                **_describe(model),
                "metadata": encode(metadata or {}),
            },
            sort_keys=True,
        )
    except TypeError as e:
        raise TypeError(f"model or metadata: {e}") from None
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    blob = {"header": header, "sha256": _digest(header, weights), "weights": weights}
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def _read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    bad = f"{path}: not a readable liquidtorch model file"
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - every unpickling / zip error means the same
        detail = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise ValueError(f"{bad} (damaged or truncated: {detail})") from None
    if not (
        isinstance(blob, dict)
        and isinstance(blob.get("header"), str)
        and isinstance(blob.get("sha256"), str)
        and isinstance(blob.get("weights"), dict)
        and all(isinstance(t, torch.Tensor) for t in blob["weights"].values())
    ):
        raise ValueError(f"{bad} (not written by liquidtorch.save)")
    try:
        header = json.loads(blob["header"])
    except json.JSONDecodeError:
        raise ValueError(f"{bad} (its settings are not JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{bad} (not written by liquidtorch.save)")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: model file format {version!r} is newer than this liquidtorch reads "
            f"({FORMAT_VERSION}); upgrade liquidtorch"
        )
    if _digest(blob["header"], blob["weights"]) != blob["sha256"]:
        raise ValueError(f"{path}: the model file was modified or corrupted (checksum mismatch)")
    return header, blob["weights"]


def load(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> nn.Module:
    """The model saved at ``path`` with its weights, in eval mode, on ``map_location``."""
    header, weights = _read(path)
    try:
        model = _build(header.get("kind", ""), header["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: cannot rebuild the model from its settings: {e}") from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(f"{path}: the weights do not fit the model's settings: {first}") from None
    return model.to(map_location).eval()


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The file's header: ``liquidtorch_version``, ``format_version``, ``kind``,
    ``config`` and the user ``metadata`` (without building the model)."""
    from .layers._config import decode

    header, _ = _read(path)
    header["metadata"] = decode(header.get("metadata", {}))
    return header


__all__ = ["FORMAT_VERSION", "load", "load_metadata", "save"]
