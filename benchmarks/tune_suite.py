"""The fair quality suite: every model gets the same tuning budget, then 3 test seeds.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/tune_suite.py [--commit]

For each task and model (in the order of ``SUITE``, most important first):

1. a study of ``trials`` trials on the validation split, ``epochs`` per trial, TPE sampling
   (seed 0), median pruning, the first trial at the untuned defaults
   (``liquidtorch.tune``; journal file ``benchmarks/tuning/<task>/<model>/study.journal``);
2. the best trial's settings trained with seeds 0, 1, 2 for the same epochs (best
   validation epoch restored) and scored on the test split -> ``final.json``;
3. LSTMs with as many parameters as each tuned NCP-wired model (the LSTM's tuned training
   settings, units chosen to match) -> ``<task>/lstm_matched_<model>/final.json``.

Everything is resumable: a rerun skips finished trials and seeds, so the suite can be built
up over several sittings. ``--commit`` commits each model's folder when it is done.
``--only TASK`` / ``--models a,b`` restrict a run. One process, one torch thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from liquidtorch.experiments import load_task
from liquidtorch.train import TrainConfig, Trainer, task_loss, task_metric, write_json_atomic
from liquidtorch.tune import TuneSpec, default_space, load_best, tune
from liquidtorch.zoo import build_model, effective_parameters, synapse_count

try:  # a checkout whose zoo takes only solver objects (the studies so far ran on one)
    from liquidtorch.tune.space import model_kwargs as _zoo_options
except ImportError:  # the zoo decodes `solver` names and `ode_unfolds` itself

    def _zoo_options(options: dict) -> dict:
        return dict(options)


ROOT = Path(__file__).resolve().parent / "tuning"
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Entry:
    task: str
    models: tuple[str, ...]
    epochs: int  # per trial and for the final seeds
    trials: int = 10  # the same for every model of a task
    task_options: dict = field(default_factory=dict)


# Why these: `watch` is the demo's task and a classification task where the dense CfC and
# the CfC-NCP trail by ~20 points; `halfcheetah` is the LTC paper's regression claim (LTC
# better than LSTM). The liquid models that make the library distinctive (NCP-wired CfC
# and LTC, dense CfC, mixed memory) against LSTM and GRU, the most important pairs first
# (on a shared 2-core machine an epoch costs 10-20x its unloaded time, so the later
# entries may need another sitting). Budgets are equal within a task.
SUITE = (
    Entry("watch", ("cfc_ncp", "lstm", "ltc_ncp", "cfc"), epochs=12),
    Entry("halfcheetah", ("ltc_ncp", "lstm"), epochs=6, trials=8),
    Entry("watch", ("gru", "cfc_mixed"), epochs=12),
    Entry("halfcheetah", ("cfc_ncp", "cfc", "gru"), epochs=6, trials=8),
)

# The search space of the suite: the default spaces with the batch size fixed at the task's
# (it changes the cost of an epoch, not only the result) and sizes capped so that a trial
# fits the budget. The same learning-rate range for every model.
_SIZES = {
    "lstm": {"units": "16,32,64"},
    "gru": {"units": "16,32,64"},
    "cfc": {"units": "16,32,64", "backbone_units": "32,64,128", "backbone_layers": "0:2"},
    "cfc_mixed": {"units": "16,32,64", "backbone_units": "32,64,128", "backbone_layers": "0:1"},
    "cfc_ncp": {"units": "24,32,48,64"},
    "ltc_ncp": {"units": "16,24,32,48", "ode_unfolds": "2,4,6"},
}


def suite_space(model: str, task) -> object:
    changes = {"batch_size": str(task.defaults.get("batch_size", 32))} | _SIZES.get(model, {})
    changes["weight_decay"] = "0.0,0.0001,0.001,0.01"
    if model.endswith("_ncp") and task.output_size > 8:
        # As many motor neurons as outputs (the zoo's default): 4-8 motor neurons would be a
        # bottleneck in front of `halfcheetah`'s 17 outputs; sizes that leave room for them.
        changes |= {"motor_neurons": str(task.output_size), "units": "32,48,64"}
    return default_space(model).updated(changes)


def train_seed(best: dict, seed: int, task, *, units: int | None = None, model: str | None = None):
    """Train ``best``'s settings with ``seed`` (best validation epoch restored); test record."""
    model_name = model or best["model"]
    options = best["model_options"] if model is None else {}
    net = build_model(
        model_name, task, units=units or best["units"], seed=seed, **_zoo_options(options)
    )
    config = TrainConfig.for_task(task, **best["train"], seed=seed, progress=False)
    trainer = Trainer(
        net, task_loss(task), task.train, task.val, config, metric_fn=task_metric(task)
    )
    result = trainer.fit()
    test = trainer.evaluate(task.test)
    seconds = [r["seconds"] for r in result.history]
    return {
        "seed": seed,
        "test": float(test.metric),
        "val": float(result.best_metric),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "seconds_per_epoch": statistics.fmean(seconds),
        "parameters": effective_parameters(net),
        "synapses": synapse_count(net),
        "units": units or best["units"],
    }


