"""Keeping a Ctrl-C from splitting a training step: the sections that change a run's state
are marked, a SIGINT that lands in one is delivered when it ends, and any exception that
escapes one marks the in-memory state as torn (so that it is not saved as a checkpoint)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class StepGuard:
    """Marks the state-changing sections (``with guard.commit():``) of a training loop.

    * While :meth:`installed` is active (in the main thread, where Python's default SIGINT
      handler is in place), a SIGINT that arrives inside a commit section is held back and
      raised as ``KeyboardInterrupt`` right after the section ends: weights, optimiser
      state and bookkeeping then all describe the same completed step.
    * An exception that escapes a commit section (an error inside ``optimizer.step``, or an
      interrupt raised there by other means) leaves :attr:`torn` True: part of the step
      may have been applied, so the state must not be checkpointed; the last checkpoint on
      disk stays the one to resume from.
    """

    def __init__(self) -> None:
        self.torn = False  # an exception escaped a commit section: state inconsistent
        self._depth = 0
        self._pending = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Hold back SIGINT inside commit sections for the duration of the ``with``."""
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            yield  # someone else handles SIGINT (or we cannot): leave it to them
            return
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            self._pending = False

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self._depth:
            self._pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def commit(self) -> Iterator[None]:
        """A section that must run to its end or be treated as not checkpointable."""
        self._depth += 1
        self.torn = True
        try:
            yield
        finally:
            self._depth -= 1
        # Reached only when the section completed.
        if self._depth == 0:
            self.torn = False
            if self._pending:
                self._pending = False
                raise KeyboardInterrupt
