"""C99 code of each cell kind: weights as ``static const`` arrays and one step function.

Every emitter returns a :class:`CBlock`: the arrays and scratch buffers it declares and
a function ``static void <p>(const float *x, float *s, float dt, float *out)`` that
advances the cell's state ``s`` in place and writes its output. The formulas are the
cells' reference ``forward`` in the same order of operations (float32 throughout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cells import CfCCell, CfCMode, LTCCell, MixedMemoryCell, WiredCfCCell
from ..cells._activations import LeCunTanh
from ..solvers import SemiImplicit

ACTIVATIONS = {  # module type -> C expression of ``v``
    LeCunTanh: "1.7159f * tanhf(0.666f * v)",
    nn.Tanh: "tanhf(v)",
    nn.ReLU: "(v > 0.0f ? v : 0.0f)",
    nn.SiLU: "v / (1.0f + expf(-v))",
    nn.GELU: "0.5f * v * (1.0f + erff(v * 0.70710678118654752f))",
}


@dataclass
class CBlock:
    """Declarations (file scope) and a step function; byte counts of what they hold."""

    decls: list[str] = field(default_factory=list)
    code: str = ""
    flash: int = 0  # bytes of constant arrays (weights and edge lists)
    scratch: int = 0  # bytes of working buffers (RAM besides the state)

    def const(self, name: str, values: Any, ctype: str = "float") -> str:
        arr = np.asarray(values).reshape(-1)
        if ctype == "float":
            arr = arr.astype(np.float32)
            body = ", ".join(f"{float(v)!r}f" if np.isfinite(v) else "0.0f" for v in arr.tolist())
            if not np.isfinite(arr).all():
                raise ValueError(f"{name}: weights contain NaN or inf; cannot export")
            size = 4
        else:
            body = ", ".join(str(int(v)) for v in arr.tolist())
            size = 2 if ctype == "uint16_t" else 4
        self.decls.append(f"static const {ctype} {name}[{max(len(arr), 1)}] = {{{body or '0'}}};")
        self.flash += size * len(arr)
        return name

    def buffer(self, name: str, n: int) -> str:
        self.decls.append(f"static float {name}[{n}];")
        self.scratch += 4 * n
        return name


def _buffer(module: nn.Module, name: str) -> torch.Tensor:
    value = getattr(module, name)
    assert isinstance(value, torch.Tensor)
    return value


def _f(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def index_type(n: int) -> str:
    return "uint16_t" if n < 2**16 else "uint32_t"


def _csr(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nonzeros of ``mask`` (rows, cols) by row: row pointers, column ids, row ids."""
    rows, cols = np.nonzero(mask)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=mask.shape[0]))])
    return ptr, cols, rows


def linear(b: CBlock, p: str, m: nn.Linear, x: str, out: str) -> str:
    """``out = W x + bias`` with ``W`` row-major."""
    w = b.const(f"{p}_W", _f(m.weight))
    bias = b.const(f"{p}_b", _f(m.bias)) if m.bias is not None else None
    n_out, n_in = m.weight.shape
    init = f"{bias}[o]" if bias else "0.0f"
    return (
        f"    for (int o = 0; o < {n_out}; ++o) {{\n        float acc = {init};\n"
        f"        for (int i = 0; i < {n_in}; ++i) acc += {w}[o * {n_in} + i] * {x}[i];\n"
        f"        {out}[o] = acc;\n    }}\n"
    )


def _fn(p: str, body: str) -> str:
    return f"static void {p}(const float *x, float *s, float dt, float *out) {{\n{body}}}\n"


def _mapped(value: str, w: torch.Tensor | None, b: torch.Tensor | None, k: int) -> str:
    """C of an LTC's per-feature mapping ``value * w[k] + b[k]`` (either may be absent)."""
    if w is not None:
        value = f"{value} * {float(_f(w)[k])!r}f"
    if b is not None:
        value = f"{value} + {float(_f(b)[k])!r}f"
    return value


