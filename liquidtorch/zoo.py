"""The model registry: ready-made models for a :class:`~liquidtorch.data.Task`.

Every model is registered once (:func:`register_model`, timm's pattern) with what the tools
need: a description, a family, a learning-rate scale and a builder. The CLI, the docs table
and the contract tests (``tests/test_contract.py``) iterate the registry, so a new model
gets its listing and its tests by being registered.

``build_model(name, task)`` gives a :class:`SequenceModel`: a sequence layer and a linear
head with the layers' sequence API, returning predictions only: ``model(x, timespans=None,
*, lengths=None, mask=None)`` -> ``(batch, time, task.output_size)`` for per-step tasks (the
head maps every step), ``(batch, task.output_size)`` for per-sequence tasks (the head maps
each sequence's output at its last valid step).

NCP-wired models (``ltc_ncp``, ``cfc_ncp``): the wiring's motor neurons are a small output
layer of ``max(task.output_size, 4)`` neurons (at most ``units - 3``), read by the linear
head. A few motor neurons more than outputs keep the wiring's last layer from being a
bottleneck of one or two neurons (a binary task has ``output_size`` 2), and every model then
ends in the same kind of head. Pass ``motor_neurons=`` to choose, ``sparsity_level=`` and
``wiring_seed=`` for :class:`~liquidtorch.wirings.AutoNCP`. The wiring is fixed by
``wiring_seed`` (default AutoNCP's); ``seed`` draws the weights.

>>> from liquidtorch.zoo import list_models, model_info
>>> list_models(family="cfc")
['cfc', 'cfc_no_gate', 'cfc_pure', 'cfc_mixed', 'cfc_ncp']
>>> model_info("ltc_ncp").wired
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from typing import Any, Protocol

import torch
from torch import nn

from .baselines import CTGRU, CTRNN, GRU, LSTM, ODERNN, NeuralODE
from .layers import LTC, CfC, SequenceLayer
from .layers._config import decode, encode, layer_from_config
from .wirings import AutoNCP

# (input_size, units, output_size, options) -> a sequence layer
LayerBuilder = Callable[[int, int, int, dict[str, Any]], nn.Module]


class TaskLike(Protocol):
    """What :func:`build_model` reads of a :class:`~liquidtorch.data.Task`."""

    @property
    def input_size(self) -> int: ...
    @property
    def output_size(self) -> int: ...
    @property
    def per_step(self) -> bool: ...
    @property
    def defaults(self) -> dict[str, Any]: ...


class Family(str, Enum):
    """What kind of model a registry entry is."""

    LTC = "ltc"
    CFC = "cfc"
    BASELINE = "baseline"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """One registry entry.

    ``lr_scale`` multiplies the task's learning rate (:func:`training_defaults`); ``wired``
    models take the NCP options (``motor_neurons``, ``sparsity_level``, ``wiring_seed``).
    """

    name: str
    description: str
    family: Family
    build: LayerBuilder
    lr_scale: float = 1.0
    wired: bool = False


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str, *, description: str, family: Family, lr_scale: float = 1.0, wired: bool = False
) -> Callable[[LayerBuilder], LayerBuilder]:
    """Decorator: register ``fn(input_size, units, output_size, options) -> layer`` as the
    model ``name``. The layer must follow the sequence-layer API (``SequenceLayer``)."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")

    def add(fn: LayerBuilder) -> LayerBuilder:
        layer = (lambda i, u, o, kw: fn(i, u, o, _with_ncp(u, o, kw))) if wired else fn
        _REGISTRY[name] = ModelInfo(name, description, Family(family), layer, lr_scale, wired)
        return fn

    return add


def list_models(family: Family | str | None = None) -> list[str]:
    """Registered model names (in registration order), optionally of one family."""
    want = None if family is None else Family(family)
    return [n for n, info in _REGISTRY.items() if want is None or info.family is want]


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name`` (``ValueError`` naming the known models if unknown)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(_REGISTRY)}") from None


class _Descriptions(Mapping[str, str]):
    """A read-only live view: model name -> description."""

    def __getitem__(self, name: str) -> str:
        return _REGISTRY[name].description

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY)

    def __len__(self) -> int:
        return len(_REGISTRY)


MODELS: Mapping[str, str] = _Descriptions()

_DEFAULT_UNITS = 32


