"""Hyperparameter studies of a zoo model on a task (Optuna: TPE sampling, per-epoch pruning).

Each trial builds the model with a point of the :class:`~liquidtorch.tune.space.Space`,
trains it with :class:`~liquidtorch.train.Trainer` for ``epochs`` and is scored by its best
validation metric; after every epoch the trial reports that epoch's validation metric, so
the pruner can stop a trial that trails the others. Every trial trains with the same
``seed``, so trials differ by their settings only. The study lives in a storage (a journal
file in the run directory by default, see :mod:`~liquidtorch.tune.storage`): rerunning
continues it, and ``jobs`` worker processes (one torch thread each) share it.

>>> from liquidtorch.tune import TuneSpec, tune
>>> result = tune(TuneSpec("watch", "cfc_ncp", "runs/tune-watch", trials=12,
...                        epochs=10))                                      # doctest: +SKIP
>>> result.best["train"], result.best["units"]                              # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ..train import write_json_atomic
from .best import make_best
from .space import Space, default_point, default_space
from .storage import open_storage

BEST_FILE = "best.json"
TRIALS_FILE = "trials.csv"
SPEC_FILE = "tune.json"


class PrunerKind(str, Enum):
    """How trials that trail are stopped early."""

    MEDIAN = "median"  # below the median of earlier trials at the same epoch (after 2 epochs)
    HYPERBAND = "hyperband"  # successive halving at several budgets
    NONE = "none"  # every trial runs all its epochs


@dataclass(frozen=True)
class TuneSpec:
    """What a study tunes and how.

    Args:
        task: a task name (``liquidtorch tasks``) or a ``.csv``/``.tsv``/``.parquet`` file
            (then ``task_options`` holds ``target_column`` and the other options of
            :func:`~liquidtorch.data.user.load_user_data`).
        model: a zoo model name.
        run_dir: where the journal file, ``best.json``, ``trials.csv`` and the plots go.
        trials: finished trials (complete, pruned or failed) the study should have; a
            study that has some already runs the rest.
        epochs: epochs per trial (None: the task's default).
        space: the search space (None: :func:`~liquidtorch.tune.space.default_space` of the
            model for the task).
        changes: dimensions replaced, added or removed (``"-"``) on top of ``space`` (the
            forms of :func:`~liquidtorch.tune.space.parse_dimension`).
        pruner: a :class:`PrunerKind` or an Optuna pruner.
        timeout: seconds after which no new trial starts (None: no limit).
        jobs: worker processes (1: in this process).
        threads: torch threads per worker (None: leave as it is).
        seed: seeds the TPE sampler (worker ``k`` uses ``seed + k``) and every trial's
            weights and training.
        storage: a database URL (None: ``run_dir/study.journal``).
        study_name: default ``<task>-<model>``.
        defaults_first: a new study's first trial is the untuned settings
            (:func:`~liquidtorch.tune.space.default_point`), so the best trial is never
            worse on the validation split than the defaults.
        fail_stale: mark the study's running trials failed before starting (only when no
            other process works on the study: they are left over from a killed run).
    """

    task: str
    model: str
    run_dir: Path
    trials: int = 20
    epochs: int | None = None
    space: Space | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    pruner: Any = PrunerKind.MEDIAN
    timeout: float | None = None
    jobs: int = 1
    threads: int | None = 1
    seed: int = 0
    storage: str | None = None
    study_name: str | None = None
    defaults_first: bool = True
    fail_stale: bool = False

    def __post_init__(self):
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        if isinstance(self.pruner, str):
            try:
                object.__setattr__(self, "pruner", PrunerKind(self.pruner))
            except ValueError:
                kinds = [k.value for k in PrunerKind]
                raise ValueError(f"pruner must be one of {kinds}, got {self.pruner!r}") from None
        for name in ("trials", "jobs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise ValueError(f"epochs must be None or an int >= 1, got {self.epochs!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be None or > 0 seconds, got {self.timeout!r}")

    @property
    def name(self) -> str:
        from ..experiments.run import is_file_task

        task = Path(self.task).stem if is_file_task(self.task) else self.task
        return self.study_name or f"{task}-{self.model}"

    def resolved_space(self, task=None) -> Space:
        """``space`` (or the model's default space for ``task``) with ``changes`` applied."""
        base = default_space(self.model, task) if self.space is None else self.space
        return base.updated(self.changes)


@dataclass
class TuneResult:
    """What :func:`tune` returns: the study's name, its trials by state, the ``best.json``
    document (None when no trial completed) and the run directory."""

    study_name: str
    counts: dict[str, int]
    best: dict[str, Any] | None
    run_dir: Path
    seconds: float


# --------------------------------------------------------------------------- tasks
def _load_task(name: str, options: dict[str, Any] | None = None):
    from ..experiments import load_task

    return load_task(name, options)


def _build(spec: TuneSpec, task, params: dict[str, Any], seed: int):
    from liquidtorch.zoo import build_model

    settings = Space.split(params)
    return build_model(spec.model, task, units=settings.units, seed=seed, **settings.model_options)


def _train_config(spec: TuneSpec, task, train: dict[str, Any], seed: int):
    from liquidtorch.train import TrainConfig
    from liquidtorch.zoo import training_defaults

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in training_defaults(spec.model, task).items() if k in names}
    values |= train
    if spec.epochs is not None:
        values["epochs"] = spec.epochs
    return TrainConfig.for_task(task, **values, seed=seed, progress=False, run_dir=None)


