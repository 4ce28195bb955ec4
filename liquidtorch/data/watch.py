"""Smartwatch exercise recognition (seglearn's ``load_watch``), one label per window.

140 recordings of 6 inertial channels (accelerometer ax, ay, az; gyroscope wx, wy, wz) at
50 Hz, 947-2618 steps each, from 10 subjects doing 7 shoulder exercises. Each recording is
cut into overlapping windows labelled by the recording's exercise. Subjects, not windows,
are split (6 train, 2 validation, 2 test), so overlapping windows of one recording never sit
on both sides of a split and the test accuracy measures generalisation to new people.

``watch_irregular`` drops a seeded random ~30% of the samples of every recording (as a
sensor that loses packets would) and gives each kept sample its elapsed time since the
previous kept sample, in sampling periods (1 = 20 ms).
"""

from __future__ import annotations

import numpy as np
import torch

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cached, split_indices

_ORIGIN = "offline, seglearn (core)"  # where the data comes from (`liquidtorch tasks`)

_VERSION = "v1"
_SPLIT = (0.6, 0.2, 0.2)  # of the 10 subjects: 6 train, 2 validation, 2 test
_SOURCE = (
    "seglearn 1.2.5 `seglearn.datasets.load_watch` (BSD-3-Clause); data from D. Burns et al., "
    "'Shoulder physiotherapy exercise recognition: machine learning the inertial signals from "
    "a smartwatch', Physiological Measurement 39(7), 2018 (arXiv:1802.01489)"
)
_EXERCISES = "PEN, ABD, FEL, IR, ER, TRAP, ROW"


def _load_raw():
    from .._optional import require

    datasets = require("seglearn.datasets", "data", feature="the watch tasks (seglearn==1.2.5)")
    seglearn_watch = datasets.load_watch
    d = seglearn_watch()
    series = [np.asarray(x, dtype=np.float64) for x in d["X"]]
    return series, np.asarray(d["y"], dtype=np.int64), np.asarray(d["subject"], dtype=np.int64)


def _windows(series, labels, subjects, keep, window, stride):
    """Cut each series into windows; ``keep`` (per series, bool per step) marks kept samples."""
    xs, ts, lens, ys, subs = [], [], [], [], []
    for x, label, subject, k in zip(series, labels, subjects, keep, strict=True):
        pos = np.flatnonzero(k)
        # Elapsed time since the previous kept sample, in sampling periods (1 at the start).
        elapsed = np.diff(pos, prepend=pos[0] - 1).astype(np.float32)
        for start in range(0, len(x) - window + 1, stride):
            lo, hi = np.searchsorted(pos, [start, start + window])
            n = hi - lo
            xw = np.zeros((window, x.shape[1]), dtype=np.float32)
            tw = np.ones(window, dtype=np.float32)  # padding: 1.0 (ignored, kept > 0)
            xw[:n] = x[pos[lo:hi]]
            tw[:n] = elapsed[lo:hi]
            xs.append(xw)
            ts.append(tw)
            lens.append(n)
            ys.append(label)
            subs.append(subject)
    return {
        "x": torch.from_numpy(np.stack(xs)),
        "timespans": torch.from_numpy(np.stack(ts)),
        "lengths": torch.tensor(lens, dtype=torch.int64),
        "y": torch.tensor(ys, dtype=torch.int64),
        "subject": torch.tensor(subs, dtype=torch.int64),
    }