def _with_ncp(units: int, out: int, options: dict) -> dict:
    """``options`` with the NCP keys replaced by ``units=AutoNCP(...)``."""
    options = dict(options)
    motor = options.pop("motor_neurons", min(max(out, 4), units - 3))
    spec = {"sparsity_level": options.pop("sparsity_level", 0.5)}
    if "wiring_seed" in options:
        spec["seed"] = options.pop("wiring_seed")
    return options | {"units": AutoNCP(units, motor, **spec)}


def _solver_options(options: dict[str, Any]) -> dict[str, Any]:
    """``solver`` given by name (``semi_implicit``, ``euler``, ``rk4``; as typed on the
    command line or stored in JSON) and ``ode_unfolds`` become one solver object."""
    if not isinstance(options.get("solver"), str) and "ode_unfolds" not in options:
        return options
    from . import solvers

    options = dict(options)
    classes = {k: v for k, v in solvers.SOLVERS.items() if k != "dopri5"}  # fixed-step ones
    name = options.pop("solver", "semi_implicit")
    unfolds = options.pop("ode_unfolds", 6)
    if isinstance(name, solvers.Solver):
        raise ValueError("ode_unfolds: pass it inside the solver object (e.g. RK4(unfolds=2))")
    if name not in classes:
        raise ValueError(f"solver must be one of {sorted(classes)}, got {name!r}")
    if isinstance(unfolds, bool) or not isinstance(unfolds, int) or unfolds < 1:
        raise ValueError(f"ode_unfolds must be an int >= 1, got {unfolds!r}")
    solver: Any = classes[name]  # the fixed-step solvers all take ``unfolds``
    return options | {"solver": solver(unfolds=unfolds)}


def _units(kw: dict, units: int) -> Any:
    return kw.pop("units", units)


# ---------------------------------------------------------------------- the registry
# Learning-rate scales: the NCP-wired models have a few thousand sparse parameters and train
# best with larger steps. Measured (one seed each): LTC-NCP on `watch` 0.79 test accuracy at
# lr 2e-2 against 0.73 at 1e-2; on `halfcheetah` test MSE 0.12 at 2e-2, 0.14 at 1e-2, 0.16
# at 5e-3 (the task's rate). CfC-NCP is insensitive (`watch` 0.60-0.62 from 5e-3 to 2e-2;
# `halfcheetah` no better at 5e-3). The dense models and the baselines stay at the task's
# rate (the LSTM on `watch`: 0.85 at 5e-3, 0.81 at 1e-2).
_L, _C, _B = Family.LTC, Family.CFC, Family.BASELINE

register_model("ltc", family=_L, description="LTC, fully connected neurons (all read by the head)")(
    lambda i, u, o, kw: LTC(i, _units(kw, u), **kw)
)
register_model(
    "ltc_ncp",
    family=_L,
    wired=True,
    lr_scale=4.0,
    description="LTC wired with AutoNCP (motor neurons read by the head)",
)(lambda i, u, o, kw: LTC(i, _units(kw, u), **kw))
register_model(
    "ltc_mixed",
    family=_L,
    description="LTC, fully connected, with mixed memory (an LSTM in front of the cell)",
)(lambda i, u, o, kw: LTC(i, _units(kw, u), mixed_memory=True, **kw))
register_model("cfc", family=_C, description="CfC, dense, default (gated) mode, backbone MLP")(
    lambda i, u, o, kw: CfC(i, _units(kw, u), **kw)
)
register_model("cfc_no_gate", family=_C, description="CfC, dense, no_gate mode")(
    lambda i, u, o, kw: CfC(i, _units(kw, u), mode="no_gate", **kw)
)
register_model(
    "cfc_pure", family=_C, description="CfC, dense, pure mode (the closed-form ODE solution)"
)(lambda i, u, o, kw: CfC(i, _units(kw, u), mode="pure", **kw))
register_model("cfc_mixed", family=_C, description="CfC, dense, default mode, with mixed memory")(
    lambda i, u, o, kw: CfC(i, _units(kw, u), mixed_memory=True, **kw)
)
register_model(
    "cfc_ncp",
    family=_C,
    wired=True,
    lr_scale=4.0,
    description="CfC wired with AutoNCP, no backbone",
)(lambda i, u, o, kw: CfC(i, _units(kw, u), **kw))
_BASELINES: dict[str, tuple[type[SequenceLayer], str]] = {
    "lstm": (LSTM, "LSTM baseline (elapsed time as an input feature)"),
    "gru": (GRU, "GRU baseline (elapsed time as an input feature)"),
    "ctrnn": (CTRNN, "continuous-time RNN baseline"),
    "node": (NeuralODE, "Neural ODE RNN baseline (dh/dt = f([x, h]))"),
    "odernn": (ODERNN, "ODE-RNN baseline (ODE between observations, GRU update at each)"),
    "ctgru": (CTGRU, "CT-GRU baseline (traces at several time scales)"),
}


