"""The fair quality suite: every model gets the same tuning budget, then 3 test seeds.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/tune_suite.py [--commit]

For each task and model (in the order of ``SUITE``, most important first):

1. a study of ``trials`` trials on the validation split, ``epochs`` per trial, TPE sampling
   (seed 0), median pruning, the first trial at the untuned defaults
   (``liquidtorch.tune``; journal file ``benchmarks/tuning/<task>/<model>/study.journal``);
2. the best trial's settings trained with seeds 0, 1, 2 for ``final_epochs`` (the task's
   default epochs; best validation epoch restored) and scored on the test split ->
   ``final.json``;
3. LSTMs with as many parameters as each tuned NCP-wired model (the LSTM's tuned training
   settings, units chosen to match) -> ``<task>/lstm_matched_<model>/final.json``.

Everything is resumable: a rerun skips finished trials and seeds, so the suite can be built
up over several sittings. ``--commit`` commits each model's folder when it is done.
``--only a,b`` (tasks or folder names) / ``--models a,b`` restrict a run. One process,
one torch thread.
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

from liquidtorch import flush_denormals
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
    epochs: int  # per trial
    trials: int = 10  # the same for every model of a task
    task_options: dict = field(default_factory=dict)
    final_epochs: int | None = None  # for the 3 test seeds (None: ``epochs``)
    head: str | None = None  # the `head` dimension of every model (per-sequence tasks)
    name: str | None = None  # the folder under benchmarks/tuning (default: the task)
    pruner_warmup: int = 2  # epochs before the median pruner may stop a trial

    @property
    def folder(self) -> Path:
        return ROOT / (self.name or self.task)


# Why these: `watch` is the demo's task and a classification task where the dense CfC and
# the CfC-NCP trailed by ~20 points; `halfcheetah` is the LTC paper's regression claim (LTC
# better than LSTM); `basic_motions`, `event_mnist` and the 8-bit XOR are the other
# classification settings of the goals. The liquid models that make the library
# distinctive (NCP-wired CfC and LTC, dense CfC, mixed memory) against LSTM and GRU.
# Budgets are equal within a task.
#
# Per-sequence tasks read the sequence through the mean head for every model (baselines
# too): docs/diagnosis/cfc_classification.md shows the last-step head starves the NCP
# wirings (information survives 3 steps) and costs the LSTM too. On the XOR task the head
# is searched (parity is a property of the last step). The first watch suite, with the
# last-step head, is kept in benchmarks/tuning/watch_last_head.
_SIX = ("cfc_ncp", "lstm", "ltc_ncp", "cfc", "gru", "cfc_mixed")
SUITE = (
    Entry("watch", _SIX, epochs=12, final_epochs=30, head="mean", pruner_warmup=5),
    Entry("basic_motions", _SIX, epochs=60, final_epochs=150, head="mean", pruner_warmup=20),
    Entry(
        "xor_irregular",
        _SIX,
        epochs=20,
        final_epochs=60,
        task_options={"length": 8},
        head="mean,last",
        name="xor_irregular_8bit",
        pruner_warmup=8,
    ),
    Entry("event_mnist", _SIX, epochs=8, final_epochs=20, head="mean", pruner_warmup=3),
    # halfcheetah's studies ran first (8 trials of 6 epochs) and its seeds train 6 epochs
    # too, the same for every model (the LTC-NCP is still improving there: see
    # docs/diagnosis/ltc_halfcheetah.md).
    Entry("halfcheetah", ("ltc_ncp", "lstm"), epochs=6, trials=8),
    Entry("halfcheetah", ("cfc_ncp", "cfc", "gru", "cfc_mixed"), epochs=6, trials=8),
    # Added last: the CfC paper's Walker2d (the budget of halfcheetah) and the electricity
    # forecast (one value per sequence; the head is searched).
    Entry("walker2d", _SIX, epochs=6, trials=8),
    Entry("vic_elec", _SIX, epochs=8, final_epochs=20, head="last,mean", pruner_warmup=3),
    Entry("watch_irregular", _SIX, epochs=12, final_epochs=30, head="mean", pruner_warmup=5),
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


def suite_space(model: str, task, head: str | None = None) -> object:
    changes = {"batch_size": str(task.defaults.get("batch_size", 32))} | _SIZES.get(model, {})
    if head:
        changes["head"] = head
    changes["weight_decay"] = "0.0,0.0001,0.001,0.01"
    if model.endswith("_ncp") and task.output_size > 8:
        # As many motor neurons as outputs (the zoo's default): 4-8 motor neurons would be a
        # bottleneck in front of `halfcheetah`'s 17 outputs; sizes that leave room for them.
        changes |= {"motor_neurons": str(task.output_size), "units": "32,48,64"}
    return default_space(model).updated(changes)


def train_seed(
    best: dict,
    seed: int,
    task,
    *,
    epochs: int,
    units: int | None = None,
    model: str | None = None,
):
    """Train ``best``'s settings with ``seed`` for ``epochs`` (best validation epoch
    restored); the test record. ``model``/``units`` replace the tuned model and size (the
    equal-parameter LSTMs take the tuned LSTM's settings, its head included)."""
    model_name = model or best["model"]
    net = build_model(
        model_name,
        task,
        units=units or best["units"],
        seed=seed,
        **_zoo_options(best["model_options"]),
    )
    train = best["train"] | {"epochs": epochs}
    config = TrainConfig.for_task(task, **train, seed=seed, progress=False)
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


def final_seeds(folder: Path, best: dict, task, *, epochs: int, **kwargs) -> dict:
    """``final.json`` in ``folder``: the seeds' test records (finished seeds are kept)."""
    path = folder / "final.json"
    doc = json.loads(path.read_text()) if path.exists() else {"best": best, "runs": []}
    if doc["best"] != best or doc.get("final_epochs", epochs) != epochs:
        # settings changed (a resumed study found a better trial) or the seeds' epochs
        doc = {"best": best, "runs": []}
    doc["final_epochs"] = epochs
    done = {r["seed"] for r in doc["runs"]}
    for seed in SEEDS:
        if seed in done:
            continue
        started = time.perf_counter()
        record = train_seed(best, seed, task, epochs=epochs, **kwargs)
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


def _pruner(entry: Entry):
    """Median pruning that waits ``entry.pruner_warmup`` epochs: a slow starter (a low
    learning rate) is not cut at epoch 2 for trailing a fast one."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=entry.pruner_warmup)


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
            folder = entry.folder / model
            started = time.perf_counter()
            print(f"== {entry.task} / {model}: tuning ({entry.trials} trials)", flush=True)
            spec = TuneSpec(
                entry.task,
                model,
                folder,
                trials=entry.trials,
                epochs=entry.epochs,
                space=suite_space(model, task, entry.head),
                task_options=entry.task_options,
                seed=0,
                threads=1,
                fail_stale=True,  # the suite is the only process on its studies
                pruner=_pruner(entry),
            )
            result = tune(spec)
            if result.best is None:
                print(f"  {model}: no trial completed", flush=True)
                continue
            best = load_best(folder / "best.json")
            doc = final_seeds(folder, best, task, epochs=entry.final_epochs or entry.epochs)
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
        lstm = entry.folder / "lstm" / "final.json"
        if not lstm.exists():
            continue
        lstm_best = json.loads(lstm.read_text())["best"]
        for model in entry.models:
            final = entry.folder / model / "final.json"
            if not model.endswith("_ncp") or not final.exists():
                continue
            target = json.loads(final.read_text())["runs"][0]["parameters"]
            units = matched_units(target, task)
            folder = entry.folder / f"lstm_matched_{model}"
            print(f"== {entry.task}: lstm with {units} units (~{target} parameters)", flush=True)
            epochs = entry.final_epochs or entry.epochs
            final_seeds(folder, lstm_best, task, epochs=epochs, units=units, model="lstm")
            if do_commit:
                commit([folder], f"Tuning suite: {entry.task} LSTM matched to {model}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", action="store_true", help="git-commit each finished model")
    parser.add_argument("--only", help="comma-separated tasks (or folder names) of the suite")
    parser.add_argument("--models", help="comma-separated models (default: all of the task)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    flush_denormals()  # as the CLI: trained liquid models drift into denormals (4-6x slower)
    only = set(args.only.split(",")) if args.only else set()
    entries = [e for e in SUITE if not only or {e.task, e.name} & only]
    if not entries:
        sys.exit(f"Error: --only {args.only!r} names no task of the suite")
    models = set(args.models.split(",")) if args.models else set()
    run(entries, models, args.commit)


if __name__ == "__main__":
    main()
