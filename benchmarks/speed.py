"""Speed suite S1-S7 of BENCHMARKS.md: liquidtorch vs ncps 1.0.1 vs torch.nn.LSTM/GRU.

Ratios are taken in one process, on the same data, alternating the contenders, as the median
of several repetitions after a warm-up. ncps models are created first and converted with
``from_ncps`` so both start from the same weights.

    python benchmarks/speed.py                 # everything, table + benchmarks/speed.json
    python benchmarks/speed.py --only S1 S3    # some rows
    python benchmarks/speed.py --quick         # fewer repetitions (smoke test)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

BATCH, STEPS, FEATURES = 32, 100, 8


# ----------------------------------------------------------------------------- timing
def _train_step(model, x, target):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        y = model(x)[0]
        loss = torch.nn.functional.mse_loss(y, target[..., : y.shape[-1]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _infer_step(model, x):
    def step():
        with torch.no_grad():
            model(x)

    return step


def race(contenders: dict, reps: int, warmup: int = 2, block: int = 1) -> dict[str, float]:
    """Median seconds per call of each contender, interleaving them rep by rep; a rep runs
    ``block`` consecutive calls (for microsecond-scale calls, so that one contender's thread
    pool wake-ups do not land in the other's timing)."""
    for fn in contenders.values():
        for _ in range(warmup * block):
            fn()
    times = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            for _ in range(block):
                fn()
            times[name].append((time.perf_counter() - t0) / block)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _lstm(kind):
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
    return cls(FEATURES, 64, batch_first=True)


# ------------------------------------------------------------------------------ models
def _ncps_pair(kind: str, units, input_size=FEATURES, **kw):
    import ncps.torch as nt
    import ncps.wirings as nw

    from liquidtorch.compat import from_ncps

    if isinstance(units, tuple):
        units = nw.AutoNCP(*units) if len(units) == 2 else nw.FullyConnected(*units[1:])
    theirs = (nt.LTC if kind == "ltc" else nt.CfC)(input_size, units, **kw)
    return from_ncps(theirs), theirs


def _sigmoid_floor(elements: int, reps: int) -> float:
    z = torch.randn(elements)
    out = torch.empty_like(z)  # no allocation inside the timing
    return race({"sigmoid": lambda: torch.sigmoid(z, out=out)}, reps)["sigmoid"]


def _row(rid, what, times, ours="liquidtorch", ref="ncps", goal="", **extra):
    return {
        "id": rid,
        "what": what,
        "seconds": times,
        "ours": ours,
        "ref": ref,
        "goal": goal,
        "ratio": times[ref] / times[ours],
        **extra,
    }


def bench_ltc(rid, units, reps, goal_train, goal_infer):
    ours, theirs = _ncps_pair("ltc", units)
    x, target = torch.randn(BATCH, STEPS, FEATURES), torch.randn(BATCH, STEPS, 64)
    synapses = ours.cell.wiring.synapse_count + ours.cell.wiring.sensory_synapse_count
    unfolds = ours.cell.solver.unfolds
    floor = _sigmoid_floor(STEPS * unfolds * BATCH * synapses, reps)
    name = f"LTC {units}"
    rows = []
    for mode, goal in (("train", goal_train), ("infer", goal_infer)):
        make = (
            (lambda m: _train_step(m, x, target))
            if mode == "train"
            else (lambda m: _infer_step(m, x))
        )
        t = race(
            {
                "liquidtorch": make(ours),
                "ncps": make(theirs),
                "lstm": make(_lstm("lstm")),
                "gru": make(_lstm("gru")),
            },
            reps,
        )
        rows.append(_row(rid, f"{name} {mode}", t, goal=goal, sigmoid_floor=floor))
    return rows


def bench_cfc(rid, units, reps, goals):
    ours, theirs = _ncps_pair("cfc", units)
    x, target = torch.randn(BATCH, STEPS, FEATURES), torch.randn(BATCH, STEPS, 64)
    rows = []
    for mode in ("train", "infer"):
        make = (
            (lambda m: _train_step(m, x, target))
            if mode == "train"
            else (lambda m: _infer_step(m, x))
        )
        t = race(
            {
                "liquidtorch": make(ours),
                "ncps": make(theirs),
                "lstm": make(_lstm("lstm")),
                "gru": make(_lstm("gru")),
            },
            reps,
        )
        rows.append(_row(rid, f"CfC {units} {mode}", t, goal=goals[mode]))
    return rows


def bench_streaming(reps):
    """S5: one step at batch 1 through the public streaming API vs ncps's cell step."""
    rows = []
    for kind, units, inputs in (("ltc", (19, 1), 32), ("cfc", 19, 32)):
        ours, theirs = _ncps_pair(kind, units, input_size=inputs)
        x = torch.randn(1, inputs)
        h = torch.zeros(1, ours.state_size)
        cell = theirs.rnn_cell

        def step_ours(ours=ours, x=x, h=h):
            with torch.no_grad():
                ours.step(x, h)

        def step_theirs(cell=cell, x=x, h=h):
            with torch.no_grad():
                cell(x, h, 1.0)

        t = race({"liquidtorch": step_ours, "ncps": step_theirs}, reps * 4, block=50)
        rows.append(
            _row(
                "S5",
                f"{kind.upper()} {units} streaming step (batch 1)",
                t,
                goal=">= 5x lower latency",
            )
        )
    return rows


def _saved_bytes(model, steps: int) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass of one forward of
    ``steps`` steps: the activation memory of a training step, which is what grows with the
    sequence (parameters and optimiser state do not)."""
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    x = torch.randn(BATCH, steps, FEATURES)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = model(x)[0]
    y.sum().backward()  # the step completes (and frees what was saved)
    return sum(seen.values())


def bench_memory(full: bool):
    """S6. ncps keeps every dense (batch, units, units) intermediate of every unfold: ~15 GB
    at 1000 steps, so unless --full it is measured at 125 and 250 steps and extrapolated
    linearly (its activation memory is linear in the number of steps; both points are
    reported)."""
    ours_model, theirs_model = _ncps_pair("ltc", (64, 4))
    ours = _saved_bytes(ours_model, 1000)
    if full:
        theirs, note = _saved_bytes(theirs_model, 1000), "measured"
    else:
        a, b = _saved_bytes(theirs_model, 125), _saved_bytes(theirs_model, 250)
        theirs = b + (b - a) / 125 * 750
        note = (
            f"ncps extrapolated from {a / 2**20:.0f} MiB at 125 and {b / 2**20:.0f} MiB "
            "at 250 steps"
        )
    return [
        {
            "id": "S6",
            "what": "LTC AutoNCP(64,4), 1000 steps: memory saved for backward",
            "bytes": {"liquidtorch": ours, "ncps": theirs},
            "ratio": theirs / max(ours, 1),
            "goal": "<= 1/4 of ncps",
            "note": note,
        }
    ]


def bench_scaling(reps):
    """S7: time vs sequence length, and LTC time vs synapses (not units squared)."""
    from liquidtorch import LTC, AutoNCP, CfC

    lengths = [100, 500, 1000, 2000]
    out = {"lengths": lengths}
    for name, model in (("ltc", LTC(FEATURES, AutoNCP(32, 4))), ("cfc", CfC(FEATURES, 32))):
        t = [
            race({"m": _infer_step(model, torch.randn(BATCH, n, FEATURES))}, reps)["m"]
            for n in lengths
        ]
        out[f"{name}_seconds"] = t
        out[f"{name}_length_exponent"] = float(np.polyfit(np.log(lengths), np.log(t), 1)[0])
    units = [16, 32, 64, 128, 256]
    t, syn = [], []
    for n in units:
        model = LTC(FEATURES, AutoNCP(n, 4))
        w = model.cell.wiring
        syn.append(w.synapse_count + w.sensory_synapse_count)
        t.append(race({"m": _infer_step(model, torch.randn(BATCH, STEPS, FEATURES))}, reps)["m"])
    out.update(units=units, synapses=syn, ltc_units_seconds=t)
    out["ltc_synapse_exponent"] = float(np.polyfit(np.log(syn), np.log(t), 1)[0])
    out["ltc_units_exponent"] = float(np.polyfit(np.log(units), np.log(t), 1)[0])
    return [
        {
            "id": "S7",
            "what": "scaling",
            **out,
            "goal": "linear in length; LTC cost ~ synapses, not units^2",
        }
    ]


# ------------------------------------------------------------------------------ report
def _fmt_time(s):
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} us"


def render(rows) -> str:
    lines = [
        "| id | benchmark | liquidtorch | ncps 1.0.1 | LSTM(8,64) | GRU(8,64) | "
        "ncps / ours | ours / LSTM | goal |",
        "|" + "---|" * 9,
    ]
    for r in rows:
        if "seconds" in r:
            s = r["seconds"]
            lstm = s.get("lstm")
            cells = [
                _fmt_time(s["liquidtorch"]),
                _fmt_time(s["ncps"]),
                _fmt_time(lstm) if lstm else "",
                _fmt_time(s["gru"]) if "gru" in s else "",
                f"{r['ratio']:.1f}x",
                f"{s['liquidtorch'] / lstm:.2f}x" if lstm else "",
            ]
            what = r["what"]
            if "sigmoid_floor" in r:
                what += f" (sigmoid floor {_fmt_time(r['sigmoid_floor'])})"
        elif "bytes" in r:
            b = r["bytes"]
            cells = [
                f"{b['liquidtorch'] / 2**20:.1f} MiB",
                f"{b['ncps'] / 2**20:.0f} MiB",
                "",
                "",
                f"{r['ratio']:.0f}x",
                "",
            ]
            what = f"{r['what']} ({r['note']})"
        else:
            what = (
                f"length exponent LTC {r['ltc_length_exponent']:.2f}, CfC "
                f"{r['cfc_length_exponent']:.2f}; LTC time vs synapses exponent "
                f"{r['ltc_synapse_exponent']:.2f} (vs units {r['ltc_units_exponent']:.2f})"
            )
            cells = [""] * 6
        lines.append(f"| {r['id']} | {what} | " + " | ".join(cells) + f" | {r['goal']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="ids to run, e.g. S1 S3")
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    parser.add_argument("--full", action="store_true", help="S6: measure ncps at 1000 steps")
    parser.add_argument("--json", default=str(Path(__file__).with_name("speed.json")))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    reps = 3 if args.quick else 15
    suites = {
        "S1": lambda: bench_ltc("S1", (32, 4), reps, ">= 10x faster", ">= 20x faster"),
        "S2": lambda: bench_ltc("S2", ("fc", 32, 4), reps, ">= 3x faster", ""),
        "S3": lambda: bench_cfc("S3", 32, reps, {"train": "<= 2x LSTM", "infer": "<= 2x LSTM"}),
        "S4": lambda: bench_cfc("S4", (32, 4), reps, {"train": ">= 5x faster", "infer": ""}),
        "S5": lambda: bench_streaming(reps),
        "S6": lambda: bench_memory(args.full),
        "S7": lambda: bench_scaling(max(3, reps // 3)),
    }
    rows = []
    for rid, fn in suites.items():
        if args.only is None or rid in args.only:
            rows += fn()
            print(render(rows[-1:]).splitlines()[-1], flush=True)
    table = render(rows)
    print("\n" + table)
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
    }
    Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
