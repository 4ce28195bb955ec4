"""Ready-made models for a :class:`~liquidtorch.data.Task`: a sequence layer and a head.

``build_model(name, task)`` gives an ``nn.Module`` with the sequence API of the layers that
returns predictions only: ``model(x, timespans=None, *, lengths=None, mask=None)`` ->
``(batch, time, task.output_size)`` for per-step tasks (the layer returns every step, a
linear head maps each), ``(batch, task.output_size)`` for per-sequence tasks (the layer's
output at each sequence's last valid step, then the head).

NCP-wired models (``ltc_ncp``, ``cfc_ncp``): the wiring's motor neurons are a small output
layer of ``max(task.output_size, 4)`` neurons (at most ``units - 3``), read by the linear
head. A few motor neurons more than outputs keep the wiring's last layer from being a
bottleneck of one or two neurons (a binary task has ``output_size`` 2), and every model then
ends in the same kind of head. Pass ``motor_neurons=`` to choose, ``sparsity_level=`` and
``wiring_seed=`` for :class:`~liquidtorch.wirings.AutoNCP`. The wiring is fixed by
``wiring_seed`` (default AutoNCP's); ``seed`` draws the weights.

>>> from liquidtorch.zoo import MODELS, build_model
>>> model = build_model("cfc_ncp", task, units=32)                           # doctest: +SKIP
>>> count_parameters(model), effective_parameters(model), synapse_count(model)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .baselines import CTGRU, CTRNN, GRU, LSTM, ODERNN, NeuralODE
from .cells import LTCCell, WiredCfCCell
from .layers import LTC, CfC
from .wirings import AutoNCP

MODELS: dict[str, str] = {
    "ltc": "LTC, fully connected neurons (all outputs read by the head)",
    "ltc_ncp": "LTC wired with AutoNCP (motor neurons read by the head)",
    "ltc_mixed": "LTC, fully connected, with mixed memory (an LSTM in front of the cell)",
    "cfc": "CfC, dense, default (gated) mode, backbone MLP",
    "cfc_no_gate": "CfC, dense, no_gate mode",
    "cfc_pure": "CfC, dense, pure mode (the closed-form ODE solution)",
    "cfc_mixed": "CfC, dense, default mode, with mixed memory",
    "cfc_ncp": "CfC wired with AutoNCP, no backbone",
    "lstm": "LSTM baseline (elapsed time as an input feature)",
    "gru": "GRU baseline (elapsed time as an input feature)",
    "ctrnn": "continuous-time RNN baseline",
    "node": "Neural ODE RNN baseline (dh/dt = f([x, h]))",
    "odernn": "ODE-RNN baseline (ODE between observations, GRU update at each)",
    "ctgru": "CT-GRU baseline (traces at several time scales)",
}

_DEFAULT_UNITS = 32

# Multipliers on a task's learning rate. The NCP-wired models have a few thousand sparse
# parameters and train best with larger steps. Measured (one seed each): LTC-NCP on `watch`
# 0.79 test accuracy at lr 2e-2 against 0.73 at 1e-2; on `halfcheetah` test MSE 0.12 at
# 2e-2, 0.14 at 1e-2, 0.16 at 5e-3 (the task's rate). CfC-NCP is insensitive (`watch`
# 0.60-0.62 from 5e-3 to 2e-2; `halfcheetah` no better at 5e-3). The dense models and the
# baselines stay at the task's rate (the LSTM on `watch`: 0.85 at 5e-3, 0.81 at 1e-2).
LR_SCALE: dict[str, float] = {"ltc_ncp": 4.0, "cfc_ncp": 4.0}


def training_defaults(name: str, task) -> dict:
    """Training settings for model ``name`` on ``task``: the task's defaults (``epochs``,
    ``lr``, ``batch_size``, ``schedule``...) with the learning rate scaled by
    :data:`LR_SCALE`. Pass them to :meth:`~liquidtorch.train.TrainConfig.for_task` as
    overrides; explicit choices of the user go on top."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
    defaults = dict(getattr(task, "defaults", {}))
    if "lr" in defaults:
        defaults["lr"] = defaults["lr"] * LR_SCALE.get(name, 1.0)
    return defaults


def _ncp(units: int, out: int, options: dict) -> AutoNCP:
    """The AutoNCP wiring of an NCP model; takes its own keys out of ``options``."""
    motor = options.pop("motor_neurons", min(max(out, 4), units - 3))
    spec = {"sparsity_level": options.pop("sparsity_level", 0.5)}
    if "wiring_seed" in options:
        spec["seed"] = options.pop("wiring_seed")
    return AutoNCP(units, motor, **spec)


def _wired(layer_cls):
    def make(i: int, u: int, o: int, kw: dict) -> nn.Module:
        kw = dict(kw)
        wiring = _ncp(u, o, kw)  # removes the wiring's keys before the rest go to the layer
        return layer_cls(i, wiring, **kw)

    return make


