"""Speed suite S1-S9: liquidtorch vs ncps 1.0.1 vs torch.nn.LSTM/GRU, and epoch times.

Ratios are taken in one process, on the same data, alternating the contenders, as the median
of several repetitions after a warm-up. ncps models are created first and converted with
``from_ncps`` so both start from the same weights. S8: mixed memory (an LSTM in front of
the cell); S9: seconds per training epoch (the project's Trainer, the task's defaults) on
the real tasks ``watch`` and ``halfcheetah`` for every zoo model. Every row records the load
average (``os.getloadavg``) before and after it: the machine is shared.

    python benchmarks/speed.py                    # everything: tables + benchmarks/speed.json
    python benchmarks/speed.py --only S1,S3       # some suites (also --only S1 S3)
    python benchmarks/speed.py --quick            # few repetitions, short epochs (smoke test)
    python benchmarks/speed.py --markdown out.md  # also write the tables as markdown
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from epochs import bench_epochs, is_liquid, render_epochs

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


def race(
    contenders: dict, reps: int, warmup: int = 2, block: int = 1, max_seconds: float | None = None
) -> dict[str, float]:
    """Median seconds per call of each contender, interleaving them rep by rep; a rep runs
    ``block`` consecutive calls (for microsecond-scale calls, so that one contender's thread
    pool wake-ups do not land in the other's timing). ``max_seconds``: stop after the rep
    that passes this much time (at least 3 reps; for very slow contenders)."""
    for fn in contenders.values():
        for _ in range(warmup * block):
            fn()
    times = {name: [] for name in contenders}
    start = time.perf_counter()
    for rep in range(reps):
        if max_seconds is not None and rep >= 3 and time.perf_counter() - start > max_seconds:
            break
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


def bench_ltc(rid, units, reps, goal_train, goal_infer, label="", max_seconds=None, **kw):
    ours, theirs = _ncps_pair("ltc", units, **kw)
    x, target = torch.randn(BATCH, STEPS, FEATURES), torch.randn(BATCH, STEPS, 64)
    cell = getattr(ours.cell, "cell", ours.cell)  # the LTC cell inside a mixed-memory cell
    synapses = cell.wiring.synapse_count + cell.wiring.sensory_synapse_count
    unfolds = cell.solver.unfolds
    floor = _sigmoid_floor(STEPS * unfolds * BATCH * synapses, reps)
    name = f"LTC {units}{label}"
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
            warmup=1 if max_seconds else 2,
            max_seconds=max_seconds,
        )
        rows.append(_row(rid, f"{name} {mode}", t, goal=goal, sigmoid_floor=floor))
    return rows


def bench_cfc(rid, units, reps, goals, label="", max_seconds=None, **kw):
    ours, theirs = _ncps_pair("cfc", units, **kw)
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
            warmup=1 if max_seconds else 2,
            max_seconds=max_seconds,
        )
        rows.append(_row(rid, f"CfC {units}{label} {mode}", t, goal=goals[mode]))
    return rows


def bench_streaming(reps):
    """S5: one step at batch 1 through the public streaming APIs (``layer.step``, live
    weights; ``FrozenStep``, copied weights) vs ncps's cell step."""
    from liquidtorch import FrozenStep

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

        lstm_cell, xc = torch.nn.LSTMCell(FEATURES, 64), torch.randn(1, FEATURES)

        def step_lstm_cell(cell=lstm_cell, x=xc):
            with torch.no_grad():
                cell(x)

        frozen = FrozenStep(ours)

        def step_frozen(frozen=frozen, x=x, h=h):
            frozen(x, h)

        t = race(
            {
                "liquidtorch": step_ours,
                "frozen": step_frozen,
                "ncps": step_theirs,
                "lstm_cell": step_lstm_cell,
            },
            reps * 4,
            block=50,
        )
        live = {k: v for k, v in t.items() if k != "frozen"}
        for what, times in (
            ("streaming step, layer.step", live),
            ("frozen step, FrozenStep", {**live, "liquidtorch": t["frozen"]}),
        ):
            rows.append(
                _row(
                    "S5",
                    f"{kind.upper()} {units} {what} (batch 1, tensors; LSTM column: "
                    "LSTMCell(8, 64))",
                    times,
                    goal=">= 10x lower latency; <= LSTMCell(8, 64)",
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
            "goal": "<= 1/100 of ncps",
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


# ------------------------------------------------------------------------- goals
def _ratio(r, num, den):
    s = r["seconds"]
    return s[num] / s[den] if num in s and den in s else None


def goal_checks(rows) -> list[tuple[str, str, str, str, bool]]:
    """The round-two goals: (id, measure, measured, goal, met) for each row that has one."""
    out = []

    def check(rid, measure, value, goal, ok, fmt="{:.2f}x"):
        out.append((rid, measure, fmt.format(value), goal, bool(ok)))

    for r in rows:
        rid, what = r["id"], r["what"]
        if rid in ("S1", "S2", "S3", "S4", "S8") and "seconds" in r:
            speedup = _ratio(r, "ncps", "liquidtorch")
            vs_lstm = _ratio(r, "liquidtorch", "lstm")
            train = what.endswith("train")
            if rid == "S1":
                need = 50 if train else 30
                check(rid, f"{what}: ncps / ours", speedup, f">= {need}x", speedup >= need)
                if train:
                    check(rid, f"{what}: ours / LSTM", vs_lstm, "<= 1.0x", vs_lstm <= 1.0)
            elif rid == "S2" and train:
                floor = r["seconds"]["liquidtorch"] / r["sigmoid_floor"]
                check(rid, f"{what}: ncps / ours", speedup, ">= 10x", speedup >= 10)
                check(rid, f"{what}: ours / sigmoid floor", floor, "<= 3x", floor <= 3)
            elif rid == "S3":
                check(rid, f"{what}: ours / LSTM", vs_lstm, "<= 1.25x", vs_lstm <= 1.25)
            elif rid == "S4" and train:
                check(rid, f"{what}: ncps / ours", speedup, ">= 25x", speedup >= 25)
                check(rid, f"{what}: ours / LSTM", vs_lstm, "<= 0.6x", vs_lstm <= 0.6)
            elif rid == "S8" and train:
                limit = 3.0 if what.startswith("LTC") else 2.5
                check(rid, f"{what}: ours / LSTM", vs_lstm, f"<= {limit}x", vs_lstm <= limit)
        elif rid == "S5":
            speedup = _ratio(r, "ncps", "liquidtorch")
            vs_cell = _ratio(r, "liquidtorch", "lstm_cell")
            check(rid, f"{what}: ncps / ours", speedup, ">= 10x", speedup >= 10)
            if vs_cell is not None:
                check(rid, f"{what}: ours / LSTMCell", vs_cell, "<= 1.0x", vs_cell <= 1.0)
        elif rid == "S6":
            check(rid, r["what"], r["ratio"], ">= 100x less", r["ratio"] >= 100, "{:.0f}x less")
        elif rid == "S7":
            worst = max(r["ltc_length_exponent"], r["cfc_length_exponent"])
            check(rid, "time ~ length^k, worst k", worst, "k <= 1.15", worst <= 1.15, "{:.2f}")
            syn = r["ltc_synapse_exponent"]
            check(rid, "LTC time ~ synapses^k", syn, "k <= 1.2", syn <= 1.2, "{:.2f}")
        elif rid == "S9":
            for name, ratio in r["ratio_to_lstm"].items():
                if is_liquid(name):
                    check(rid, f"{r['task']}: {name} / LSTM per epoch", ratio, "<= 1.5x",
                          ratio <= 1.5)  # fmt: skip
    return out


def render_goals(rows) -> str:
    lines = ["| id | measure | measured | goal | met |", "|---|---|---|---|---|"]
    for rid, measure, value, goal, ok in goal_checks(rows):
        lines.append(f"| {rid} | {measure} | {value} | {goal} | {'yes' if ok else '**no**'} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ report
def _fmt_time(s):
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} us"


def render_compare(before: dict, after: dict) -> str:
    """The goals of two runs (the JSON of each) side by side: measured before and after."""
    old = {(rid, m): (v, ok) for rid, m, v, _, ok in goal_checks(before["rows"])}
    new = goal_checks(after["rows"])
    lines = ["| id | measure | goal | before | after | met |", "|---|---|---|---|---|---|"]
    for rid, measure, value, goal, ok in new:
        was = old.get((rid, measure), ("", None))[0]
        lines.append(
            f"| {rid} | {measure} | {goal} | {was} | {value} | {'yes' if ok else '**no**'} |"
        )
    return "\n".join(lines)


def _load(r) -> str:
    a, b = r.get("load", (None, None))
    return "" if a is None else f"{a:.1f} / {b:.1f}"


def render(rows) -> str:
    """The kernel benchmarks (S1-S8) as one table; S9 is :func:`render_epochs`."""
    lines = [
        "| id | benchmark | liquidtorch | ncps 1.0.1 | LSTM(8,64) | GRU(8,64) | "
        "ncps / ours | ours / LSTM | goal | load before / after |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        if r["id"] == "S9":
            continue
        if "seconds" in r:
            s = r["seconds"]
            lstm = s.get("lstm", s.get("lstm_cell"))
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
        lines.append(
            f"| {r['id']} | {what} | " + " | ".join(cells) + f" | {r['goal']} | {_load(r)} |"
        )
    return "\n".join(lines)


def render_all(rows, meta) -> str:
    """Everything as markdown: the settings, the kernel table, S9, the goals."""
    parts = [
        f"torch {meta['torch']}, Python {meta['python']}, {meta['machine']}, "
        f"{meta['threads']} torch threads, {meta['cpus']} CPUs"
        + (", denormals flushed" if meta.get("flush_denormal") else "")
        + (
            ""
            if "epochs_flushed" not in meta
            else ", S9 with denormals flushed (as Trainer.fit)"
            if meta["epochs_flushed"]
            else ", S9 with denormals left on"
        )
        + "; load average (1 min) "
        f"{_load({'load': meta['load']})} at start / end; {meta['started']} to {meta['ended']}"
        + (" (quick mode)" if meta["quick"] else ""),
    ]
    if any(r["id"] != "S9" for r in rows):
        parts.append(render(rows))
    if any(r["id"] == "S9" for r in rows):
        parts.append(render_epochs(rows))
    parts.append(render_goals(rows))
    return "\n\n".join(parts) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory, fsync, rename."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


SUITES = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9")


def _suites(only: list[str] | None) -> list[str]:
    if not only:
        return list(SUITES)
    chosen = [s.strip().upper() for item in only for s in item.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SUITES))
    if unknown:
        raise SystemExit(f"Error: unknown suites {unknown}; use some of {', '.join(SUITES)}")
    return [s for s in SUITES if s in chosen]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="suites, e.g. S1,S3 or S1 S3")
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    parser.add_argument("--full", action="store_true", help="S6: measure ncps at 1000 steps")
    parser.add_argument("--threads", type=int, default=2, help="torch (and numba) threads")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 15)")
    parser.add_argument("--epoch-reps", type=int, default=None, help="S9 epochs (default 3)")
    parser.add_argument(
        "--epoch-budget",
        type=float,
        default=15.0,
        help="S9: a model whose epoch would take longer runs part of it (seconds, default 15)",
    )
    parser.add_argument("--models", default=None, help="S9: comma-separated zoo models")
    parser.add_argument(
        "--flush-denormal",
        action="store_true",
        help="torch.set_flush_denormal(True) for the whole run (denormal floats -> 0)",
    )
    parser.add_argument(
        "--epochs-unflushed",
        action="store_true",
        help="S9: train with denormals left on (by default flushed, as Trainer.fit does)",
    )
    parser.add_argument("--json", default=str(Path(__file__).with_name("speed.json")))
    parser.add_argument("--markdown", default=None, help="also write the tables here")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("BEFORE", "AFTER"),
        help="print the goals of two JSON results side by side (runs nothing)",
    )
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(Path(f).read_text()) for f in args.compare)
        print(render_compare(before, after))
        return
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    torch.manual_seed(0)
    reps = args.reps or (3 if args.quick else 15)
    epoch_reps = args.epoch_reps or (1 if args.quick else 3)
    models = None if args.models is None else args.models.split(",")
    mixed = {"mixed_memory": True}
    suites = {
        "S1": lambda: bench_ltc("S1", (32, 4), reps, ">= 50x ncps, <= 1.0x LSTM", ">= 30x"),
        "S2": lambda: bench_ltc("S2", ("fc", 32, 4), reps, ">= 10x ncps, <= 3x floor", ""),
        "S3": lambda: bench_cfc("S3", 32, reps, {"train": "<= 1.25x LSTM", "infer": "<= 1.25x"}),
        "S4": lambda: bench_cfc("S4", (32, 4), reps, {"train": ">= 25x, <= 0.6x", "infer": ""}),
        "S5": lambda: bench_streaming(reps),
        "S6": lambda: bench_memory(args.full),
        "S7": lambda: bench_scaling(max(3, reps // 3)),
        "S8": lambda: bench_cfc(
            "S8", 32, reps, {"train": "<= 2.5x LSTM", "infer": ""}, " mixed memory", 120, **mixed
        )
        + bench_ltc("S8", 32, reps, "<= 3x LSTM", "", " mixed memory (ltc_mixed)", 120, **mixed),
        "S9": lambda: bench_epochs(
            epoch_reps, args.quick, args.epoch_budget, models, flush=not args.epochs_unflushed
        ),
    }  # fmt: skip
    started, load_start = time.strftime("%Y-%m-%d %H:%M:%S"), os.getloadavg()[0]
    rows = []
    for rid in _suites(args.only):
        before = os.getloadavg()[0]
        new = suites[rid]()
        after = os.getloadavg()[0]
        for r in new:
            r["load"] = [before, after]
        rows += new
        print(render_epochs(new) if rid == "S9" else "\n".join(render(new).splitlines()[2:]),
              flush=True)  # fmt: skip
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "flush_denormal": args.flush_denormal,
        "epochs_flushed": not args.epochs_unflushed,
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "reps": reps,
        "epoch_reps": epoch_reps,
        "started": started,
        "ended": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load": [load_start, os.getloadavg()[0]],
    }
    text = render_all(rows, meta)
    print("\n" + text)
    _write_atomic(Path(args.json), json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {args.json}")
    if args.markdown:
        _write_atomic(Path(args.markdown), text)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
