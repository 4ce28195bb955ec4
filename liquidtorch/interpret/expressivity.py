"""Latent trajectory length (the LTC paper's expressivity study, after Raghu et al. 2017).

A circle ``I(t) = (sin t, cos t)`` is fed through an untrained continuous-time network; the
length of the path its state draws measures how much the network can stretch and fold its
input. :func:`trajectory_study` sweeps width, depth (stacked layers) and the activation of
LTC, CT-RNN and Neural ODE layers of this library with their own initialisation, whose
weights in front of the nonlinearity can be scaled by a gain.

The activation replaces each model's nonlinearity: the Neural ODE's ``f = act(W [x, h] +
b)``, the CT-RNN's ``act(W_in x + W_h h + b)`` and the LTC synapse's ``sigmoid(sigma (v -
mu))`` (the LTC's conductances then follow that activation's sign: with tanh or hardtanh
they turn negative and the state can diverge, reported as an infinite length). ``"default"``
is each model's own nonlinearity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import Enum

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import as_dt
from ..baselines.ctrnn import CTRNNCell
from ..baselines.neural_ode import NeuralODECell
from ..cells import LTCCell, get_activation
from ..wirings import FullyConnected


class Family(str, Enum):
    LTC = "ltc"
    CTRNN = "ctrnn"
    NODE = "node"


ACTIVATIONS = {
    "default": None,  # the family's own: the LTC synapse's sigmoid, tanh for the others
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "hardtanh": F.hardtanh,
}


def trajectory_length(points: np.ndarray | torch.Tensor) -> float:
    """Length of the polygonal path through ``points`` (steps, dims): the sum of the
    distances between consecutive points.

    >>> trajectory_length(np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]]))
    9.0
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"points must be (steps, dims), got shape {p.shape}")
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


def circle(steps: int = 200, periods: float = 1.0) -> tuple[torch.Tensor, float]:
    """The input ``(sin t, cos t)`` at ``steps`` times over ``periods`` turns, (steps, 2),
    and the elapsed time of a step."""
    dt = 2 * math.pi * periods / steps
    t = torch.arange(steps, dtype=torch.float32) * dt
    return torch.stack([torch.sin(t), torch.cos(t)], -1), dt


class _LTCWithActivation(LTCCell):
    def __init__(self, *args, act, **kwargs):
        super().__init__(*args, **kwargs)
        self.act = act

    def _activation(self, pre, mu, sigma):  # the synapse's sigmoid, replaced
        return self.act(sigma * (pre.unsqueeze(-1) - mu))


class _CTRNNWithActivation(CTRNNCell):
    def __init__(self, *args, act, **kwargs):
        super().__init__(*args, **kwargs)
        self.act = act

    def forward(self, x, h, dt=1.0):
        u, tau = self.input_map(x), self.tau

        def field(h):
            return (self.act(u + self.recurrent_map(h)) - h) / tau

        h = self.integrator(field, h, as_dt(dt, h))
        return h, h


def make_cell(
    family: Family | str, n_in: int, width: int, activation: str, gain: float = 1.0
) -> nn.Module:
    """One untrained cell of ``family`` with ``width`` units and ``activation``; ``gain``
    multiplies the initial weights in front of the nonlinearity (see :func:`scale_gain_`)."""
    family = Family(family)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    act = ACTIVATIONS[activation] or (torch.sigmoid if family is Family.LTC else torch.tanh)
    cell: nn.Module
    if family is Family.LTC:
        cell = _LTCWithActivation(n_in, FullyConnected(width), act=act)
    elif family is Family.CTRNN:
        cell = _CTRNNWithActivation(n_in, width, act=act)
    else:
        cell = NeuralODECell(n_in, width, hidden_layers=0)
        cell.f = nn.Sequential(
            *[get_activation(act) if isinstance(m, nn.Tanh) else m for m in cell.f]
        )
    scale_gain_(cell, gain)
    return cell


