"""Open the box: what a trained liquid network's neurons do, how robust it is, how
expressive its layers are (optional extra: ``pip install "liquidtorch[explain]"``).

- :func:`explain_report` writes one self-contained HTML report on a run directory
  (``liquidtorch explain``); :func:`analyse` gives its numbers.
- :func:`robustness_curves` / :func:`robustness_report` (``liquidtorch robustness``).
- :func:`trajectory_length`, :func:`trajectory_study` / :func:`expressivity_report`
  (``liquidtorch expressivity``).
- Building blocks: :func:`record` (neuron activity, LTC time constants, CfC time gates),
  :func:`pca`, :func:`fit_tree`, :func:`integrated_gradients`.

matplotlib and scikit-learn are imported only where a figure or a tree is made.
"""

from .activity import Trace, record, time_gate
from .analysis import PCA, TreeFit, fit_tree, pca
from .attribution import Attribution, integrated_gradients
from .explain import ExplainOptions, RunAnalysis, analyse
from .expressivity import Family, circle, latent_trajectory, trajectory_length, trajectory_study
from .report import ExplainResult, explain_report
from .robustness import Curve, Perturbation, perturb, robustness_curves
from .runs import Run, load_run
from .summaries import expressivity_report, robustness_report

__all__ = [
    "PCA",
    "Attribution",
    "Curve",
    "ExplainOptions",
    "ExplainResult",
    "Family",
    "Perturbation",
    "Run",
    "RunAnalysis",
    "Trace",
    "TreeFit",
    "analyse",
    "circle",
    "explain_report",
    "expressivity_report",
    "fit_tree",
    "integrated_gradients",
    "latent_trajectory",
    "load_run",
    "pca",
    "perturb",
    "record",
    "robustness_curves",
    "robustness_report",
    "time_gate",
    "trajectory_length",
    "trajectory_study",
]
