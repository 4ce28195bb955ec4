"""Turning a device name into a ``torch.device`` that exists here, or a clear error."""

from __future__ import annotations

import torch

_KINDS = "cpu, cuda, cuda:N, mps or auto"


def resolve_device(device: str | torch.device) -> torch.device:
    """The ``torch.device`` for ``device``: ``"auto"`` is CUDA when available, else the CPU.

    Raises:
        ValueError: (one line, naming the device) for a name torch does not know, or a
            device this machine or this build of torch does not have.

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("nosuch")
    Traceback (most recent call last):
    ValueError: device: unknown device 'nosuch'; use cpu, cuda, cuda:N, mps or auto
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device: unknown device {str(device)!r}; use {_KINDS}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
            raise ValueError(
                f"device: {str(device)!r} asked for CUDA, but this PyTorch {torch.__version__} "
                f"has {build}; use --device cpu (or auto)"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"device: {str(device)!r} does not exist; this machine has {count} CUDA "
                f"device(s): cuda:0..cuda:{count - 1}"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device: {str(device)!r} (Apple MPS) is not available here")
    elif dev.type != "cpu":
        raise ValueError(f"device: {str(device)!r} is not supported; use {_KINDS}")
    return dev
