"""``explain_report``: one self-contained HTML page about a trained run (and a baseline)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import figures
from .explain import ExplainOptions, RunAnalysis, analyse
from .html import Report
from .robustness import Curve, evaluate, robustness_curves
from .runs import Run, load_run

# The report's robustness section: fewer sequences and seeds than `liquidtorch robustness`.
ROBUSTNESS_SEEDS = 1
ROBUSTNESS_SEQUENCES = 300


@dataclass(frozen=True)
class ExplainResult:
    path: Path
    seconds: float
    figures: int
    analyses: list[RunAnalysis]


def synapse_table(wiring) -> list[list]:
    """Rows ``[source, target, excitatory, inhibitory]`` for each pair of layers with
    synapses (sensory inputs first)."""
    layers = [(name, np.asarray(ids)) for name, ids in wiring.layers]
    rows = []
    sources = [("sensory", None)] + layers
    for src, src_ids in sources:
        for dst, dst_ids in layers:
            block = (
                wiring.sensory_adjacency[:, dst_ids]
                if src_ids is None
                else wiring.adjacency[np.ix_(src_ids, dst_ids)]
            )
            exc, inh = int((block == 1).sum()), int((block == -1).sum())
            if exc or inh:
                rows.append([src, dst, exc, inh])
    return rows


def _wiring(run: Run):
    from .activity import liquid_cell

    return getattr(liquid_cell(run.model.layer.cells[-1]), "wiring", None)


def _labels(a: RunAnalysis, y) -> list[str]:
    ys = y[a.shown_index]
    if a.classification:
        return [f"held-out #{i}, class {int(c if c.dim() == 0 else c[0])}" for i, c in
                zip(a.shown_index, ys, strict=True)]  # fmt: skip
    return [f"held-out #{i}" for i in a.shown_index]


def _path_index(a: RunAnalysis, y, n: int) -> list[int]:
    """Up to ``n`` held-out sequences spread over the classes (or over the split)."""
    total = len(a.test.states)
    if not a.classification:
        return sorted({int(i) for i in np.linspace(0, total - 1, min(n, total)).round()})
    labels = np.asarray(y[:total] if y.dim() == 1 else y[:total, 0])
    classes = np.unique(labels)
    per = max(1, n // len(classes))
    picked = [
        int(i)
        for c in classes
        for i in np.flatnonzero(labels == c)[
            np.linspace(0, (labels == c).sum() - 1, per).astype(int)
        ]
    ]
    return sorted(set(picked))


def _colours(a: RunAnalysis, y, index: list[int]) -> list[float]:
    y = y[index]
    if a.classification:
        return [float(c if c.dim() == 0 else c[0]) for c in y]
    return y.reshape(len(y), -1)[:, 0].tolist()


def _paths(a: RunAnalysis, index: list[int]) -> list[np.ndarray]:
    lengths = a.test.valid.sum(1)
    return [a.pca_all.project(a.test.states[i, : lengths[i]])[:, :2] for i in index]


def _pca_rows(analyses: list[RunAnalysis]) -> list[list]:
    rows = []
    for a in analyses:
        fits = [("all", a.pca_all)] + ([a.pca_group] if a.pca_group else [])
        for group, fit in fits:
            neurons = fit.components.shape[1]
            rows.append([a.name, f"{group} ({neurons})", float(fit.explained[0]),
                         float(fit.explained[:2].sum()), fit.components_for(0.9)])  # fmt: skip
    return rows


def explain_report(
    run_dir: str | Path,
    *,
    baseline: str | Path | None = None,
    out: str | Path | None = None,
    options: ExplainOptions | None = None,
    robustness: bool = True,
) -> ExplainResult:
    """Analyse the run in ``run_dir`` (and a ``baseline`` run on the same task, e.g. an
    LSTM) and write the report to ``out`` (default ``run_dir/explain.html``)."""
    started = time.perf_counter()
    options = options or ExplainOptions()
    run = load_run(run_dir)
    runs = [run]
    if baseline is not None:
        base = load_run(baseline)
        if base.task.name != run.task.name:
            raise ValueError(
                f"baseline: {str(baseline)!r} is a run on {base.task.name!r}, not {run.task.name!r}"
            )
        runs.append(base)
    analyses = [analyse(r, options) for r in runs]
    a, task = analyses[0], run.task
    metric = task.metric.value
    out = Path(out) if out is not None else Path(run_dir) / "explain.html"

    report = Report(f"liquidtorch explain: {run.name}")
    scores = [[r.model_name, str(r.path), evaluate(r.model, task, task.test)] for r in runs]
    report.paragraph(task.description)
    report.table(["model", "run directory", f"test {metric}"], scores)

    report.section("Wiring")
    wiring = _wiring(run)
    if wiring is not None and wiring.num_layers > 1:
        report.paragraph(
            "Neurons by layer from the sensory inputs to the motor neurons the head reads; "
            "green synapses are excitatory (reversal potential +1), red inhibitory (-1)."
        )
        report.figure(figures.wiring_figure(wiring), "Wiring by layer with polarities.")
        report.table(["from", "to", "excitatory", "inhibitory"], synapse_table(wiring))
    else:
        report.paragraph(f"{run.model_name} has no layered wiring (all neurons in one group).")

    report.section("Neuron activity")
    internal = {"ltc": "each neuron's liquid time constant (log10; small: the neuron follows "
                "its inputs fast)", "cfc": "each neuron's time gate sigmoid(t_a dt + t_b) "
                "(near 1: the state follows the second head)"}.get(a.shown.family)  # fmt: skip
    report.paragraph(
        "Test sequences of different classes: the standardised inputs, every neuron's state "
        "over time (rows grouped by layer)" + (f" and {internal}." if internal else ".")
    )
    labels = _labels(a, a.test_data.y)
    report.figure(
        figures.activity_figure(a.shown, a.test_data.x[a.shown_index].numpy(), labels),
        "Neuron activity over test sequences.",
    )

    report.section("Principal components")
    index = _path_index(a, a.test_data.y, options.pca_paths)
    fits = {b.name: b.pca_all for b in analyses}
    report.figure(
        figures.pca_figure(
            fits, {b.name: _paths(b, index) for b in analyses},
            {b.name: _colours(b, b.test_data.y, index) for b in analyses},
            classification=a.classification,
        ),
        "Variance explained by the principal components of every neuron's activity (all "
        "valid steps of held-out sequences) and trajectories in the first two components.",
    )  # fmt: skip
    report.table(["model", "neurons", "PC1", "PC1+PC2", "components for 90 %"],
                 _pca_rows(analyses))  # fmt: skip

    report.section("Decision trees distilled from the neurons")
    what = "agreement with the network's class" if a.classification else "R^2 to its outputs"
    report.paragraph(
        f"A scikit-learn tree is fitted from the neuron states at each decision step of "
        f"{options.fit_sequences} training sequences to the network's own outputs; fidelity "
        f"({what}) is measured on {options.test_sequences} held-out test sequences."
    )
    depths = list(options.depths)
    report.figure(
        figures.fidelity_figure(
            depths, {b.name: [b.fidelity[d] for d in depths] for b in analyses}, what
        ),
        "Held-out fidelity of the distilled tree against its depth.",
    )
    report.table(["model"] + [f"depth {d}" for d in depths],
                 [[b.name] + [b.fidelity[d] for d in depths] for b in analyses])  # fmt: skip
    for b in analyses:
        classes = None
        if b.classification:
            classes = [f"class {c}" for c in b.tree.tree.classes_]
        report.figure(
            figures.tree_figure(b.tree, classes), f"{b.name}: the depth-{b.tree.depth} tree."
        )

    report.section("Input attribution (integrated gradients)")
    attr = a.attribution
    report.paragraph(
        f"Attribution of the predicted class's logit (or the first output) at the decision "
        f"step to each input channel and step, from an all-zero input (the training mean), "
        f"{options.ig_steps} midpoint steps. Completeness: attributions sum to "
        f"f(x) - f(0) = {', '.join(f'{v:.3f}' for v in attr.difference.tolist())} with errors "
        f"{', '.join(f'{v:.1e}' for v in attr.delta.tolist())}."
    )
    report.figure(
        figures.attribution_figure(
            a.test_data.x[a.shown_index].numpy(), attr.values.numpy(), labels
        ),
        "Integrated gradients over time.",
    )

    if robustness:
        report.section("Robustness")
        curves: dict[str, list[Curve]] = {
            r.model_name: robustness_curves(
                r.model, task, seeds=ROBUSTNESS_SEEDS, max_sequences=ROBUSTNESS_SEQUENCES
            )
            for r in runs
        }
        report.paragraph(
            f"Test {metric} on {ROBUSTNESS_SEQUENCES} random test sequences "
            "under input perturbations the models never saw in training (one seed; "
            "`liquidtorch robustness` runs more seeds and runs)."
        )
        report.figure(
            figures.robustness_figure(curves, metric), "Robustness to input perturbations."
        )

    seconds = time.perf_counter() - started
    timing = "; ".join(
        f"{b.name}: " + ", ".join(f"{k} {v:.1f}s" for k, v in b.seconds.items()) for b in analyses
    )
    report.paragraph(f"Written in {seconds:.1f}s ({timing}).", note=True)
    path = report.write(out)
    return ExplainResult(path, seconds, report.figures, analyses)
