"""BasicMotions (UEA archive, through aeon): four activities from a smartwatch's motion sensors.

80 recordings of 100 steps (10 s at 10 Hz) of 6 channels (3-axis accelerometer and
gyroscope), 4 classes (badminton, running, standing, walking), 40 train and 40 test as the
archive gives them. A stratified, seeded part of the train set becomes the validation set.
"""

from __future__ import annotations

import numpy as np
import torch

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cached

_ORIGIN = "offline, aeon [data]"  # where the data comes from (`liquidtorch tasks`)

_VERSION = "v1"
_SOURCE = (
    "aeon 1.6.0 `aeon.datasets.load_classification('BasicMotions')` (BSD-3-Clause); UEA "
    "multivariate time series classification archive, A. Bagnall et al., 'The UEA "
    "multivariate time series classification archive, 2018' (arXiv:1811.00075)"
)


def _load_raw():
    from .._optional import require

    datasets = require("aeon.datasets", "data", feature="the basic_motions task (aeon==1.6.0)")
    load_classification = datasets.load_classification
    x_train, y_train = load_classification("BasicMotions", split="train")
    x_test, y_test = load_classification("BasicMotions", split="test")
    return x_train, np.asarray(y_train), x_test, np.asarray(y_test)


def _stratified_split(labels: np.ndarray, fraction: float, seed: int):
    """Indices (first, second): per class, a seeded ``fraction`` (rounded) goes to second."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * len(idx)))
        second.append(idx[:k])
        first.append(idx[k:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def _data(*, seed: int, val_fraction: float) -> dict[str, torch.Tensor]:
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")

    def build():
        x_train, y_train, x_test, y_test = _load_raw()
        classes = np.unique(y_train)  # sorted names; the class index is the position here
        train, val = _stratified_split(y_train, val_fraction, seed)
        # aeon gives (n, channels, time); the contract is (n, time, features).
        xs = {
            "train": x_train[train].transpose(0, 2, 1),
            "val": x_train[val].transpose(0, 2, 1),
            "test": x_test.transpose(0, 2, 1),
        }
        ys = {"train": y_train[train], "val": y_train[val], "test": y_test}
        mean = xs["train"].mean(axis=(0, 1))
        std = xs["train"].std(axis=(0, 1))
        out = {}
        for s in xs:
            out[f"{s}_x"] = torch.from_numpy(((xs[s] - mean) / std).astype(np.float32))
            out[f"{s}_y"] = torch.from_numpy(np.searchsorted(classes, ys[s]).astype(np.int64))
        return out

    return cached(f"basic_motions/{_VERSION}/seed={seed}/val_fraction={val_fraction!r}", build)


@register(
    "basic_motions",
    "BasicMotions: 4 smartwatch activities, 6 channels, 100 steps (aeon)",
    origin=_ORIGIN,
)
def load_basic_motions(*, seed: int = 0, val_fraction: float = 0.2) -> Task:
    """BasicMotions with a stratified ``val_fraction`` of the train set held out."""
    d = _data(seed=seed, val_fraction=val_fraction)
    return Task(
        name="basic_motions",
        kind=TaskKind.CLASSIFICATION,
        metric=Metric.ACCURACY,
        per_step=False,
        input_size=6,
        output_size=4,
        train=SequenceData(d["train_x"], d["train_y"]),
        val=SequenceData(d["val_x"], d["val_y"]),
        test=SequenceData(d["test_x"], d["test_y"]),
        description=(
            "BasicMotions: classify 10 s recordings (100 steps at 10 Hz) of a smartwatch's "
            "3-axis accelerometer and gyroscope (6 channels, standardised with train "
            "statistics) into 4 activities (0 badminton, 1 running, 2 standing, 3 walking). "
            "The archive's 40 test recordings are the test set; a stratified, seeded "
            f"{val_fraction:.0%} of its 40 train recordings is the validation set. Metric "
            "accuracy; the set is tiny, so expect noisy validation scores."
        ),
        source=_SOURCE,
        defaults={"units": 32, "epochs": 150, "lr": 2e-3, "batch_size": 16, "schedule": "cosine"},
    )
