"""One training run: a task (by name, or a user's file) and a zoo model, trained by the
generic :class:`~liquidtorch.train.Trainer`, kept in a run directory.

A run directory holds ``cli.json`` (the :class:`RunSpec`: what was built) beside the
trainer's ``config.json`` (how it trained), ``metrics.csv``, ``best.pt`` and ``last.pt``, so
:func:`load_run` and :func:`resume_settings` rebuild everything from the directory alone;
and, once training ends, ``model.lt``: the trained model as one self-describing file
(:func:`liquidtorch.load`), which ``export`` and ``predict`` read.

Every function raises ``ValueError`` (with a one-line message naming the argument or file)
for bad input, and lets ``ImportError`` / ``OSError`` through when data cannot be loaded;
the CLI turns them into exit codes 2 and 1.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_FILE = "cli.json"  # the RunSpec of a run directory
MODEL_FILE = "model.lt"  # the trained model as one file (liquidtorch.save)
# A task given as a file path (a user's recordings) is read by liquidtorch.data.user.
_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


@dataclass
class RunSpec:
    """What a run trains: a task (with loader options) and a zoo model (with its options).

    ``task`` is a registered task name or the path of a CSV/Parquet file (its options then
    go to :func:`~liquidtorch.data.user.load_user_data`: ``time_column``,
    ``target_column``, ``id_column``...). ``units`` None: the task's default.
    """

    task: str
    model: str
    units: int | None = None
    seed: int = 0
    task_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)

    def to_json(self, path: Path) -> None:
        from ..train import write_json_atomic

        write_json_atomic(path, dataclasses.asdict(self))

    @classmethod
    def from_json(cls, path: Path) -> RunSpec:
        from ..train._io import read_json

        data = read_json(path, "run spec")
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or not {"task", "model"} <= set(data) <= names:
            raise ValueError(f"run spec {str(path)!r} is corrupt: not a run spec")
        return cls(**data)


@dataclass
class RunOutcome:
    """What :func:`fit_run` gives back."""

    spec: RunSpec
    task: Any  # liquidtorch.data.Task
    model: Any  # torch.nn.Module (best weights loaded)
    trainer: Any  # liquidtorch.train.Trainer
    history: list[dict]
    test: Any  # liquidtorch.train.Evaluation on task.test

    @property
    def seconds_per_epoch(self) -> float:
        seconds = [row["seconds"] for row in self.history if row.get("seconds") is not None]
        return statistics.fmean(seconds) if seconds else math.nan


def is_file_task(name: str) -> bool:
    """Whether ``name`` names a user's data file rather than a registered task."""
    return Path(name).suffix.lower() in _FILE_SUFFIXES


def check_task(name: str) -> None:
    """``ValueError`` unless ``name`` is a registered task or an existing data file."""
    from ..data import list_tasks

    if is_file_task(name):
        if not Path(name).is_file():
            raise ValueError(f"data file {name!r} does not exist")
    elif name not in list_tasks():
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(list_tasks()))}")


def load_task(name: str, options: dict[str, Any] | None = None):
    """The task ``name`` (a registered task, or a CSV/Parquet file) with loader options."""
    from ..data import get_task
    from ..data.user import load_user_data

    check_task(name)
    options = dict(options or {})
    try:
        if is_file_task(name):
            return load_user_data(name, **options)
        return get_task(name, **options)
    except TypeError as e:  # an option the loader does not take
        raise ValueError(f"task {name!r}: {e}") from None
    except ValueError as e:
        raise ValueError(f"task {name!r}: {e}") from None


def build_run_model(spec: RunSpec, task):
    """The zoo model of ``spec`` for ``task``."""
    from ..zoo import build_model

    try:
        return build_model(spec.model, task, units=spec.units, seed=spec.seed, **spec.model_options)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model {spec.model!r}: {e}") from None


def make_trainer(model, task, config):
    """A :class:`~liquidtorch.train.Trainer` of ``model`` on ``task``'s train/val splits."""
    from ..train import Trainer, task_loss, task_metric

    return Trainer(
        model, task_loss(task), task.train, task.val, config, metric_fn=task_metric(task)
    )


def train_config(task, model: str, **overrides):
    """``TrainConfig.for_task`` with the model's defaults (:func:`~liquidtorch.zoo.
    training_defaults`) and ``overrides`` on top (None values: the default)."""
    from ..train import TrainConfig
    from ..zoo import training_defaults

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(k for k, v in overrides.items() if k not in names and v is not None)
    if unknown:
        raise ValueError(f"unknown training settings: {', '.join(unknown)}")
    given = {k: v for k, v in training_defaults(model, task).items() if k in names}
    given |= {k: v for k, v in overrides.items() if v is not None}
    try:
        return TrainConfig.for_task(task, **given)
    except TypeError as e:
        raise ValueError(str(e)) from None