_LAYERS: dict[str, Callable[..., nn.Module]] = {
    "ltc": lambda i, u, o, kw: LTC(i, u, **kw),
    "ltc_ncp": _wired(LTC),
    "ltc_mixed": lambda i, u, o, kw: LTC(i, u, mixed_memory=True, **kw),
    "cfc": lambda i, u, o, kw: CfC(i, u, **kw),
    "cfc_no_gate": lambda i, u, o, kw: CfC(i, u, mode="no_gate", **kw),
    "cfc_pure": lambda i, u, o, kw: CfC(i, u, mode="pure", **kw),
    "cfc_mixed": lambda i, u, o, kw: CfC(i, u, mixed_memory=True, **kw),
    "cfc_ncp": _wired(CfC),
    "lstm": lambda i, u, o, kw: LSTM(i, u, **kw),
    "gru": lambda i, u, o, kw: GRU(i, u, **kw),
    "ctrnn": lambda i, u, o, kw: CTRNN(i, u, **kw),
    "node": lambda i, u, o, kw: NeuralODE(i, u, **kw),
    "odernn": lambda i, u, o, kw: ODERNN(i, u, **kw),
    "ctgru": lambda i, u, o, kw: CTGRU(i, u, **kw),
}


class SequenceModel(nn.Module):
    """A sequence layer followed by a linear head; returns predictions only.

    ``per_step``: the head maps every step, (batch, time, out); otherwise it maps the layer's
    output at each sequence's last valid step, (batch, out).
    """

    def __init__(self, layer: nn.Module, output_size: int, *, per_step: bool):
        super().__init__()
        self.layer = layer
        self.per_step = per_step
        self.head = nn.Linear(layer.output_size, output_size)

    def forward(
        self,
        x: torch.Tensor,
        timespans: float | torch.Tensor | None = None,
        *,
        lengths: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out, _ = self.layer(x, timespans=timespans, lengths=lengths, mask=mask)
        return self.head(out)


def build_model(
    name: str, task, *, units: int | None = None, seed: int = 0, **options
) -> SequenceModel:
    """The model ``name`` (see :data:`MODELS`) sized for ``task``.

    Args:
        name: a key of :data:`MODELS`.
        task: a :class:`~liquidtorch.data.Task` (its ``input_size``, ``output_size``,
            ``per_step`` and ``defaults["units"]`` are used).
        units: neurons / hidden units (default ``task.defaults["units"]`` or 32).
        seed: seeds the initial weights (the global RNG is left as it was).
        options: passed to the layer (e.g. ``backbone_units=64``, ``solver=...``,
            ``num_layers=2``); NCP models also take ``motor_neurons``, ``sparsity_level``,
            ``wiring_seed`` (see the module docstring).
    """
    if name not in _LAYERS:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
    if units is None:
        units = int(getattr(task, "defaults", {}).get("units", _DEFAULT_UNITS))
    if "return_sequences" in options:
        raise ValueError("return_sequences follows task.per_step; it is not an option")
    options = dict(options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = _LAYERS[name](
            task.input_size,
            units,
            task.output_size,
            options | {"return_sequences": bool(task.per_step)},
        )
        return SequenceModel(layer, task.output_size, per_step=bool(task.per_step))


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) parameter entries, dense matrices counted in full."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _masked(model: nn.Module) -> dict[int, torch.Tensor]:
    """Parameters stored densely but used only where a wiring mask is 1: id -> mask."""
    out: dict[int, torch.Tensor] = {}
    for m in model.modules():
        if isinstance(m, LTCCell):
            for name in ("w", "sigma", "mu", "erev"):
                out[id(getattr(m, name))] = m.mask
                out[id(getattr(m, f"sensory_{name}"))] = m.sensory_mask
        elif isinstance(m, WiredCfCCell):
            for layer in m.layers:  # fused heads [ff1 | ff2 | time_a | time_b] with one mask
                out[id(layer.heads.weight)] = layer.mask
    return out


def effective_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Like :func:`count_parameters`, but a wired cell's synapse matrices (LTC's ``w``,
    ``sigma``, ``mu``, ``erev`` and their sensory twins; a wired CfC's masked heads) count
    only the entries at existing synapses (the nonzeros of their masks). Equals
    :func:`count_parameters` for models without wiring masks (a fully connected LTC's
    masks are all ones)."""
    masks = _masked(model)
    total = 0
    for p in model.parameters():
        if p.requires_grad or not trainable_only:
            mask = masks.get(id(p))
            total += p.numel() if mask is None else int(torch.count_nonzero(mask))
    return total


def synapse_count(model: nn.Module) -> int:
    """Synapses (neuron-to-neuron plus sensory) of every wired cell in ``model`` (LTC cells
    and wired CfC cells); 0 for a model without wirings (dense CfC, baselines)."""
    return sum(
        m.wiring.synapse_count + m.wiring.sensory_synapse_count
        for m in model.modules()
        if isinstance(m, (LTCCell, WiredCfCCell))
    )
