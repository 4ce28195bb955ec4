"""What a trained run's neurons do: activity, principal components, distilled decision trees
and input attributions, computed once per run (the report draws them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import SequenceData, TaskKind
from .activity import Trace, record
from .analysis import PCA, TreeFit, fit_tree, pca
from .attribution import Attribution, integrated_gradients
from .runs import Run, sample


@dataclass(frozen=True)
class ExplainOptions:
    """How much of each split the analyses use (more: slower, steadier numbers)."""

    shown: int = 3  # test sequences drawn (activity, attributions)
    fit_sequences: int = 400  # training sequences the trees are fitted on
    test_sequences: int = 300  # held-out test sequences (fidelity, PCA)
    tree_depth: int = 3  # the drawn tree
    depths: tuple[int, ...] = (1, 2, 3, 4, 6, 8)  # fidelity against depth
    ig_steps: int = 32
    pca_paths: int = 40  # trajectories drawn in the PCA plane
    max_rows: int = 20000  # samples for per-step tasks (subsampled)

    def __post_init__(self):
        for name in ("shown", "fit_sequences", "test_sequences", "tree_depth", "ig_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class RunAnalysis:
    """Everything the report shows about one run."""

    run: Run
    classification: bool
    test_data: SequenceData  # the held-out sequences
    test: Trace  # their states
    shown: Trace  # the drawn sequences, with time constants / gates
    shown_index: list[int]
    pca_all: PCA
    pca_group: tuple[str, PCA] | None  # the command neurons of a wired model
    fidelity: dict[int, float]  # tree depth -> held-out fidelity
    tree: TreeFit
    attribution: Attribution
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.run.model_name


def _record(run: Run, data: SequenceData, internals: bool = False) -> Trace:
    return record(run.model, data.x, data.timespans, data.lengths, internals=internals)


def _pick_shown(y: torch.Tensor, k: int, classification: bool) -> list[int]:
    """``k`` test sequences of different classes where possible (else evenly spaced)."""
    if classification:
        labels = (y if y.dim() == 1 else y[:, 0]).tolist()
        seen: dict[int, int] = {}
        for i, c in enumerate(labels):
            seen.setdefault(int(c), i)
        picked = sorted(seen.values())[:k]
        if len(picked) == k:
            return picked
    return [int(i) for i in np.linspace(0, len(y) - 1, k).round()]


def model_targets(trace: Trace, classification: bool) -> tuple[np.ndarray, np.ndarray]:
    """(features, targets) the trees learn: the state at each decision (a sequence's last
    step, or every valid step of per-step tasks) and the network's class / output there."""
    pred = trace.predictions
    if pred.ndim == 3:  # per step
        feats, pred = trace.states[trace.valid], pred[trace.valid]
    else:
        feats = trace.final_states()
    return feats, _classes(pred) if classification else pred


def _classes(pred: np.ndarray) -> np.ndarray:
    """Class indices from logits (..., classes); one logit is a binary logit."""
    return (pred[..., 0] > 0).astype(int) if pred.shape[-1] == 1 else pred.argmax(-1)


def _decisions(trace: Trace) -> np.ndarray:
    """The network's outputs at each sequence's decision step, (n, out)."""
    pred = trace.predictions
    if pred.ndim == 3:
        last = trace.valid.sum(1) - 1
        pred = pred[np.arange(len(last)), last]
    return pred


def _subsample(a: np.ndarray, b: np.ndarray, rows: int, seed: int = 0):
    if len(a) <= rows:
        return a, b
    pick = np.random.default_rng(seed).choice(len(a), rows, replace=False)
    return a[pick], b[pick]


def _target_fn(model, timespans, lengths, index: torch.Tensor):
    """A scalar per sequence for attribution: output ``index[i]`` of sequence ``i`` at its
    decision step (the last valid step of per-step tasks)."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        reps = x.shape[0] // len(index)
        ts = None if timespans is None else timespans.repeat(reps, 1)
        ln = None if lengths is None else lengths.repeat(reps)
        out = model(x, ts, lengths=ln)
        if out.dim() == 3:  # per step: the last valid step
            last = (ln - 1) if ln is not None else torch.full((len(out),), out.shape[1] - 1)
            out = out[torch.arange(len(out)), last]
        return out.gather(1, index.repeat(reps).reshape(-1, 1)).squeeze(1)

    return fn


def analyse(run: Run, options: ExplainOptions | None = None) -> RunAnalysis:
    """Record and analyse ``run`` on its task's training and test splits."""
    import time

    options = options or ExplainOptions()
    task, seconds = run.task, {}
    classification = TaskKind(task.kind) is TaskKind.CLASSIFICATION
    t0 = time.perf_counter()
    fit_trace = _record(run, sample(task.train, options.fit_sequences))
    test_data = sample(task.test, options.test_sequences)
    test = _record(run, test_data)
    seconds["record"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    x_fit, y_fit = _subsample(*model_targets(fit_trace, classification), options.max_rows)
    held_out = _subsample(*model_targets(test, classification), options.max_rows)
    names = test.neuron_names
    fidelity = {
        d: fit_tree(x_fit, y_fit, held_out, depth=d, classification=classification).fidelity
        for d in options.depths
    }
    tree = fit_tree(
        x_fit, y_fit, held_out, depth=options.tree_depth, classification=classification,
        feature_names=names,
    )  # fmt: skip
    activity = test.states[test.valid]
    pca_all = pca(activity)
    group = next((g for g in ("command", "inter") if g in test.groups), None)
    pca_group = (group, pca(activity[:, test.groups[group]])) if group else None
    seconds["trees and PCA"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    index = _pick_shown(test_data.y, options.shown, classification)
    shown_data = test_data.subset(torch.tensor(index))
    shown = _record(run, shown_data, internals=True)
    decided = _decisions(shown)
    # The logit of the predicted class (one logit or regression: the first output).
    logit = _classes(decided) if classification and decided.shape[-1] > 1 else 0 * decided[:, 0]
    fn = _target_fn(
        run.model, shown_data.timespans, shown_data.lengths, torch.as_tensor(logit).long()
    )
    attribution = integrated_gradients(fn, shown_data.x, steps=options.ig_steps)
    seconds["activity and attribution"] = time.perf_counter() - t0
    return RunAnalysis(
        run, classification, test_data, test, shown, index, pca_all, pca_group, fidelity, tree,
        attribution, seconds,
    )  # fmt: skip
