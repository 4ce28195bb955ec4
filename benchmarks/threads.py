"""Thread study: 1 against 2 threads (torch and numba) for a training epoch on ``watch``.

For each model, in one process, the two thread counts alternate rep by rep (median of the
reps), first on the machine as it is, then with competing busy processes this script
starts (a Python loop burning a core each) and stops. Each condition records the load
average. Epochs are timed on a share of the data and scaled to a whole epoch (as S9 of
``speed.py`` does for slow models), so the study fits in a few minutes.

    NUMBA_NUM_THREADS=2 python benchmarks/threads.py --json /tmp/threads.json

(numba cannot run more threads than ``NUMBA_NUM_THREADS`` allows at its start.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from epochs import _epoch_runner  # noqa: E402
from speed import _write_atomic  # noqa: E402

from liquidtorch._threads import configure_threads  # noqa: E402

BUSY = "while True: pass"


def study(models, share: float, reps: int, competitors: int) -> dict:
    """Seconds per (scaled) epoch of each model at 1 and 2 threads with ``competitors``
    extra busy processes running."""
    from liquidtorch.data import get_task

    task = get_task("watch")
    runners = {n: _epoch_runner(n, task, quick=False)[0] for n in models}
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(competitors)]
    try:
        time.sleep(2.0 if competitors else 0.0)
        load_before = os.getloadavg()[0]
        for n in models:  # warm-up at both counts (numba compiles, pools start)
            for threads in (1, 2):
                configure_threads(threads)
                runners[n](1 / 50)
        times = {n: {1: [], 2: []} for n in models}
        for rep in range(reps):
            for n in models:
                for threads in (1, 2) if rep % 2 == 0 else (2, 1):
                    configure_threads(threads)
                    times[n][threads].append(runners[n](share))
        load_after = os.getloadavg()[0]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    seconds = {n: {t: statistics.median(v) for t, v in d.items()} for n, d in times.items()}
    return {
        "competitors": competitors,
        "load": [load_before, load_after],
        "seconds": seconds,
        "speedup_2_threads": {n: s[1] / s[2] for n, s in seconds.items()},
    }


def render(results) -> str:
    lines = [
        "| condition | load before / after | model | 1 thread s/epoch | 2 threads s/epoch "
        "| 2 threads speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        what = f"+{r['competitors']} busy process" + ("es" if r["competitors"] > 1 else "")
        what = "as it is" if r["competitors"] == 0 else what
        load = f"{r['load'][0]:.1f} / {r['load'][1]:.1f}"
        for n, s in r["seconds"].items():
            lines.append(
                f"| {what} | {load} | {n} | {s[1]:.2f} | {s[2]:.2f} | "
                f"{r['speedup_2_threads'][n]:.2f}x |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lstm,cfc,cfc_ncp,ltc_ncp")
    parser.add_argument("--share", type=float, default=0.25, help="share of an epoch timed")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--competitors", default="0,1", help="busy processes per condition")
    parser.add_argument("--json", default="/tmp/threads.json")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    results = []
    for c in (int(c) for c in args.competitors.split(",")):
        results.append(study(models, args.share, args.reps, c))
        print(render(results[-1:]), flush=True)
    text = render(results)
    print("\n" + text)
    _write_atomic(Path(args.json), json.dumps({"cpus": os.cpu_count(), "results": results}))


if __name__ == "__main__":
    main()
