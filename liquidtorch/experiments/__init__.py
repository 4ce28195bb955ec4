"""Experiments built from the library's parts: single runs, the quality suite, the demo.

The CLI is a thin layer over these functions; each raises ``ValueError`` for bad input.
"""

from .bench import BenchRun, run_bench
from .demo import DEMO_MODELS, DEMO_TASK, run_demo
from .run import (
    SPEC_FILE,
    LoadedRun,
    RunOutcome,
    RunSpec,
    build_run_model,
    check_task,
    evaluate_run,
    fit_run,
    is_file_task,
    load_run,
    load_task,
    make_trainer,
    resume_settings,
    train_config,
)

__all__ = [
    "DEMO_MODELS",
    "DEMO_TASK",
    "SPEC_FILE",
    "BenchRun",
    "LoadedRun",
    "RunOutcome",
    "RunSpec",
    "build_run_model",
    "check_task",
    "evaluate_run",
    "fit_run",
    "is_file_task",
    "load_run",
    "load_task",
    "make_trainer",
    "resume_settings",
    "run_bench",
    "run_demo",
    "train_config",
]