def _baseline(cls: type[SequenceLayer]) -> LayerBuilder:
    def build(i: int, u: int, o: int, kw: dict[str, Any]) -> nn.Module:
        return cls(i, _units(kw, u), **kw)

    return build


for _name, (_cls, _text) in _BASELINES.items():
    register_model(_name, family=_B, description=_text)(_baseline(_cls))


def training_defaults(name: str, task: TaskLike) -> dict[str, Any]:
    """Training settings for model ``name`` on ``task``: the task's defaults (``epochs``,
    ``lr``, ``batch_size``, ``schedule``...) with the learning rate scaled by the model's
    ``lr_scale``. Pass them to :meth:`~liquidtorch.train.TrainConfig.for_task` as
    overrides; explicit choices of the user go on top."""
    info = model_info(name)
    defaults = dict(getattr(task, "defaults", {}))
    if "lr" in defaults:
        defaults["lr"] = defaults["lr"] * info.lr_scale
    return defaults


# --------------------------------------------------------------------------- models
class Head(str, Enum):
    """How a per-sequence model reads its layer (per-step models map every step).

    ``LAST`` (the papers'): the linear head maps each sequence's output at its last valid
    step. ``MEAN``: the head maps every valid step and the predictions are averaged over
    them. Measured on ``watch`` (docs/diagnosis/cfc_classification.md): the mean lifts the
    CfC-NCP from 0.61 to 0.89 test accuracy (the LSTM 0.83 -> 0.86), because a wired CfC
    or a dense CfC forgets within a few steps and the last step alone sees little.
    """

    LAST = "last"
    MEAN = "mean"


class SequenceModel(nn.Module):
    """A sequence layer followed by a linear head; returns predictions only.

    ``per_step``: the head maps every step, (batch, time, out); otherwise the head reads the
    layer as ``head`` says (:class:`Head`): the output at each sequence's last valid step,
    or the mean of the predictions over its valid steps; (batch, out).

    ``config`` describes how it was built (zoo name, sizes, seed, options), JSON-ready;
    :func:`model_from_config` builds it again (with fresh weights drawn from ``seed``).
    """

    def __init__(
        self,
        layer: nn.Module,
        output_size: int,
        *,
        per_step: bool,
        config: dict[str, Any] | None = None,
        head: Head | str = Head.LAST,
    ):
        super().__init__()
        self.pool = Head(head)
        self.layer = layer
        self.per_step = per_step
        out: int = layer.output_size  # type: ignore[assignment]  # a sequence layer's width
        self.head = nn.Linear(out, output_size)
        self._config: dict[str, Any] | None = config

    @property
    def config(self) -> dict[str, Any]:
        """How to build this model again: a zoo entry, or the layer's own config."""
        if self._config is not None:
            return dict(self._config)
        return {
            "layer": self.layer.config,
            "output_size": self.head.out_features,
            "per_step": self.per_step,
        }

    def forward(
        self,
        x: torch.Tensor,
        timespans: float | torch.Tensor | None = None,
        *,
        lengths: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out, _ = self.layer(x, timespans=timespans, lengths=lengths, mask=mask)
        if self.per_step or self.pool is Head.LAST:
            return self.head(out)
        if out.dim() != 3:
            raise ValueError("input: head='mean' takes batched input (batch, time, features)")
        batch, steps = out.shape[:2]
        valid = torch.ones(batch, steps, dtype=torch.bool, device=out.device)
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=out.device)
            valid = torch.arange(steps, device=out.device) < lengths.unsqueeze(1)
        elif mask is not None:
            valid = mask.to(out.device)
        weights = valid.unsqueeze(-1).to(out.dtype)
        total = (self.head(out) * weights).sum(1)
        return total / weights.sum(1).clamp_min(1.0)


