"""Your own data as a :class:`~liquidtorch.data.Task`: a CSV or Parquet file, or columns.

One row is one time step. Columns: an optional time (numbers or datetimes), features, a
target and an optional sequence id. Rows are sorted by time (stably) within each sequence,
so the file need not be ordered; two rows of one sequence at the same time are an error.

>>> task = load_user_data("walks.csv", time_column="t", target_column="activity",
...                       id_column="walk", task="classification", per_step=False)
... # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from ._task import Metric, SequenceData, Task, TaskKind, check_fractions, split_indices

_DEFAULT_WINDOW = 100  # steps per window when there is no id column


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _read_table(data):
    from .._optional import require

    pd = require("pandas", "data", feature="load_user_data")
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        suffix = path.suffix.lower()
        readers = {
            ".csv": pd.read_csv,
            ".txt": pd.read_csv,
            ".tsv": lambda p: pd.read_csv(p, sep="\t"),
            ".parquet": pd.read_parquet,
            ".pq": pd.read_parquet,
        }
        if suffix not in readers:
            raise ValueError(f"{path}: unknown file type {suffix!r}; use .csv, .tsv or .parquet")
        try:
            return readers[suffix](path), path.stem
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except (ValueError, OSError) as e:  # pandas' parser errors, empty or binary files
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            raise ValueError(f"{path}: cannot be read as a {suffix[1:]} table: {reason}") from None
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), None
    if isinstance(data, Mapping):
        columns = {str(k): np.asarray(v) for k, v in data.items()}
        bad = {k: v.shape for k, v in columns.items() if v.ndim != 1}
        if bad:
            raise ValueError(f"each array must be one column (1-D); got shapes {bad}")
        sizes = {k: len(v) for k, v in columns.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"all columns need the same number of rows; got {sizes}")
        return pd.DataFrame(columns), None
    raise TypeError(
        "path_or_arrays must be a CSV/Parquet path, a pandas DataFrame or a mapping from "
        f"column name to 1-D array, got {type(data).__name__}"
    )


def _time_values(column) -> tuple[np.ndarray, str]:
    """The time column as float64 (seconds for datetimes) and the name of its unit."""
    import pandas as pd

    if column.isna().any():
        raise ValueError(f"time column {column.name!r} has missing values")
    if pd.api.types.is_bool_dtype(column) or not (
        pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column)
    ):
        try:
            with warnings.catch_warnings():  # "could not infer format": parsed one by one
                warnings.simplefilter("ignore", UserWarning)
                column = pd.to_datetime(column)
        except (ValueError, TypeError):
            raise ValueError(
                f"time column {column.name!r} must hold numbers or datetimes, got values like "
                f"{column.iloc[0]!r}"
            ) from None
    if pd.api.types.is_datetime64_any_dtype(column):
        return (column - column.min()).dt.total_seconds().to_numpy(dtype=np.float64), "s"
    values = column.to_numpy(dtype=np.float64)
    _check_finite(values, f"time column {column.name!r}")
    return values, "time units"


def _check_finite(
    values: np.ndarray, what: str, limit: float = math.inf, raw: np.ndarray | None = None
) -> None:
    """``ValueError`` naming ``what`` and the first row (counted from 0, as pandas does) holding a
    NaN, an infinity or a magnitude above ``limit`` in ``values`` (rows,); the message shows
    the value of ``raw`` (default ``values``) there: the number as it is in the file."""
    bad = ~np.isfinite(values) | (np.abs(np.nan_to_num(values, nan=0.0)) > limit)
    if bad.any():
        row = int(np.argmax(bad))
        value = float((values if raw is None else raw)[row])
        if not np.isfinite(value):
            kind = "is not finite"
        elif raw is None:
            kind = f"is too large (|x| > {limit:.3g} after conversion)"
        else:
            kind = f"is too large to scale into float32 (|scaled| > {limit:.3g})"
        raise ValueError(f"{what}: value {value!r} at row {row} {kind}")


def _check_columns(df, time_column, feature_columns, targets, id_column) -> list[str]:
    named = [c for c in (time_column, id_column) if c is not None] + list(targets)
    if feature_columns is None:
        feature_columns = [c for c in df.columns if c not in named]
    else:
        feature_columns = [feature_columns] if isinstance(feature_columns, str) else feature_columns
        feature_columns = list(feature_columns)
    missing = [c for c in named + feature_columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"column(s) {missing} not found; available columns: {[str(c) for c in df.columns]}"
        )
    if not feature_columns:
        raise ValueError("no feature columns: every column is the time, target or id")
    clash = [c for c in feature_columns if c in named]
    if clash:
        raise ValueError(f"column(s) {clash} cannot be both a feature and the time/target/id")
    import pandas as pd

    bad = {
        c: str(df[c].dtype)
        for c in feature_columns
        if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
    }
    if bad:
        raise ValueError(
            f"feature column(s) must be numeric; non-numeric: {bad} (encode them as numbers, "
            "or leave them out with feature_columns=...)"
        )
    for c in feature_columns:
        rows = np.flatnonzero(df[c].isna().to_numpy())
        if len(rows):
            raise ValueError(
                f"feature column {c!r} has {len(rows)} missing value(s) (NaN), first at "
                f"row(s) {rows[:5].tolist()}; impute or drop those rows first"
            )
        _check_finite(df[c].to_numpy(dtype=np.float64), f"feature column {c!r}")
    for t in targets:
        rows = np.flatnonzero(df[t].isna().to_numpy())
        if len(rows):
            raise ValueError(
                f"target column {t!r} has {len(rows)} missing value(s) (NaN), first at row(s) "
                f"{rows[:5].tolist()}; drop or fill those rows first"
            )
    return feature_columns


def _pieces(n: int, window: int | None) -> list[slice]:
    if window is None:
        return [slice(0, n)]
    return [slice(i, min(i + window, n)) for i in range(0, n, window)]


def load_user_data(
    path_or_arrays,
    *,
    time_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    target_column: str | Sequence[str],
    id_column: str | None = None,
    task: TaskKind | str = "regression",
    per_step: bool = True,
    window: int | None = None,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    standardize: bool = True,
    name: str | None = None,
) -> Task:
    """Build a task from a table with one row per time step.

    Args:
        path_or_arrays: a ``.csv``/``.tsv``/``.parquet`` path, a pandas DataFrame, or a
            mapping from column name to 1-D NumPy array.
        time_column: numbers or datetimes (strings are parsed as datetimes). Timespans are
            the differences between consecutive rows of a sequence, in units of the median
            difference (so a typical step is 1.0); a sequence's first step gets 1.0. Without
            it the rows are regularly sampled in file order (timespans None).
        feature_columns: input columns (numeric or boolean); default every other column.
        target_column: the target; for regression also a list of columns.
        id_column: each distinct id is one sequence (ids go to one split each). Without it,
            the table is a single series cut into consecutive windows (default 100 steps).
        task: ``"regression"`` (metric MSE) or ``"classification"`` (accuracy; classes are
            the sorted distinct target values).
        per_step: a target at every step; otherwise one per sequence, its last step's value.
        window: cut every sequence into consecutive pieces of at most this many steps (the
            last one may be shorter; pieces of one id stay in one split).
        split: train/validation/test fractions of the sequences (ids, or windows).
        seed: the random split.
        standardize: scale features (and regression targets) with train mean and std.
        name: the task's name; default the file name or ``"user_data"``.

    Returns:
        A :class:`Task`; x (n, time, features) zero-padded with ``lengths``.
    """
    kind = _kind(task)
    df, stem = _read_table(path_or_arrays)
    targets = [target_column] if isinstance(target_column, str) else list(target_column)
    if kind is TaskKind.CLASSIFICATION and len(targets) != 1:
        raise ValueError(f"classification takes one target column, got {targets}")
    if window is not None and window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    check_fractions(split, "split")
    if len(df) == 0:
        where = f"{path_or_arrays}: " if stem else ""
        raise ValueError(f"{where}the table has no rows (a header alone is no data)")
    features = _check_columns(df, time_column, feature_columns, targets, id_column)

    time, unit = (None, "") if time_column is None else _time_values(df[time_column])
    sequences = _sequences(df, id_column, time)
    dt, scale = (None, 1.0) if time is None else _timespans(time, sequences, time_column)

    window_ = window if (window is not None or id_column is not None) else _DEFAULT_WINDOW
    # groups[i]: the row indices of the pieces that go to one split together.
    if id_column is None:  # one series: its windows are what is split
        groups = [[rows[p]] for rows in sequences for p in _pieces(len(rows), window_)]
    else:
        groups = [[rows[p] for p in _pieces(len(rows), window_)] for rows in sequences]
    parts = split_indices(len(groups), split, seed=seed)
    if any(len(p) == 0 for p in parts):
        what = f"{len(df)} rows in windows of {window_} steps" if id_column is None else "ids"
        raise ValueError(
            f"too little data: {len(groups)} sequence(s) ({what}) cannot fill the train, "
            f"validation and test splits {split}; "
            + ("pass a smaller window= or " if id_column is None else "")
            + "provide more data"
        )

    x_all = df[features].to_numpy(dtype=np.float64)
    y_all, classes = _targets(df, targets, kind)
    train_rows = np.concatenate([r for i in parts[0].tolist() for r in groups[i]])
    x_scale = _scale(x_all[train_rows], standardize)
    y_scale = None
    y_raw = y_all
    if kind is TaskKind.REGRESSION:
        y_scale = _scale(y_all[train_rows], standardize)
        y_all = (y_all - y_scale[0]) / y_scale[1]
    x_raw, x_all = x_all, (x_all - x_scale[0]) / x_scale[1]
    # Huge but finite values (1e308) overflow the statistics or float32: say where.
    for j, c in enumerate(features):
        _check_finite(x_all[:, j], f"feature column {c!r}", _FLOAT32_MAX, x_raw[:, j])
    if kind is TaskKind.REGRESSION:
        for j, c in enumerate(targets):
            _check_finite(y_all[:, j], f"target column {c!r}", _FLOAT32_MAX, y_raw[:, j])

    def make(part: torch.Tensor) -> SequenceData:
        pieces = [r for i in part.tolist() for r in groups[i]]
        xs = [torch.tensor(x_all[r], dtype=torch.float32) for r in pieces]
        dtype = torch.int64 if kind is TaskKind.CLASSIFICATION else torch.float32
        ys = [torch.tensor(y_all[r], dtype=dtype) for r in pieces]
        y = pad_sequence(ys, batch_first=True) if per_step else torch.stack([t[-1] for t in ys])
        ts = None
        if dt is not None:
            ts_list = [torch.tensor(dt[r], dtype=torch.float32) for r in pieces]
            ts = pad_sequence(ts_list, batch_first=True, padding_value=1.0)
        lengths = torch.tensor([len(r) for r in pieces], dtype=torch.int64)
        return SequenceData(pad_sequence(xs, batch_first=True), y, ts, lengths)

    train, val, test = (make(p) for p in parts)
    irregular = dt is not None and not np.allclose(dt, 1.0)
    n_out = len(targets) if classes is None else len(classes)
    description = _describe(
        kind=kind,
        features=features,
        targets=targets,
        classes=classes,
        y_scale=y_scale,
        per_step=per_step,
        id_column=id_column,
        window=window_,
        time_column=time_column,
        unit=f"{scale:g} {unit}" if dt is not None else "",
        counts=(len(train), len(val), len(test)),
        split=split,
        standardize=standardize,
    )
    return Task(
        name=name or stem or "user_data",
        kind=kind,
        metric=Metric.ACCURACY if kind is TaskKind.CLASSIFICATION else Metric.MSE,
        per_step=per_step,
        input_size=len(features),
        output_size=n_out,
        train=train,
        val=val,
        test=test,
        description=description,
        source=f"user data: {path_or_arrays}" if stem else "user data (in memory)",
        irregular=bool(irregular),
        defaults={"units": 32, "epochs": 20, "lr": 2e-3, "batch_size": 32, "schedule": "cosine"},
    )


def _sequences(df, id_column, time) -> list[np.ndarray]:
    """Row indices of each sequence (ids in order of appearance), sorted stably by time."""
    if id_column is None:
        group = np.zeros(len(df), dtype=np.int64)
    else:
        if df[id_column].isna().any():
            raise ValueError(f"id column {id_column!r} has missing values")
        _, first, group = np.unique(
            df[id_column].to_numpy(), return_index=True, return_inverse=True
        )
        group = np.argsort(np.argsort(first))[group]
    order = np.lexsort((np.zeros(len(df)) if time is None else time, group))
    return np.split(order, np.flatnonzero(np.diff(group[order])) + 1)


def _timespans(time, sequences, time_column) -> tuple[np.ndarray, float]:
    """Per row: time since the previous row of its sequence / the median such step (1.0 first)."""
    dt = np.empty(len(time))
    for rows in sequences:
        d = np.diff(time[rows])
        if np.any(d == 0):
            raise ValueError(
                f"time column {time_column!r} repeats a value within a sequence (row "
                f"{int(rows[1:][d == 0][0])}); timespans must be > 0"
            )
        dt[rows] = np.concatenate([[np.nan], d])
    steps = dt[~np.isnan(dt)]
    scale = float(np.median(steps)) if len(steps) else 1.0
    out = np.where(np.isnan(dt), 1.0, dt / scale)
    # Finite times can still give infinite gaps (1e308 - -1e308) or gaps float32 cannot hold.
    _check_finite(out, f"time column {time_column!r} (gap to the previous row)", _FLOAT32_MAX, dt)
    tiny = out < np.finfo(np.float32).tiny
    if tiny.any():
        raise ValueError(
            f"time column {time_column!r}: the gap at row {int(np.argmax(tiny))} is "
            f"too small relative to the median gap {scale:g} to be represented"
        )
    return out, scale


def _targets(df, targets, kind):
    """Targets per row: class indices and the classes, or floats (n_rows, n_targets) and None."""
    if kind is TaskKind.CLASSIFICATION:
        classes, y = np.unique(df[targets[0]].to_numpy(), return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"target column {targets[0]!r} has a single class {classes[0]!r}")
        return y, classes
    try:
        y = df[targets].to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(
            f"regression target(s) {targets} must be numeric; for labels use task='classification'"
        ) from None
    for j, t in enumerate(targets):
        _check_finite(y[:, j], f"target column {t!r}")
    return y, None


def _kind(task) -> TaskKind:
    try:
        return TaskKind(task)
    except ValueError:
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}") from None


def _scale(values: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    if not standardize:
        return np.zeros(values.shape[1]), np.ones(values.shape[1])
    std = values.std(0)
    return values.mean(0), np.where(std > 0, std, 1.0)


def _describe(
    *,
    kind,
    features,
    targets,
    classes,
    y_scale,
    per_step,
    id_column,
    window,
    time_column,
    unit,
    counts,
    split,
    standardize,
) -> str:
    what = (
        f"classify {targets[0]!r} into {len(classes)} classes {[str(c) for c in classes]} "
        "(metric accuracy)"
        if kind is TaskKind.CLASSIFICATION
        else f"regress {targets} (metric MSE"
        + (
            f" on targets standardised with train mean {np.round(y_scale[0], 4).tolist()} and "
            f"std {np.round(y_scale[1], 4).tolist()})"
            if standardize
            else ")"
        )
    )
    where = "at every step" if per_step else "at the last step of each sequence"
    if id_column is None:
        seqs = f"one series cut into windows of {window} steps"
    else:
        seqs = f"one sequence per {id_column!r}" + (
            f", cut into pieces of at most {window} steps" if window else ""
        )
    timing = (
        f"timespans from {time_column!r} in units of the median step ({unit})"
        if time_column
        else "regular steps (no time column)"
    )
    return (
        f"User data: from features {features} {what} {where}. Sequences: {seqs}; {timing}. "
        f"Split {split} by sequence (seeded): {counts[0]}/{counts[1]}/{counts[2]} sequences. "
        + ("Features standardised with train statistics." if standardize else "")
    )
