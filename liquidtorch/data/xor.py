"""Bit-stream XOR (CfC paper): the parity of a stream of random bits, regular or event-based.

Synthetic by definition, as in the paper. ``xor`` feeds every bit at unit time steps;
``xor_irregular`` feeds only the changes of the stream (see :func:`~.events.to_events`)
with the time since the previous change, so the parity must be read from the elapsed times:
the number of ones is the sum of the lengths of the runs of ones.
"""

from __future__ import annotations

import numpy as np
import torch

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cached
from .events import stack_events, to_events

_ORIGIN = "offline, synthetic"  # where the data comes from (`liquidtorch tasks`)

_VERSION = "v1"
_SPLIT = (0.7, 0.15, 0.15)
_SOURCE = (
    "synthetic (generated here, seeded); task from R. Hasani et al., 'Closed-form "
    "continuous-time neural networks', Nature Machine Intelligence 2022, and M. Lechner and "
    "R. Hasani, 'Learning long-term dependencies in irregularly-sampled time series', 2020"
)


def _data(*, seed: int, length: int, n_samples: int, events: bool) -> dict[str, torch.Tensor]:
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if n_samples < 3:
        raise ValueError(f"n_samples must be >= 3 (one per split), got {n_samples}")

    def build():
        bits = np.random.default_rng(seed).integers(0, 2, size=(n_samples, length))
        y = torch.from_numpy(bits.sum(1) % 2)
        if events:
            full = stack_events([to_events(row, close=True) for row in bits])
        else:
            full = {"x": torch.from_numpy(bits.astype(np.float32)).unsqueeze(-1)}
        # The samples are independent and random, so consecutive blocks are random splits.
        a = int(round(_SPLIT[0] * n_samples))
        b = a + int(round(_SPLIT[1] * n_samples))
        out = {}
        for split, idx in (("train", slice(0, a)), ("val", slice(a, b)), ("test", slice(b, None))):
            out.update({f"{split}_{k}": v[idx] for k, v in full.items()})
            out[f"{split}_y"] = y[idx]
        return out

    kind = "events" if events else "regular"
    return cached(f"xor/{_VERSION}/{kind}/seed={seed}/length={length}/n={n_samples}", build)


def _task(name: str, d: dict[str, torch.Tensor], description: str, irregular: bool) -> Task:
    def split(s: str) -> SequenceData:
        if irregular:
            return SequenceData(d[f"{s}_x"], d[f"{s}_y"], d[f"{s}_timespans"], d[f"{s}_lengths"])
        return SequenceData(d[f"{s}_x"], d[f"{s}_y"])

    return Task(
        name=name,
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.ACCURACY,
        per_step=False,
        input_size=1,
        output_size=2,
        train=split("train"),
        val=split("val"),
        test=split("test"),
        description=description,
        source=_SOURCE,
        irregular=irregular,
        defaults={"units": 32, "epochs": 60, "lr": 5e-3, "batch_size": 128, "schedule": "cosine"},
    )


@register("xor", "bit-stream XOR: parity of a random bit sequence (synthetic)", origin=_ORIGIN)
def load_xor(*, seed: int = 0, length: int = 32, n_samples: int = 10_000) -> Task:
    """``n_samples`` random streams of ``length`` bits (split 70/15/15); label: their parity."""
    d = _data(seed=seed, length=length, n_samples=n_samples, events=False)
    description = (
        f"Bit-stream XOR (CfC paper): each sequence is {length} random bits (0/1, one per unit "
        "time step, the one input feature) and the label is their parity (XOR of all bits). "
        f"{n_samples} sequences generated from the seed, split 70/15/15; metric accuracy "
        "(0.5 is chance). The parity of many bits is hard to learn from unit steps; expect "
        "chance level in short runs."
    )
    return _task("xor", d, description, irregular=False)


@register(
    "xor_irregular", "event-based bit-stream XOR: bit changes with elapsed times", origin=_ORIGIN
)
def load_xor_irregular(*, seed: int = 0, length: int = 32, n_samples: int = 10_000) -> Task:
    """The XOR streams of :func:`load_xor` as change events (variable length)."""
    d = _data(seed=seed, length=length, n_samples=n_samples, events=True)
    description = (
        f"Event-based bit-stream XOR (CfC paper): a stream of {length} random bits is fed only "
        "where it changes. Each event holds the new bit (the one input feature) and its "
        "timespan the steps since the previous event (1 for the first); a final event at the "
        f"end of the stream repeats the last bit and closes the last run, so each run's length "
        "is the next event's timespan and the parity is recoverable. Sequences have 2 to "
        f"{length + 1} events, zero-padded with lengths; none is truncated. Label: the parity "
        f"of all bits. {n_samples} sequences from the seed, split 70/15/15; metric accuracy "
        "(0.5 is chance). The paper's 32 bits need long training; length=8 is learnt in "
        "seconds."
    )
    return _task("xor_irregular", d, description, irregular=True)
