"""CPU thread counts (torch's intra-op pool, which also sizes the kernels' chunk threads)
and the other CPU execution settings chosen at a run's start (OpenMP waiting, denormal
floats).

The recurrent models here are small: one step is a few matrix products of (batch, ~64)
operands, too little work to split across threads. On an idle machine a second thread
speeds a training step up by 1.0-1.5x (most for the LSTM, nothing for NCP-wired models);
but when the cores are shared with other busy processes, every parallel region waits for a
thread that is not running and a training epoch becomes several times slower (measured in
``docs/performance.md``). So the default is one thread, and two only when at least 1.5 cores
are idle when the run starts.

>>> from liquidtorch._threads import configure_threads
>>> configure_threads(1)          # torch (and the kernels' chunks): 1 thread
1
>>> configure_threads(None)       # the default policy (default_threads())  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from types import ModuleType

# More threads than this are never chosen by default: no model here was measured to gain
# from them (a 2-core machine cannot show it), and each one more is one more to wait for.
MAX_DEFAULT_THREADS = 2
# Idle cores needed for the default to use MAX_DEFAULT_THREADS threads (a little slack:
# our own process counts in the load, and the load average lags).
_IDLE_FOR_TWO = 1.5


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _running_processes() -> int | None:
    """Runnable threads right now (Linux ``/proc/stat`` ``procs_running``, ourselves
    included); None where the OS does not say."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_busy() -> float:
    """How many cores other work keeps busy: the larger of the 1-minute load average and
    the runnable threads besides ours right now (the load average lags by a minute)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        load = 0.0
    running = _running_processes()
    return max(load, 0.0 if running is None else running - 1.0)


def default_threads(cpus: int | None = None, busy: float | None = None) -> int:
    """The thread count :func:`configure_threads` uses for ``None``: ``MAX_DEFAULT_THREADS``
    (2) when at least 1.5 of the ``cpus`` are idle (``cpus - busy``), else 1.

    Args:
        cpus: CPUs available (default :func:`available_cpus`).
        busy: cores other work keeps busy (default :func:`machine_busy`).
    """
    cpus = available_cpus() if cpus is None else cpus
    busy = machine_busy() if busy is None else busy
    if cpus - busy >= _IDLE_FOR_TWO:
        return max(1, min(MAX_DEFAULT_THREADS, cpus))
    return 1


def prefer_passive_wait() -> bool:
    """Make OpenMP's idle threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``,
    unless the variable is set already); returns whether it takes effect.

    OpenMP reads the variable once, when torch is imported: this must run before anything
    imports torch (the ``liquidtorch`` package itself does, so load this module first);
    afterwards it changes nothing and returns False. With spinning threads a multi-threaded
    step on a shared machine waits for a thread that another process has pushed off its
    core (measured on 2 shared cores, a training epoch on ``watch`` at 2 threads: 1.6x to
    39x slower than at 1 when spinning, 0.9x to 2.3x the speed of 1 when sleeping;
    ``docs/performance.md``).
    """
    if "torch" in sys.modules:
        return False
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ["OMP_WAIT_POLICY"].upper() == "PASSIVE"


def _check(n: int | None) -> None:
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be None or an int >= 1, got {n!r}")


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to ``n`` (None: :func:`default_threads`); returns the
    count set. torch's count also sizes the thread pool on which this library's numba
    kernels run their batch chunks.

    numba's own threading layer (used only by parallel numba code, none of it here) is set
    to the same count if it is already running, capped at the count it started with
    (``NUMBA_NUM_THREADS``); it is never started here (see :func:`_numba_pool`).

    Raises:
        ValueError: ``n`` is not None or an int >= 1.
    """
    _check(n)
    import torch

    threads = default_threads() if n is None else n
    numba = _numba_pool()
    if numba is not None:
        try:
            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        except (ValueError, RuntimeError, OSError):  # pragma: no cover - no threading layer
            pass
    # torch last: numba's threading layer (OpenMP) can reset the intra-op pool size of
    # the process, so a count set before it would be lost.
    torch.set_num_threads(threads)
    return threads


def flush_denormals(enabled: bool = True) -> bool:
    """Make torch's CPU ops and the compiled kernels called from this thread (their chunk
    threads inherit the setting) treat denormal floats (magnitude below ~1.2e-38 in float32)
    as zero; returns whether the CPU supports it (x86 with SSE3). A setting of the calling
    thread; :func:`flushing_denormals` sets it for a block and restores it.

    Trained liquid models drift into denormal values (saturated gates, decayed states), and
    every operation on one takes the slow path of the CPU: measured on ``watch`` after a
    few steps, an LTC-NCP training step 4.7x and a dense CfC's 4-6x faster with denormals
    flushed (``docs/performance.md``). Values that small carry no information here; the
    change to results is below float32's resolution of any value that matters.
    """
    import numpy as np
    import torch

    # NumPy computes (and caches) its float limits on first use; under flushing it would
    # find the smallest subnormal to be zero and warn. Compute them while arithmetic is IEEE.
    for dtype in (np.float16, np.float32, np.float64):
        np.finfo(dtype).smallest_subnormal  # noqa: B018
    return bool(torch.set_flush_denormal(bool(enabled)))


@contextlib.contextmanager
def flushing_denormals(enabled: bool = True) -> Iterator[None]:
    """The block runs with denormals flushed (``enabled``), then the thread's previous
    setting comes back exactly (read from the CPU's control register). Where that register
    cannot be read (not x86, no numba) nothing changes: a setting that cannot be restored
    is not made behind the caller's back. The Trainer runs ``fit`` inside it
    (``TrainConfig.flush_denormals``)."""
    from .kernels._fpu import fpu_state, set_fpu_state

    before = fpu_state() if enabled else None
    if before is None:
        yield
        return
    flush_denormals(True)
    try:
        yield
    finally:
        set_fpu_state(before)


def _numba_pool() -> ModuleType | None:
    """The numba module where numba's threading layer is already running (parallel numba
    code of the user's started it), else None.

    This library's kernels never use that layer (they run batch chunks on a Python thread
    pool sized by torch's thread count), and starting it here would put a second OpenMP
    pool beside torch's: measured on an idle 2-core machine, a `watch` LSTM epoch at 2
    threads took 20 s with numba's pool started against 1.8 s without (1 thread: 1.8 s).
    """
    numba = _numba()
    if numba is None:
        return None
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # pragma: no cover - a numba without the module: leave it alone
        return None
    return numba if getattr(parallel, "_is_initialized", False) else None


def _numba() -> ModuleType | None:
    """The numba module, or None where it is not installed."""
    if importlib.util.find_spec("numba") is None:
        return None
    import numba

    return numba
