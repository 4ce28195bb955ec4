"""Migration from ncps 1.0.1: ``from_ncps(module)`` gives the equivalent liquidtorch module.

The result carries the same weights and computes the same outputs (and the same final state;
for a wired CfC the state is in neuron order, ncps keeps it in layer order: see
:func:`ncps_state_order`).

>>> import ncps.torch, torch
>>> old = ncps.torch.CfC(8, 16)
>>> new = from_ncps(old)
>>> x = torch.randn(2, 5, 8)
>>> torch.allclose(old(x)[0], new(x)[0], atol=1e-5)  # float32 rounding
True
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .cells import (
    CfCCell,
    Constraint,
    LTCCell,
    Mapping,
    WiredCfCCell,
    WiredRecurrence,
)
from .layers import LTC, CfC
from .solvers import SemiImplicit
from .wirings import Wiring

_LTC_PARAMS = (
    "gleak vleak cm w sigma mu erev sensory_w sensory_sigma sensory_mu sensory_erev "
    "input_w input_b output_w output_b"
).split()


@torch.no_grad()
def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    if dst.shape != src.shape:
        raise ValueError(f"cannot copy weights of shape {tuple(src.shape)} into {tuple(dst.shape)}")
    dst.copy_(src)


def _mapping(value) -> Mapping:
    return Mapping(value) if value in ("affine", "linear") else Mapping.NONE


def _ltc_options(src) -> dict:
    return {
        # ncps treats any value other than "affine"/"linear" as no mapping.
        "input_mapping": _mapping(src._input_mapping),
        "output_mapping": _mapping(src._output_mapping),
        "solver": SemiImplicit(src._ode_unfolds),
        "constraint": (
            Constraint.SOFTPLUS if src._implicit_param_constraints else Constraint.CLAMP
        ),
        "epsilon": src._epsilon,
    }


def _load_ltc(dst: LTCCell, src) -> None:
    for name in _LTC_PARAMS:
        if name in src._params:
            _copy(getattr(dst, name), src._params[name])


def _activation_name(backbone) -> str:
    names = {"LeCun": "lecun_tanh", "Tanh": "tanh", "ReLU": "relu", "SiLU": "silu", "GELU": "gelu"}
    for m in backbone:
        if type(m).__name__ in names:
            return names[type(m).__name__]
    return "lecun_tanh"


def _cfc_options(src) -> dict:
    """Constructor options of our dense CfCCell equal to an ncps CfCCell."""
    if src.sparsity_mask is not None:
        raise ValueError("a masked ncps CfCCell is part of a WiredCfCCell; convert that instead")
    backbone = list(src.backbone or [])
    linears = [m for m in backbone if isinstance(m, nn.Linear)]
    dropouts = [m.p for m in backbone if isinstance(m, nn.Dropout)]
    return {
        "mode": src.mode,
        "backbone_units": linears[0].out_features if linears else 128,
        "backbone_layers": src.backbone_layers,
        "backbone_dropout": dropouts[0] if dropouts else 0.0,
        "activation": _activation_name(backbone),
    }


def _heads(src) -> tuple[torch.Tensor, torch.Tensor]:
    """ncps's separate heads stacked as ``[ff1 | ff2 | time_a | time_b]`` (pure: ``[ff1]``)."""
    names = ["ff1"] if src.mode == "pure" else ["ff1", "ff2", "time_a", "time_b"]
    weight = torch.cat([getattr(src, n).weight for n in names])
    bias = torch.cat([getattr(src, n).bias for n in names])
    return weight, bias


def _load_pure(dst, src) -> None:
    if src.mode == "pure":
        _copy(dst.w_tau, src.w_tau)
        _copy(dst.A, src.A)


def _load_cfc(dst: CfCCell, src) -> None:
    ours = [m for m in dst.backbone if isinstance(m, nn.Linear)]
    theirs = [m for m in (src.backbone or []) if isinstance(m, nn.Linear)]
    for d, s in zip(ours, theirs, strict=True):
        _copy(d.weight, s.weight)
        _copy(d.bias, s.bias)
    weight, bias = _heads(src)
    _copy(dst.heads.weight, weight)
    _copy(dst.heads.bias, bias)
    _load_pure(dst, src)


