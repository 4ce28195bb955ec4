"""``best.json``: the settings of a study's best trial, in a form ``train`` and ``bench`` read.

Keys (all present; JSON values only)::

    format          "liquidtorch-tune/1"
    task            task name or a data file path (str)
    task_options    loader options of the task (object)
    model           zoo model name (str)
    units           neurons / hidden units (int)
    model_options   zoo model options, JSON (object; ``build_model`` takes them as they are)
    train           TrainConfig overrides: lr, weight_decay, batch_size, epochs, ... (object)
    result          what the study measured: metric, direction, value (the best validation
                    metric), trial, trials, study, parameters (object; informative)

>>> best = load_best("runs/tune-watch-cfc_ncp/best.json")                  # doctest: +SKIP
>>> model = build_model(best["model"], task, units=best["units"],
...                     **best["model_options"])                            # doctest: +SKIP
>>> config = TrainConfig.for_task(task, **best["train"])                    # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..train._io import read_json

FORMAT = "liquidtorch-tune/1"
_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "task": str,
    "task_options": dict,
    "model": str,
    "units": int,
    "model_options": dict,
    "train": dict,
    "result": dict,
}


def make_best(
    *,
    task: str,
    task_options: dict,
    model: str,
    units: int,
    model_options: dict,
    train: dict,
    result: dict,
) -> dict[str, Any]:
    """A ``best.json`` document (checked like :func:`load_best` checks it)."""
    doc = {
        "format": FORMAT,
        "task": task,
        "task_options": dict(task_options),
        "model": model,
        "units": int(units),
        "model_options": dict(model_options),
        "train": dict(train),
        "result": dict(result),
    }
    return _check(doc, "best settings")


def load_best(path: str | Path) -> dict[str, Any]:
    """Read and check a ``best.json`` written by ``liquidtorch tune``: a dict with the keys of
    the module doc. Raises ``ValueError`` (one line) for a missing, unreadable or malformed
    file."""
    path = Path(path)
    where = f"best settings file {str(path)!r}"
    if not path.is_file():
        raise ValueError(f"{where} does not exist")
    try:
        doc = read_json(path, "best settings file")
    except OSError as e:
        raise ValueError(f"{where} cannot be read: {e.strerror}") from None
    return _check(doc, where)


def _check(doc, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValueError(f"{where} must hold a JSON object")
    missing = [k for k in _TYPES if k not in doc]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    if doc["format"] != FORMAT:
        raise ValueError(f"{where} has format {doc['format']!r}; expected {FORMAT!r}")
    for key, kind in _TYPES.items():
        value = doc[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{where}: {key} must be {kind.__name__}, got {value!r}")
    if doc["units"] < 1:
        raise ValueError(f"{where}: units must be >= 1, got {doc['units']}")
    return doc
