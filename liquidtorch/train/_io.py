"""What a run leaves on disk and needs to continue: seeds, RNG states, files, the plot, logs."""

from __future__ import annotations

import csv
import logging
import os
import random
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("liquidtorch.train")

COLUMNS = ("epoch", "train_loss", "val_loss", "val_metric", "seconds", "lr")


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy's global generator and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def get_rng_state() -> dict:
    """The states of torch's (and CUDA's), NumPy's and Python's global generators, in a form
    that ``torch.load(weights_only=True)`` reads back."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed seed for the shuffling of one epoch: a resumed run reshuffles exactly."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def save_atomic(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: an interrupted save leaves the old one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint written by :class:`~liquidtorch.train.Trainer` (``best.pt``, ``last.pt``):
    a dict whose ``"model"`` entry is the model's ``state_dict``. Loaded with
    ``weights_only=True`` (no code from the file runs)."""
    return torch.load(path, map_location=device, weights_only=True)


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})


def plot_learning_curve(path: Path, history: list[dict], metric_name: str) -> bool:
    """Losses (and the validation metric) per epoch as a PNG; False when matplotlib is
    missing (noted in the log), so that plotting never stops a run."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        logger.info("matplotlib is not installed: learning_curve.png skipped")
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
    fig.savefig(path, dpi=100)
    return True


def _nan(v):
    return float("nan") if v is None else v


class Progress:
    """A ``rich`` progress bar per epoch, or plain log lines (rich missing or disabled)."""

    def __init__(self, enabled: bool):
        self._bar = None
        if enabled:
            try:
                import rich.progress as rp
            except ImportError:
                logger.info("rich is not installed: plain progress logging")
            else:
                self._bar = rp.Progress(
                    rp.TextColumn("{task.description}"),
                    rp.BarColumn(),
                    rp.MofNCompleteColumn(),
                    rp.TimeElapsedColumn(),
                    rp.TimeRemainingColumn(),
                    rp.TextColumn("{task.fields[info]}"),
                )
                self._bar.start()
        self._task = None
        self._epoch = ""

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        self._epoch = f"epoch {epoch}/{epochs}"
        if self._bar is not None:
            self._task = self._bar.add_task(
                f"epoch {epoch}/{epochs}", total=total, completed=done, info=""
            )

    def step(self, loss: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, info=f"loss {loss:.4g}")

    def end_epoch(self, line: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, info=line)
        else:
            logger.info("%s: %s", self._epoch, line)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