@torch.no_grad()
def scale_gain_(cell: nn.Module, gain: float) -> None:
    """Multiply the weights that form the pre-activation of each model's nonlinearity by
    ``gain`` (the role of the weight scale sigma_w in the LTC paper's study): the LTC
    synapses' slopes ``sigma`` (``sigmoid(sigma (v - mu))``), the CT-RNN's ``W_in`` and
    ``W_h``, the Neural ODE's linear layers."""
    if gain <= 0:
        raise ValueError(f"gain must be > 0, got {gain!r}")
    if isinstance(cell, LTCCell):
        weights = [cell.sigma, cell.sensory_sigma]
    elif isinstance(cell, CTRNNCell):
        weights = [cell.input_map.weight, cell.recurrent_map.weight]
    else:
        weights = [m.weight for m in cell.modules() if isinstance(m, nn.Linear)]
    for w in weights:
        w.mul_(gain)


@torch.no_grad()
def latent_trajectory(cells: list[nn.Module], inputs: torch.Tensor, dt: float) -> torch.Tensor:
    """The state of the last of the stacked ``cells`` along ``inputs`` (steps, features),
    each cell reading the outputs of the one below; (steps, units)."""
    seq = inputs.unsqueeze(1)  # (steps, batch 1, features)
    states = None
    for cell in cells:
        state, outs, states = cell.init_state(1), [], []
        for x in seq:
            y, state = cell(x, state, dt)
            outs.append(y)
            states.append(state)
        seq = torch.stack(outs)
    return torch.cat(states)


@dataclass(frozen=True)
class TrajectoryRecord:
    family: str
    width: int
    depth: int
    activation: str
    seed: int
    length: float
    gain: float = 1.0


def measure(
    family: Family | str,
    width: int,
    depth: int,
    activation: str,
    seed: int,
    steps: int = 200,
    gain: float = 1.0,
) -> tuple[float, torch.Tensor]:
    """Trajectory length (and the trajectory) of one untrained network on the circle;
    ``inf`` where the state diverges."""
    inputs, dt = circle(steps)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cells = [
            make_cell(family, 2 if k == 0 else width, width, activation, gain) for k in range(depth)
        ]
    path = latent_trajectory(cells, inputs, dt)
    if not bool(torch.isfinite(path).all()):  # e.g. an LTC with sign-changing conductances
        return math.inf, path
    return trajectory_length(path), path


def trajectory_study(
    *,
    families: tuple[Family | str, ...] = tuple(Family),
    widths: tuple[int, ...] = (8, 16, 32, 64),
    depths: tuple[int, ...] = (1, 2, 3, 4),
    activations: tuple[str, ...] = tuple(ACTIVATIONS),
    gains: tuple[float, ...] = (1.0,),
    base_width: int = 32,
    base_depth: int = 1,
    base_activation: str = "default",
    seeds: int = 3,
    steps: int = 200,
) -> list[TrajectoryRecord]:
    """Trajectory lengths as one of width, depth, activation and weight gain varies (the
    others at their ``base_`` values, gain 1), for each family and ``seeds``
    initialisations."""
    base = (base_width, base_depth, base_activation, 1.0)
    settings = {(w, *base[1:]) for w in widths}
    settings |= {(base_width, d, *base[2:]) for d in depths}
    settings |= {(base_width, base_depth, a, 1.0) for a in activations}
    settings |= {(*base[:3], float(g)) for g in gains}
    records = []
    for family in map(Family, families):
        for width, depth, activation, gain in sorted(settings):
            for seed in range(seeds):
                length, _ = measure(family, width, depth, activation, seed, steps, gain)
                records.append(
                    TrajectoryRecord(family.value, width, depth, activation, seed, length, gain)
                )
    return records


def records_to_json(records: list[TrajectoryRecord]) -> list[dict]:
    """Plain dicts; a diverged state's infinite length becomes ``None`` (strict JSON has no
    infinity) with ``"diverged": True``."""
    out = []
    for r in records:
        d = asdict(r)
        d["diverged"] = not math.isfinite(r.length)
        d["length"] = r.length if math.isfinite(r.length) else None
        out.append(d)
    return out
