"""Progress reporting: a ``rich`` bar per epoch, or plain log lines."""

from __future__ import annotations

import logging

logger = logging.getLogger("liquidtorch.train")


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