def final_seeds(folder: Path, best: dict, task, **kwargs) -> dict:
    """``final.json`` in ``folder``: the seeds' test records (finished seeds are kept)."""
    path = folder / "final.json"
    doc = json.loads(path.read_text()) if path.exists() else {"best": best, "runs": []}
    if doc["best"] != best:  # settings changed (a resumed study found a better trial)
        doc = {"best": best, "runs": []}
    done = {r["seed"] for r in doc["runs"]}
    for seed in SEEDS:
        if seed in done:
            continue
        started = time.perf_counter()
        record = train_seed(best, seed, task, **kwargs)
        doc["runs"].append(record)
        values = [r["test"] for r in doc["runs"]]
        doc["mean"] = statistics.fmean(values)
        doc["std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, doc)
        print(
            f"  {folder.parent.name}/{folder.name} seed {seed}: test {record['test']:.4f} "
            f"({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
    return doc


def matched_units(target: int, task, model: str = "lstm") -> int:
    """Units of ``model`` whose parameter count is closest to ``target``."""
    best = min(
        range(2, 129),
        key=lambda u: abs(effective_parameters(build_model(model, task, units=u)) - target),
    )
    return best


def commit(paths: list[Path], message: str) -> None:
    repo = ROOT.parent.parent
    rel = [str(p.relative_to(repo)) for p in paths if p.exists()]
    for attempt in range(6):
        add = subprocess.run(["git", "-C", str(repo), "add", *rel], capture_output=True)
        done = subprocess.run(
            ["git", "-C", str(repo), "commit", "-q", "-m", message, "--", *rel],
            capture_output=True,
            text=True,
        )
        if add.returncode == 0 and done.returncode == 0:
            return
        if "nothing to commit" in done.stdout + done.stderr:
            return
        time.sleep(5 + 5 * attempt)
    print(f"  could not commit {rel}: {done.stderr.strip()}", flush=True)


def run(entries, models_filter, do_commit: bool) -> None:
    for entry in entries:
        task = load_task(entry.task, entry.task_options)
        models = [m for m in entry.models if not models_filter or m in models_filter]
        for model in models:
            folder = ROOT / entry.task / model
            started = time.perf_counter()
            print(f"== {entry.task} / {model}: tuning ({entry.trials} trials)", flush=True)
            spec = TuneSpec(
                entry.task,
                model,
                folder,
                trials=entry.trials,
                epochs=entry.epochs,
                space=suite_space(model, task),
                task_options=entry.task_options,
                seed=0,
                threads=1,
                fail_stale=True,  # the suite is the only process on its studies
            )
            result = tune(spec)
            if result.best is None:
                print(f"  {model}: no trial completed", flush=True)
                continue
            best = load_best(folder / "best.json")
            doc = final_seeds(folder, best, task)
            print(
                f"== {entry.task} / {model}: test {doc['mean']:.4f} ± {doc['std']:.4f} "
                f"({time.perf_counter() - started:.0f}s)",
                flush=True,
            )
            if do_commit:
                commit([folder], f"Tuning suite: {entry.task} {model} (studies and 3 test seeds)")
    # Equal parameter counts: LSTMs sized to each tuned NCP-wired model.
    for entry in entries:
        task = load_task(entry.task, entry.task_options)
        lstm = ROOT / entry.task / "lstm" / "final.json"
        if not lstm.exists():
            continue
        lstm_best = json.loads(lstm.read_text())["best"]
        for model in entry.models:
            final = ROOT / entry.task / model / "final.json"
            if not model.endswith("_ncp") or not final.exists():
                continue
            target = json.loads(final.read_text())["runs"][0]["parameters"]
            units = matched_units(target, task)
            folder = ROOT / entry.task / f"lstm_matched_{model}"
            print(f"== {entry.task}: lstm with {units} units (~{target} parameters)", flush=True)
            final_seeds(folder, lstm_best, task, units=units, model="lstm")
            if do_commit:
                commit([folder], f"Tuning suite: {entry.task} LSTM matched to {model}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", action="store_true", help="git-commit each finished model")
    parser.add_argument("--only", help="one task of the suite")
    parser.add_argument("--models", help="comma-separated models (default: all of the task)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    entries = [e for e in SUITE if args.only in (None, e.task)]
    if not entries:
        sys.exit(f"Error: --only {args.only!r} is not a task of the suite")
    models = set(args.models.split(",")) if args.models else set()
    run(entries, models, args.commit)


if __name__ == "__main__":
    main()