def fit_run(spec: RunSpec, config, task=None) -> RunOutcome:
    """Build ``spec``'s task and model, train them with ``config``, evaluate on the test set.

    With ``config.run_dir`` the spec is saved there as ``cli.json`` first.
    """
    if task is None:
        task = load_task(spec.task, spec.task_options)
    if spec.units is None:
        spec = dataclasses.replace(spec, units=int(task.defaults.get("units", 32)))
    model = build_run_model(spec, task)
    if config.run_dir is not None and not config.resume:  # a resumed run keeps its spec
        Path(config.run_dir).mkdir(parents=True, exist_ok=True)
        spec.to_json(Path(config.run_dir) / SPEC_FILE)
    trainer = make_trainer(model, task, config)
    result = trainer.fit()
    test = trainer.evaluate(task.test)
    if config.run_dir is not None and trainer.is_main:
        _save_model(Path(config.run_dir) / MODEL_FILE, model, spec, task, test)
    return RunOutcome(spec, task, model, trainer, result.history, test)


def _save_model(path: Path, model, spec: RunSpec, task, test) -> None:
    """The trained model (best weights) as one self-describing file, loadable with
    :func:`liquidtorch.load` without this run directory or the task."""
    from ..serialization import save

    metadata = {
        "task": spec.task,
        "task_options": spec.task_options,
        "metric": task.metric.value,
        "test_metric": float(test.metric),
        "per_step": bool(task.per_step),
    }
    save(model, path, metadata=metadata)


def _check_run_dir(run_dir: Path, needed: tuple[str, ...], what: str) -> None:
    if not run_dir.is_dir():
        raise ValueError(f"run directory {str(run_dir)!r} does not exist")
    missing = [f for f in needed if not (run_dir / f).exists()]
    if missing:
        raise ValueError(f"{what} {str(run_dir)!r}: missing {', '.join(missing)}")


def resume_settings(run_dir: Path, task: str, model: str, epochs: int | None, progress: bool):
    """The spec and training config to continue the run in ``run_dir`` (which must hold
    ``model`` on ``task``); ``epochs`` extends it."""
    from ..train import TrainConfig

    _check_run_dir(run_dir, (SPEC_FILE, "config.json", "last.pt"), "cannot resume")
    spec = RunSpec.from_json(run_dir / SPEC_FILE)
    if (spec.task, spec.model) != (task, model):
        raise ValueError(
            f"{str(run_dir)!r} holds {spec.model} on {spec.task}, not {model} on {task}; "
            "pass the same TASK and --model to resume"
        )
    config = TrainConfig.from_json(run_dir / "config.json")
    changes: dict[str, Any] = {"resume": True, "run_dir": run_dir, "progress": progress}
    if epochs is not None:
        changes["epochs"] = epochs
    return spec, config.replace(**changes)


@dataclass
class LoadedRun:
    """A trained run rebuilt from its directory (:func:`load_run`)."""

    spec: RunSpec
    task: Any  # liquidtorch.data.Task
    model: Any  # the zoo model with the checkpoint's weights, in eval mode
    config: Any  # liquidtorch.train.TrainConfig (no run dir: evaluating writes nothing)


def load_run(run_dir: str | Path, checkpoint: str = "best") -> LoadedRun:
    """The spec, task and trained model of a run directory written by ``liquidtorch
    train`` (``checkpoint``: ``"best"`` or ``"last"``)."""
    from ..train import TrainConfig, load_checkpoint

    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be best or last, got {checkpoint!r}")
    run_dir = Path(run_dir)
    needed = (SPEC_FILE, "config.json", f"{checkpoint}.pt")
    _check_run_dir(run_dir, needed, "not a finished run directory")
    spec = RunSpec.from_json(run_dir / SPEC_FILE)
    config = TrainConfig.from_json(run_dir / "config.json").replace(
        run_dir=None, resume=False, progress=False
    )
    task = load_task(spec.task, spec.task_options)
    model = build_run_model(spec, task)
    load_checkpoint(run_dir / f"{checkpoint}.pt", model=model)
    model.eval()
    return LoadedRun(spec, task, model, config)


def evaluate_run(run_dir: str | Path, split: str = "test", checkpoint: str = "best"):
    """``(loaded run, Evaluation)`` of a run directory on ``split`` (test or val)."""
    if split not in ("test", "val"):
        raise ValueError(f"split must be test or val, got {split!r}")
    run = load_run(run_dir, checkpoint)
    return run, make_trainer(run.model, run.task, run.config).evaluate(getattr(run.task, split))