def _data(*, seed: int, window: int, stride: int, drop: float) -> dict[str, torch.Tensor]:
    """The cached windows of every split: ``{split}_{x,y,timespans,lengths,subject}``."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
    if not 0.0 <= drop < 1.0:
        raise ValueError(f"drop must be in [0, 1), got {drop}")

    def build():
        series, labels, subjects = _load_raw()
        ids = np.unique(subjects)
        parts = split_indices(len(ids), _SPLIT, seed=seed)
        rng = np.random.default_rng([seed, 1])
        keep = [rng.random(len(x)) >= drop for x in series]
        for k in keep:
            k[0] = True  # every recording keeps its first sample
        train_ids = ids[parts[0].numpy()]
        train_steps = np.concatenate(
            [x for x, s in zip(series, subjects, strict=True) if s in train_ids]
        )
        mean, std = train_steps.mean(0), train_steps.std(0)
        out = {}
        for split, part in zip(("train", "val", "test"), parts, strict=True):
            pick = np.flatnonzero(np.isin(subjects, ids[part.numpy()]))
            chosen = [(series[i] - mean) / std for i in pick]
            w = _windows(
                chosen, labels[pick], subjects[pick], [keep[i] for i in pick], window, stride
            )
            out.update({f"{split}_{k}": v for k, v in w.items()})
        return out

    key = f"watch/{_VERSION}/seed={seed}/window={window}/stride={stride}/drop={drop!r}"
    return cached(key, build)


def _task(name: str, *, seed, window, stride, drop, per_step, irregular) -> Task:
    d = _data(seed=seed, window=window, stride=stride, drop=drop)

    def split(s: str) -> SequenceData:
        y = d[f"{s}_y"]
        if per_step:
            y = y[:, None].expand(-1, window).contiguous()
        if not irregular:
            return SequenceData(d[f"{s}_x"], y)
        return SequenceData(d[f"{s}_x"], y, d[f"{s}_timespans"], d[f"{s}_lengths"])

    subjects = {s: sorted(set(d[f"{s}_subject"].tolist())) for s in ("train", "val", "test")}
    irregular_text = (
        f" About {drop:.0%} of the samples of every recording are dropped at random (seeded); "
        "timespans hold the elapsed time since the previous kept sample in sampling periods "
        "(1 = 20 ms) and lengths the kept samples of each zero-padded window."
        if irregular
        else ""
    )
    target = "every step carries" if per_step else "each window has"
    description = (
        f"Smartwatch shoulder-exercise recognition: windows of {window} steps ({window / 50:g} s "
        f"at 50 Hz, stride {stride}) of 6 inertial channels (accelerometer and gyroscope, "
        f"standardised with train statistics); {target} the recording's exercise, one of 7 "
        f"({_EXERCISES}). Split by subject so no person is in two splits: train subjects "
        f"{subjects['train']}, validation {subjects['val']}, test {subjects['test']}; metric "
        f"accuracy.{irregular_text}"
    )
    return Task(
        name=name,
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.ACCURACY,
        per_step=per_step,
        input_size=6,
        output_size=7,
        train=split("train"),
        val=split("val"),
        test=split("test"),
        description=description,
        source=_SOURCE,
        irregular=irregular,
        defaults={"units": 32, "epochs": 30, "lr": 5e-3, "batch_size": 64, "schedule": "cosine"},
    )


@register(
    "watch",
    "smartwatch exercise recognition, 2 s windows, split by subject (seglearn)",
    origin=_ORIGIN,
)
def load_watch(
    *, seed: int = 0, window: int = 100, stride: int = 50, per_step: bool = False
) -> Task:
    """Smartwatch exercises per window; ``per_step`` repeats the label at every step."""
    return _task(
        "watch",
        seed=seed,
        window=window,
        stride=stride,
        drop=0.0,
        per_step=per_step,
        irregular=False,
    )


@register(
    "watch_irregular",
    "smartwatch exercises with ~30% of samples dropped (irregular)",
    origin=_ORIGIN,
)
def load_watch_irregular(
    *,
    seed: int = 0,
    window: int = 100,
    stride: int = 50,
    drop: float = 0.3,
    per_step: bool = False,
) -> Task:
    """Smartwatch exercises with a random ``drop`` fraction of samples missing (timespans)."""
    return _task(
        "watch_irregular",
        seed=seed,
        window=window,
        stride=stride,
        drop=drop,
        per_step=per_step,
        irregular=True,
    )