def ltc(cell: LTCCell, p: str) -> CBlock:
    if type(cell.solver) is not SemiImplicit:
        raise ValueError(
            f"C export: the LTC's solver is {cell.solver}; only the default semi-implicit "
            "solver is exported to C (use ONNX for the others)"
        )
    b = CBlock()
    n, ni, m = cell.state_size, cell.input_size, cell.output_size
    w, sw = cell.positive(cell.w), cell.positive(cell.sensory_w)
    # recurrent edges by destination: conductance w and w * erev (as the reference forms it)
    ptr, src, dst = _csr((cell.wiring.adjacency != 0).T)  # edges by destination
    flat = src * n + dst  # their positions in the (src, dst) matrices
    idx = index_type(max(n, ni) + 1)
    wm = (w * _buffer(cell, "mask")).reshape(-1)
    b.const(f"{p}_ptr", ptr, idx), b.const(f"{p}_src", src, idx)
    b.const(f"{p}_w", _f(wm)[flat]), b.const(f"{p}_werev", _f(wm * cell.erev.reshape(-1))[flat])
    b.const(f"{p}_sigma", _f(cell.sigma).reshape(-1)[flat])
    b.const(f"{p}_mu", _f(cell.mu).reshape(-1)[flat])
    sptr, ssrc, sdst = _csr((cell.wiring.sensory_adjacency != 0).T)
    sflat = ssrc * n + sdst
    b.const(f"{p}_sptr", sptr, idx), b.const(f"{p}_ssrc", ssrc, idx)
    b.const(f"{p}_sw", _f(sw * _buffer(cell, "sensory_mask")).reshape(-1)[sflat])
    for name in ("sigma", "mu", "erev"):
        b.const(f"{p}_s{name}", _f(getattr(cell, f"sensory_{name}")).reshape(-1)[sflat])
    gleak = cell.positive(cell.gleak)
    b.const(f"{p}_gvleak", _f(gleak * cell.vleak)), b.const(f"{p}_gleak", _f(gleak))
    b.const(f"{p}_cm", _f(cell.positive(cell.cm)))
    u, num, den, vn = (b.buffer(f"{p}_{k}", size) for k, size in
                       (("u", ni), ("num", n), ("den", n), ("vn", n)))  # fmt: skip
    code = ""
    for k in range(ni):
        code += f"    {u}[{k}] = {_mapped(f'x[{k}]', cell.input_w, cell.input_b, k)};\n"
    code += (
        f"    for (int j = 0; j < {n}; ++j) {{\n"
        f"        float sn = 0.0f, sd = 0.0f;\n"
        f"        for (int e = {p}_sptr[j]; e < {p}_sptr[j + 1]; ++e) {{\n"
        f"            float g = {p}_sw[e]\n"
        f"                * sigmoid_({p}_ssigma[e] * ({u}[{p}_ssrc[e]] - {p}_smu[e]));\n"
        f"            sn += g * {p}_serev[e];\n            sd += g;\n        }}\n"
        f"        {num}[j] = sn + {p}_gvleak[j];\n        {den}[j] = sd + {p}_gleak[j];\n    }}\n"
        f"    const float h = dt / {cell.solver.unfolds}.0f;\n"
        f"    for (int k = 0; k < {cell.solver.unfolds}; ++k) {{\n"
        f"        for (int j = 0; j < {n}; ++j) {{\n"
        f"            float rn = 0.0f, rd = 0.0f;\n"
        f"            for (int e = {p}_ptr[j]; e < {p}_ptr[j + 1]; ++e) {{\n"
        f"                float a = sigmoid_({p}_sigma[e] * (s[{p}_src[e]] - {p}_mu[e]));\n"
        f"                rn += a * {p}_werev[e];\n                rd += a * {p}_w[e];\n"
        f"            }}\n"
        f"            const float cm_h = {p}_cm[j] / h;\n"
        f"            {vn}[j] = (cm_h * s[j] + (rn + {num}[j])) / (cm_h + (rd + {den}[j]) + "
        f"{float(np.float32(cell.epsilon))!r}f);\n"
        f"        }}\n"
        f"        for (int j = 0; j < {n}; ++j) s[j] = {vn}[j];\n    }}\n"
    )
    for k in range(m):
        code += f"    out[{k}] = {_mapped(f's[{k}]', cell.output_w, cell.output_b, k)};\n"
    b.code = _fn(p, code)
    return b