def _load_wired_cfc(dst: WiredCfCCell, src) -> None:
    for (_, cur), ours, theirs in zip(dst.wiring.layers, dst.layers, src._layers, strict=True):
        weight, bias = _heads(theirs)
        n_ff = weight.shape[1] - len(cur)
        full = torch.zeros_like(ours.heads.weight)
        full[:, :n_ff] = weight[:, :n_ff]
        # ncps feeds each layer its own state only; ours sees every neuron (masked).
        full[:, n_ff + torch.as_tensor(cur)] = weight[:, n_ff:]
        _copy(ours.heads.weight, full)
        _copy(ours.heads.bias, bias)
        _load_pure(ours, theirs)


def ncps_state_order(wiring: Wiring) -> np.ndarray:
    """Neuron ids in the order of an ncps wired CfC's state (layer by layer):
    ``ours[..., ncps_state_order(w)] == theirs``."""
    return np.concatenate([np.asarray(cur, dtype=np.int64) for _, cur in wiring.layers])


def _load_layer(dst, src, load_cell) -> None:
    cell = dst.cell
    if src.use_mixed:
        lstm = src.lstm
        w_in, b_in, w_rec = lstm.input_map.weight, lstm.input_map.bias, lstm.recurrent_map.weight
        if isinstance(cell.cell, WiredCfCCell):
            # ncps keeps a wired CfC's state in layer order, we keep it in neuron order.
            inv = torch.as_tensor(np.argsort(ncps_state_order(cell.cell.wiring)))
            rows = torch.cat([inv + k * len(inv) for k in range(4)])
            w_in, b_in, w_rec = w_in[rows], b_in[rows], w_rec[rows][:, inv]
        _copy(cell.lstm.input_map.weight, w_in)
        _copy(cell.lstm.input_map.bias, b_in)
        _copy(cell.lstm.recurrent_map.weight, w_rec)
        cell = cell.cell
    load_cell(cell, src.rnn_cell)
    fc = getattr(src, "fc", None)
    if isinstance(fc, nn.Linear):
        _copy(dst.proj.weight, fc.weight)
        _copy(dst.proj.bias, fc.bias)


def _layer_options(src) -> dict:
    fc = getattr(src, "fc", None)
    return {
        "mixed_memory": src.use_mixed,
        "batch_first": src.batch_first,
        "return_sequences": src.return_sequences,
        "proj_size": fc.out_features if isinstance(fc, nn.Linear) else None,
    }


def from_ncps(module: nn.Module) -> nn.Module:
    """Convert an ``ncps.torch`` LTC, CfC, LTCCell, CfCCell or WiredCfCCell (any wiring,
    mode, mapping, mixed memory) into the equivalent liquidtorch module with its weights.

    Wired CfCs use ``WiredRecurrence.NCPS`` (ncps's dense intra-layer recurrence). The
    result is in the same train/eval mode as ``module``.
    """
    import ncps.torch as nt

    if isinstance(module, nt.LTC):
        src = module.rnn_cell
        out = LTC(
            module.input_size,
            Wiring.from_ncps(src._wiring),
            **_ltc_options(src),
            **_layer_options(module),
        )
        _load_layer(out, module, _load_ltc)
    elif isinstance(module, nt.CfC):
        src = module.rnn_cell
        if isinstance(src, nt.WiredCfCCell):
            units, opts = Wiring.from_ncps(src._wiring), _wired_options(src)
            load = _load_wired_cfc
        else:
            units, opts, load = src.hidden_size, _cfc_options(src), _load_cfc
        out = CfC(module.input_size, units, **opts, **_layer_options(module))
        _load_layer(out, module, load)
    elif isinstance(module, nt.LTCCell):
        wiring = Wiring.from_ncps(module._wiring)
        out = LTCCell(wiring.input_size, wiring, **_ltc_options(module))
        _load_ltc(out, module)
    elif isinstance(module, nt.WiredCfCCell):
        wiring = Wiring.from_ncps(module._wiring)
        out = WiredCfCCell(wiring.input_size, wiring, **_wired_options(module))
        _load_wired_cfc(out, module)
    elif isinstance(module, nt.CfCCell):
        out = CfCCell(module.input_size, module.hidden_size, **_cfc_options(module))
        _load_cfc(out, module)
    else:
        raise TypeError(
            "from_ncps: expected an ncps.torch LTC, CfC, LTCCell, CfCCell or WiredCfCCell, "
            f"got {type(module).__name__}"
        )
    return out.train(module.training)


def _wired_options(src) -> dict:
    return {"mode": src._layers[0].mode, "recurrence": WiredRecurrence.NCPS}


__all__ = ["from_ncps", "ncps_state_order"]