def build_model(
    name: str, task: TaskLike, *, units: int | None = None, seed: int = 0, **options: Any
) -> SequenceModel:
    """The model ``name`` (see :func:`list_models`) sized for ``task``.

    Args:
        name: a registered model name.
        task: a :class:`~liquidtorch.data.Task` (its ``input_size``, ``output_size``,
            ``per_step`` and ``defaults["units"]`` are used).
        units: neurons / hidden units (default ``task.defaults["units"]`` or 32).
        seed: seeds the initial weights (the global RNG is left as it was).
        options: passed to the layer (e.g. ``backbone_units=64``, ``solver=...``,
            ``num_layers=2``); wired models also take ``motor_neurons``, ``sparsity_level``,
            ``wiring_seed`` (see the module docstring).
    """
    if units is None:
        units = int(getattr(task, "defaults", {}).get("units", _DEFAULT_UNITS))
    return _build(
        name,
        input_size=task.input_size,
        output_size=task.output_size,
        per_step=bool(task.per_step),
        units=units,
        seed=seed,
        options=options,
    )


def _build(
    name: str,
    *,
    input_size: int,
    output_size: int,
    per_step: bool,
    units: int,
    seed: int,
    options: dict[str, Any],
) -> SequenceModel:
    info = model_info(name)
    options = _solver_options(decode(dict(options)))
    if "return_sequences" in options:
        raise ValueError("return_sequences follows task.per_step; it is not an option")
    layer_options = dict(options)
    try:
        head = Head(layer_options.pop("head", Head.LAST))
    except ValueError:
        raise ValueError(f"head must be one of {[h.value for h in Head]}") from None
    if head is Head.MEAN and per_step:
        raise ValueError("head='mean' is for per-sequence tasks; a per-step head maps every step")
    if head is Head.MEAN and not layer_options.get("batch_first", True):
        raise ValueError("head='mean' needs a batch-first layer")
    if not info.wired:
        wired_only = sorted({"motor_neurons", "sparsity_level", "wiring_seed"} & set(options))
        if wired_only:
            raise ValueError(f"{', '.join(wired_only)}: only for wired models, not {name!r}")
    config = {
        "zoo": name,
        "input_size": input_size,
        "output_size": output_size,
        "per_step": per_step,
        "units": units,
        "seed": seed,
        "options": encode(options),
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sequences = per_step or head is Head.MEAN
        layer = info.build(
            input_size, units, output_size, layer_options | {"return_sequences": sequences}
        )
        return SequenceModel(layer, output_size, per_step=per_step, config=config, head=head)


def model_from_config(config: Mapping[str, Any]) -> SequenceModel:
    """Build the model that ``config`` (a :attr:`SequenceModel.config`) describes; its
    weights are freshly initialised (load a state dict for trained ones)."""
    config = dict(config)
    if "zoo" in config:
        keys = ("input_size", "output_size", "per_step", "units", "seed")
        missing = [k for k in keys if k not in config]
        if missing:
            raise ValueError(f"model config: missing {', '.join(missing)}")
        return _build(
            config["zoo"],
            options=decode(config.get("options", {})),
            **{k: config[k] for k in keys},
        )
    try:
        layer = layer_from_config(config["layer"])
        return SequenceModel(layer, int(config["output_size"]), per_step=bool(config["per_step"]))
    except KeyError as e:
        raise ValueError(f"model config: missing {e.args[0]}") from None


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) parameter entries, dense matrices counted in full."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _masked(model: nn.Module) -> dict[int, torch.Tensor]:
    """Parameters stored densely but used only where a wiring mask is 1: id -> mask, from
    every module that says so through ``synapse_masks()`` (parameter name -> 0/1 mask)."""
    out: dict[int, torch.Tensor] = {}
    for m in model.modules():
        masks = getattr(m, "synapse_masks", None)
        if masks is None:
            continue
        params = dict(m.named_parameters())
        for name, mask in masks().items():
            out[id(params[name])] = mask
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
    """Synapses (neuron-to-neuron plus sensory) of every wired cell in ``model`` (every
    module with a ``wiring``); 0 for a model without wirings (dense CfC, baselines)."""
    total, seen = 0, set[int]()
    for m in model.modules():
        wiring, synapse_masks = getattr(m, "wiring", None), getattr(m, "synapse_masks", None)
        if wiring is None or synapse_masks is None:
            continue
        masks = {id(mask) for mask in synapse_masks().values()}
        if masks <= seen:  # a wrapper (mixed memory) reporting its inner cell's synapses
            continue
        seen |= masks
        total += int(wiring.synapse_count + wiring.sensory_synapse_count)
    return total