def _closed_form(
    mode: CfCMode, z: str, n: int, new: str, a_pure: str | None = None, w_tau: str | None = None
) -> str:
    """C of :func:`liquidtorch.cells.cfc.closed_form` for unit ``o`` over heads ``z``."""
    if mode is CfCMode.PURE:
        return (
            f"        {{ const float f1 = {z}[o];\n"
            f"          {new} = -{a_pure}[o] * expf(-dt * (fabsf({w_tau}[o]) + fabsf(f1))) * f1"
            f" + {a_pure}[o]; }}\n"
        )
    mix = "f1 + gate * f2" if mode is CfCMode.NO_GATE else "f1 * (1.0f - gate) + gate * f2"
    return (
        f"        {{ const float f1 = tanhf({z}[o]), f2 = tanhf({z}[{n} + o]);\n"
        f"          const float gate = sigmoid_({z}[{2 * n} + o] * dt + {z}[{3 * n} + o]);\n"
        f"          {new} = {mix}; }}\n"
    )


def _pure_params(b: CBlock, p: str, owner: Any) -> tuple[str | None, str | None]:
    if owner.A is None:
        return None, None
    return b.const(f"{p}_A", _f(owner.A)), b.const(f"{p}_wtau", _f(owner.w_tau))


def cfc(cell: CfCCell, p: str) -> CBlock:
    b = CBlock()
    n, ni = cell.units, cell.input_size
    cat = b.buffer(f"{p}_cat", ni + n)
    code = f"    for (int i = 0; i < {ni}; ++i) {cat}[i] = x[i];\n"
    code += f"    for (int i = 0; i < {n}; ++i) {cat}[{ni} + i] = s[i];\n"
    cur, width, k = cat, ni + n, 0
    for mod in cell.backbone:
        if isinstance(mod, nn.Linear):
            nxt = b.buffer(f"{p}_bb{k}", mod.out_features)
            code += linear(b, f"{p}_bb{k}", mod, cur, nxt)
            cur, width, k = nxt, mod.out_features, k + 1
        elif type(mod) in ACTIVATIONS:
            code += (
                f"    for (int i = 0; i < {width}; ++i) {{ const float v = {cur}[i];"
                f" {cur}[i] = {ACTIVATIONS[type(mod)]}; }}\n"
            )
        elif not isinstance(mod, nn.Dropout):  # dropout is the identity at inference
            raise ValueError(f"C export: backbone module {type(mod).__name__} is not supported")
    z = b.buffer(f"{p}_z", cell.heads.out_features)
    code += linear(b, f"{p}_heads", cell.heads, cur, z)
    a_pure, w_tau = _pure_params(b, p, cell)
    code += f"    for (int o = 0; o < {n}; ++o)\n"
    code += _closed_form(cell.mode, z, n, "s[o]", a_pure, w_tau)
    code += f"    for (int o = 0; o < {n}; ++o) out[o] = s[o];\n"
    b.code = _fn(p, code)
    return b


