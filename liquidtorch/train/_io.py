"""Files a run writes and reads: atomic writes that never follow links, checked reads.

Every file liquidtorch writes (checkpoints, ``config.json``, ``metrics.csv``, the learning
curve, the CLI's ``cli.json``, the task cache, downloads) goes through
:func:`write_bytes_atomic`: the bytes go to a new temporary file with a random name in the
same directory (``tempfile.mkstemp``: created exclusively, never through an existing path),
are flushed and fsynced, and the file is renamed over the destination with ``os.replace``.
A rename replaces a symbolic link planted at the destination by a regular file; the link's
target is never written. An interrupted write leaves the old file (or none) and no
temporary file.

Every file read back (:func:`load_checkpoint`, :func:`read_json`) fails with a one-line
``ValueError`` naming the file when its content is unusable.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import torch

logger = logging.getLogger("liquidtorch.train")

COLUMNS = ("epoch", "train_loss", "val_loss", "val_metric", "seconds", "lr")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file


# ------------------------------------------------------------------------ writing
def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then move it to ``path``.

    The temporary file has a random name (``.{name}.XXXXXXXX.tmp``), is fsynced before the
    rename, and is removed if anything (even a ``KeyboardInterrupt``) stops the write. A
    symbolic link at ``path`` is replaced, not followed. Returns ``path``.
    """
    path = Path(path)
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp's 0600 -> what open() would give
                os.fchmod(f.fileno(), _FILE_MODE)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)
    return path


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (where directories can be opened: not on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON (and a newline) to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda f: torch.save(obj, f))


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    """One row per epoch with the columns :data:`COLUMNS` (empty where there is no value)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})
    write_text_atomic(path, buffer.getvalue())


def plot_learning_curve(path: Path, history: list[dict], metric_name: str) -> bool:
    """Losses (and the validation metric) per epoch as a PNG; False when matplotlib is
    missing (noted in the log), so that plotting never stops a run."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        hint = 'pip install "liquidtorch[train]"'
        logger.info("matplotlib is not installed: learning_curve.png skipped (%s)", hint)
        return False
    epochs = [r["epoch"] for r in history]
    has_metric = any(r.get("val_metric") is not None for r in history)
    fig = Figure(figsize=(9 if has_metric else 5, 3.5), layout="constrained")
    axes = fig.subplots(1, 2 if has_metric else 1, squeeze=False)[0]
    axes[0].plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    if any(r.get("val_loss") is not None for r in history):
        axes[0].plot(epochs, [_nan(r.get("val_loss")) for r in history], "s-", label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    if has_metric:
        axes[1].plot(epochs, [_nan(r.get("val_metric")) for r in history], "s-", color="C1")
        axes[1].set(xlabel="epoch", ylabel=metric_name, title=f"validation {metric_name}")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    return True


def _nan(v: float | None) -> float:
    return float("nan") if v is None else v


# ------------------------------------------------------------------------ reading
def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (whitespace collapsed), at most ``limit`` chars."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def corrupt(path: str | os.PathLike, reason: str) -> ValueError:
    """The error for a checkpoint that cannot be used (one line, naming the file)."""
    return ValueError(f"checkpoint {str(path)!r} is corrupt or from another model: {reason}")


def load_checkpoint(
    path: str | os.PathLike,
    device: torch.device | str = "cpu",
    *,
    model: torch.nn.Module | None = None,
    keys: tuple[str, ...] = ("model",),
) -> dict:
    """A checkpoint written by :class:`~liquidtorch.train.Trainer` (``best.pt``, ``last.pt``):
    a dict whose ``"model"`` entry is the model's ``state_dict``, read with
    ``weights_only=True`` (no code from the file runs).

    With ``model``, the weights are also loaded into it (strictly: same names and shapes).

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ValueError: ``checkpoint '...' is corrupt or from another model: ...`` (one line) for
            a truncated, empty or foreign file, one without the entries ``keys``, or weights
            that do not fit ``model``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # unpickling, zip reader, truncation: all mean a bad file
        raise corrupt(path, one_line(e)) from None
    if not isinstance(state, dict):
        raise corrupt(path, f"expected a dict, found {type(state).__name__}")
    missing = [k for k in keys if k not in state]
    if missing:
        raise corrupt(path, f"missing entries {missing}")
    weights = state.get("model")
    if "model" in keys and not (
        isinstance(weights, Mapping) and all(isinstance(v, torch.Tensor) for v in weights.values())
    ):
        raise corrupt(path, "its 'model' entry is not a state_dict of tensors")
    if model is not None:
        load_weights(model, state["model"], path)
    return state


def load_weights(model: torch.nn.Module, weights: Mapping, path: str | os.PathLike) -> None:
    """``model.load_state_dict(weights)`` with the one-line checkpoint error on a mismatch.

    Names and shapes are compared first, so that a refused load changes nothing (torch's
    ``load_state_dict`` copies the entries that fit before it reports the others)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    wrong = [
        f"{k}: {tuple(weights[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in weights and isinstance(weights[k], torch.Tensor) and weights[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected {_few(unexpected)}")
    if wrong:
        problems.append(f"size mismatch (file vs model) {_few(wrong)}")
    if problems:
        raise corrupt(
            path, f"its weights do not fit {type(model).__name__}: " + "; ".join(problems)
        )
    try:
        model.load_state_dict(weights)
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        raise corrupt(path, one_line(e)) from None


def _few(items: list[str], n: int = 3) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """A JSON file's content; ``ValueError("{what} '...' is corrupt: ...")`` (one line) for an
    empty, truncated or non-JSON file; ``FileNotFoundError`` when it does not exist."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} {str(path)!r} is corrupt: not UTF-8 text ({e.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {str(path)!r} is corrupt: {one_line(e)}") from None


__all__ = [
    "COLUMNS",
    "corrupt",
    "load_checkpoint",
    "load_weights",
    "one_line",
    "plot_learning_curve",
    "read_json",
    "save_atomic",
    "write_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_metrics_csv",
    "write_text_atomic",
]
