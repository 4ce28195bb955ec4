"""Reading neuron activity: principal components and decision trees distilled from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PCA:
    """Principal components of ``(samples, features)`` activity.

    ``mean`` (features,), ``components`` (k, features) unit rows, ``explained`` (k,) the
    fraction of the total variance along each component (sums to 1 with every component).
    """

    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray

    def project(self, x: np.ndarray) -> np.ndarray:
        """(..., features) -> (..., k) coordinates along the components."""
        return (x - self.mean) @ self.components.T

    def components_for(self, fraction: float) -> int:
        """How many components explain at least ``fraction`` of the variance."""
        return int(np.searchsorted(np.cumsum(self.explained), fraction - 1e-12) + 1)


def pca(x: np.ndarray, k: int | None = None) -> PCA:
    """PCA of ``x`` (samples, features) by SVD, keeping ``k`` components (None: all).

    >>> t = np.linspace(0, 1, 50)[:, None]
    >>> round(float(pca(np.hstack([t, 2 * t])).explained[0]), 6)
    1.0
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"x must be (samples >= 2, features), got shape {x.shape}")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2
    total = var.sum()
    explained = var / total if total > 0 else np.zeros_like(var)
    k = len(s) if k is None else min(k, len(s))
    return PCA(mean, vt[:k], explained[:k])


@dataclass(frozen=True)
class TreeFit:
    """A decision tree distilled from a network: ``tree`` (a fitted scikit-learn tree),
    ``fidelity`` on held-out data (agreement with the network's class for classification,
    R^2 against its outputs for regression) and ``feature_names``."""

    tree: Any  # sklearn DecisionTreeClassifier / DecisionTreeRegressor
    fidelity: float
    depth: int
    feature_names: list[str]
    classification: bool


def _require_sklearn():
    from .._optional import require

    return require("sklearn.tree", "explain", feature="decision trees")


def fit_tree(
    features: np.ndarray,
    targets: np.ndarray,
    held_out: tuple[np.ndarray, np.ndarray],
    *,
    depth: int = 3,
    classification: bool = True,
    feature_names: list[str] | None = None,
    seed: int = 0,
) -> TreeFit:
    """Fit a tree of at most ``depth`` levels from ``features`` (n, f) to the network's
    ``targets`` (its predicted classes (n,) or outputs (n, out)) and measure its fidelity on
    ``held_out = (features, targets)``.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    sk_tree = _require_sklearn()
    make = sk_tree.DecisionTreeClassifier if classification else sk_tree.DecisionTreeRegressor
    tree = make(max_depth=depth, random_state=seed).fit(features, targets)
    x_out, y_out = held_out
    fidelity = float(tree.score(x_out, y_out))  # accuracy / R^2
    names = feature_names or [f"x{i}" for i in range(features.shape[1])]
    return TreeFit(tree, fidelity, depth, list(names), classification)