def wired_cfc(cell: WiredCfCCell, p: str) -> CBlock:
    """Each layer's heads as edge lists (CSR by output neuron) of its masks: memory grows
    with the synapses, not with the neurons squared."""
    b = CBlock()
    n, ni = cell.state_size, cell.input_size
    hn = b.buffer(f"{p}_hn", n)
    code, ff, n_ff = "", "x", ni
    k_heads = 1 if cell.mode is CfCMode.PURE else 4
    idx = index_type(ni + 2 * n + 1)
    layer: Any
    for li, (layer, (_, ids)) in enumerate(zip(cell.layers, cell.wiring.layers, strict=True)):
        q, n_out = f"{p}_l{li}", len(ids)
        weight, mask = _f(layer.heads.weight), _f(layer.mask)
        inp = b.buffer(f"{q}_in", n_ff + n)
        z = b.buffer(f"{q}_z", k_heads * n_out)
        code += f"    for (int i = 0; i < {n_ff}; ++i) {inp}[i] = {ff}[i];\n"
        code += f"    for (int i = 0; i < {n}; ++i) {inp}[{n_ff} + i] = s[i];\n"
        bias = b.const(f"{q}_bias", _f(layer.heads.bias))
        for pair, heads in (("syn", (0, 1)), ("time", (2, 3))):
            if heads[0] >= k_heads:
                continue
            rows = slice(heads[0] * n_out, (heads[0] + 1) * n_out)
            m = mask[rows] != 0
            for h2 in heads[1:]:  # the paired head must use the same synapses
                if h2 < k_heads and not np.array_equal(m, mask[h2 * n_out : (h2 + 1) * n_out] != 0):
                    raise ValueError("C export: paired heads of a wired CfC have different masks")
            ptr, col, _ = _csr(m)
            b.const(f"{q}_{pair}_ptr", ptr, idx), b.const(f"{q}_{pair}_col", col, idx)
            for h in heads[:k_heads]:
                w = weight[h * n_out : (h + 1) * n_out][m]
                wname = b.const(f"{q}_W{h}", w)
                code += (
                    f"    for (int o = 0; o < {n_out}; ++o) {{\n"
                    f"        float acc = {bias}[{h * n_out} + o];\n"
                    f"        for (int e = {q}_{pair}_ptr[o]; e < {q}_{pair}_ptr[o + 1]; ++e)"
                    f" acc += {wname}[e] * {inp}[{q}_{pair}_col[e]];\n"
                    f"        {z}[{h * n_out} + o] = acc;\n    }}\n"
                )
        a_pure, w_tau = _pure_params(b, q, layer)
        out_ids = b.const(f"{q}_ids", np.asarray(ids), idx)
        code += f"    for (int o = 0; o < {n_out}; ++o)\n"
        code += _closed_form(cell.mode, z, n_out, f"{hn}[{out_ids}[o]]", a_pure, w_tau)
        ff_buf = b.buffer(f"{q}_ff", n_out)
        code += f"    for (int o = 0; o < {n_out}; ++o) {ff_buf}[o] = {hn}[{out_ids}[o]];\n"
        ff, n_ff = ff_buf, n_out
    code += f"    for (int j = 0; j < {n}; ++j) s[j] = {hn}[j];\n"
    code += f"    for (int j = 0; j < {cell.output_size}; ++j) out[j] = s[j];\n"
    b.code = _fn(p, code)
    return b


def mixed(cell: MixedMemoryCell, p: str) -> CBlock:
    """The LSTM of mixed memory, then the wrapped cell; state ``[h, c]``."""
    inner = cell_block(cell.cell, f"{p}_cell")
    b = CBlock(decls=list(inner.decls), flash=inner.flash, scratch=inner.scratch)
    n, lstm = cell.state_size, cell.lstm
    z, zr = b.buffer(f"{p}_z", 4 * n), b.buffer(f"{p}_zr", 4 * n)
    code = linear(b, f"{p}_in", lstm.input_map, "x", z)
    code += linear(b, f"{p}_rec", lstm.recurrent_map, "s", zr)
    code += (
        f"    for (int o = 0; o < {n}; ++o) {{\n"
        f"        const float i = {z}[o] + {zr}[o], ig = {z}[{n} + o] + {zr}[{n} + o];\n"
        f"        const float fg = {z}[{2 * n} + o] + {zr}[{2 * n} + o];\n"
        f"        const float og = {z}[{3 * n} + o] + {zr}[{3 * n} + o];\n"
        f"        const float c = s[{n} + o] * sigmoid_(fg + 1.0f) + tanhf(i) * sigmoid_(ig);\n"
        f"        s[{n} + o] = c;\n        s[o] = tanhf(c) * sigmoid_(og);\n    }}\n"
        f"    {p}_cell(x, s, dt, out);\n"
    )
    b.code = inner.code + _fn(p, code)
    return b


def cell_block(cell: nn.Module, p: str) -> CBlock:
    """The C of one cell (LTC, dense CfC, wired CfC, mixed memory around either)."""
    kinds: dict[type, Callable[[Any, str], CBlock]] = {
        LTCCell: ltc,
        CfCCell: cfc,
        WiredCfCCell: wired_cfc,
        MixedMemoryCell: mixed,
    }
    emit = kinds.get(type(cell))
    if emit is None:
        raise ValueError(
            f"C export: {type(cell).__name__} is not supported (LTC, CfC, wired CfC and mixed "
            "memory are); use ONNX for the baselines"
        )
    return emit(cell, p)