def check(spec: TuneSpec):
    """Fail early, in this process, on what would fail every trial: the model, the task
    and its options, an empty space, option names the model does not take, the storage.
    Returns the loaded task."""
    from liquidtorch.zoo import model_info

    model_info(spec.model)  # ValueError naming the known models
    task = _load_task(spec.task, spec.task_options)
    space = spec.resolved_space(task)
    if not space.searched:
        raise ValueError(
            "the search space is empty (nothing to search): give ranges or choices with "
            "-p NAME=SPEC or --space FILE"
        )
    point = space.first()
    try:
        _build(spec, task, point, spec.seed)
        _train_config(spec, task, Space.split(point).train, spec.seed)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model {spec.model!r} with {point}: {e}") from None
    open_storage(spec.storage, spec.run_dir)
    return task


# ------------------------------------------------------------------------ studies
def _optuna():
    """Optuna (quiet: trials are reported by this module), or an ImportError naming the
    extra."""
    try:
        import optuna
    except ImportError:
        raise ImportError(
            'liquidtorch tune needs optuna: pip install "liquidtorch[tune]"'
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _pruner(spec: TuneSpec, task):
    import optuna

    if not isinstance(spec.pruner, PrunerKind):
        return spec.pruner
    if spec.pruner is PrunerKind.MEDIAN:
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if spec.pruner is PrunerKind.HYPERBAND:
        epochs = spec.epochs or int(task.defaults.get("epochs", 10))
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    return optuna.pruners.NopPruner()


def _study(spec: TuneSpec, task, worker: int = 0):
    optuna = _optuna()

    direction = "maximize" if task.metric.higher_is_better else "minimize"
    study = optuna.create_study(
        storage=open_storage(spec.storage, spec.run_dir),
        study_name=spec.name,
        direction=direction,
        sampler=optuna.samplers.TPESampler(
            seed=spec.seed + worker, n_startup_trials=max(3, min(10, spec.trials // 3))
        ),
        pruner=_pruner(spec, task),
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise ValueError(f"study {spec.name!r} exists with direction {study.direction.name}")
    return study


def _objective(spec: TuneSpec, task) -> Callable:
    import optuna

    from liquidtorch.train import Trainer, task_loss, task_metric
    from liquidtorch.zoo import effective_parameters

    space = spec.resolved_space(task)

    def objective(trial) -> float:
        params = space.suggest(trial)
        started = time.perf_counter()
        model = _build(spec, task, params, spec.seed)
        config = _train_config(spec, task, Space.split(params).train, spec.seed)
        trial.set_user_attr("parameters", effective_parameters(model))
        trainer = Trainer(
            model, task_loss(task), task.train, task.val, config, metric_fn=task_metric(task)
        )

        def report(t) -> None:
            value = t.history[-1]["val_metric"]
            epoch = len(t.history)
            trial.set_user_attr("epochs", epoch)
            trial.set_user_attr("seconds", time.perf_counter() - started)
            if value is None or not math.isfinite(value):
                raise optuna.TrialPruned(f"validation metric {value} at epoch {epoch}")
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        trainer.add_callback("on_epoch_end", report)
        result = trainer.fit()
        if result.best_metric is None:
            raise optuna.TrialPruned("no finite validation metric")
        return float(result.best_metric)

    return objective


def _progress(spec: TuneSpec, worker: int, jobs: int) -> Callable:
    from rich.console import Console

    console = Console(highlight=False)
    prefix = f"[worker {worker}] " if jobs > 1 else ""

    def on_trial(study, trial) -> None:
        state = trial.state.name.lower()
        epochs = trial.user_attrs.get("epochs", 0)
        seconds = trial.user_attrs.get("seconds", 0.0)
        if trial.value is not None:
            value = f"{trial.value:.4g}"
        elif trial.intermediate_values:
            value = f"{trial.intermediate_values[max(trial.intermediate_values)]:.4g}"
        else:
            value = "-"
        try:
            best = f"best {study.best_value:.4g} (trial {study.best_trial.number})"
        except ValueError:
            best = "no trial complete yet"
        console.print(
            f"{prefix}trial {trial.number} {state}: val {value} after {epochs} epochs "
            f"({seconds:.0f}s); {best}; params {trial.params}"
        )

    return on_trial


def _fail_running(study) -> None:
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "stale", True)
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)


def _finished(study) -> int:
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False, states=done)
    return sum(not t.user_attrs.get("stale") for t in trials)  # killed runs do not count


def _defaults_pending(study) -> bool:
    """Whether the defaults trial still has to run: no trial has finished (complete or
    pruned) or waits in the queue (trials of killed runs do not count)."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING)
    return not study.get_trials(deepcopy=False, states=states)


def _run_worker(spec: TuneSpec, worker: int, n_trials: int, quiet: bool, task=None) -> None:
    """Run ``n_trials`` trials of the study (in a worker process or in this one)."""
    import torch

    _optuna()
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    if multiprocessing.current_process().name != "MainProcess":
        from .._threads import flush_denormals

        flush_denormals()  # a worker process of its own: as fast as the CLI's trainings
    task = task if task is not None else _load_task(spec.task, spec.task_options)
    study = _study(spec, task, worker)
    callbacks = [] if quiet else [_progress(spec, worker, spec.jobs)]
    study.optimize(
        _objective(spec, task),
        n_trials=n_trials,
        timeout=spec.timeout,
        callbacks=callbacks,
        catch=(FloatingPointError, ValueError, RuntimeError),
        gc_after_trial=True,
    )


def tune(spec: TuneSpec, *, quiet: bool = False, task=None) -> TuneResult:
    """Run (or continue) the study of ``spec``; write ``best.json``, ``trials.csv``,
    ``tune.json`` and the plots to the run directory. ``ValueError`` for bad settings (see
    :func:`check`; ``task``: what ``check(spec)`` returned, to skip checking again)."""
    import torch

    started = time.perf_counter()
    task = check(spec) if task is None else task
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(spec.run_dir / SPEC_FILE, describe(spec, task))
    study = _study(spec, task)
    if spec.fail_stale:
        _fail_running(study)
    if spec.defaults_first and _defaults_pending(study):
        study.enqueue_trial(default_point(spec.resolved_space(task), spec.model, task))
    remaining = max(0, spec.trials - _finished(study))
    if remaining and spec.jobs == 1:
        threads = torch.get_num_threads()
        try:
            _run_worker(spec, 0, remaining, quiet, task)
        finally:
            torch.set_num_threads(threads)
    elif remaining:
        context = multiprocessing.get_context("spawn")  # fork after torch threads can hang
        shares = [remaining // spec.jobs + (k < remaining % spec.jobs) for k in range(spec.jobs)]
        workers = [
            context.Process(target=_run_worker, args=(spec, k, n, quiet), daemon=False)
            for k, n in enumerate(shares)
            if n
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        bad = [w.exitcode for w in workers if w.exitcode != 0]
        if bad:
            raise RuntimeError(f"{len(bad)} tuning worker(s) failed (exit codes {bad})")
    study = _study(spec, task)
    best = write_outputs(study, spec, task)
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return TuneResult(spec.name, counts, best, spec.run_dir, time.perf_counter() - started)


def describe(spec: TuneSpec, task=None) -> dict[str, Any]:
    """The spec as JSON (``tune.json`` in the run directory)."""
    pruner = (
        spec.pruner.value if isinstance(spec.pruner, PrunerKind) else type(spec.pruner).__name__
    )
    return {
        "task": spec.task,
        "task_options": spec.task_options,
        "model": spec.model,
        "study": spec.name,
        "trials": spec.trials,
        "epochs": spec.epochs,
        "space": spec.resolved_space(task).to_json(),
        "pruner": pruner,
        "seed": spec.seed,
        "storage": spec.storage or "journal file",
    }


def best_settings(study, spec: TuneSpec, task) -> dict[str, Any] | None:
    """The ``best.json`` document of ``study`` (None when no trial completed)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    trial = study.best_trial
    settings = Space.split(trial.params | _fixed(spec, task))
    train = dict(settings.train)
    train["epochs"] = spec.epochs or int(task.defaults.get("epochs", 10))
    units = settings.units or int(task.defaults.get("units", 32))
    return make_best(
        task=spec.task,
        task_options=spec.task_options,
        model=spec.model,
        units=units,
        model_options=settings.model_options,
        train=train,
        result={
            "metric": task.metric.value,
            "direction": study.direction.name.lower(),
            "value": trial.value,
            "trial": trial.number,
            "trials": _finished(study),
            "study": spec.name,
            "parameters": trial.user_attrs.get("parameters"),
        },
    )


def _fixed(spec: TuneSpec, task) -> dict[str, Any]:
    space = spec.resolved_space(task)
    return {n: space[n].first() for n in space if n not in space.searched}


def write_outputs(study, spec: TuneSpec, task) -> dict[str, Any] | None:
    """``best.json`` (when a trial completed), ``trials.csv`` and the plots."""
    from .plots import plot_history, plot_importances, write_trials_csv

    best = best_settings(study, spec, task)
    if best is not None:
        write_json_atomic(spec.run_dir / BEST_FILE, best)
    write_trials_csv(study, spec.run_dir / TRIALS_FILE)
    plot_history(study, spec.run_dir / "history.png", task.metric.value)
    plot_importances(study, spec.run_dir / "importances.png")
    return best
