"""The quick-start demo runs and its models learn (a broken training loop fails here)."""

import math
import os
import subprocess
import sys
from pathlib import Path

from liquidtorch.demo import format_table, run_demo

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"name", "params", "synapses", "initial_loss", "train_loss", "test_loss"}
KEYS |= {"baseline_loss", "seconds"}


def test_run_demo_quick_learns():
    lines = []
    results = run_demo(quick=True, seed=0, log=lines.append)
    assert [r["name"] for r in results] == ["LTC", "CfC"]
    for r in results:
        assert set(r) == KEYS
        assert r["params"] > 0 and r["synapses"] > 0
        losses = [r[k] for k in ("initial_loss", "train_loss", "test_loss", "baseline_loss")]
        assert all(math.isfinite(v) for v in losses)
        assert r["test_loss"] < r["initial_loss"], r
    assert any("Liquid time constants" in line for line in lines)
    assert "test loss" in format_table(results).splitlines()[0]


def test_module_entry_point_quick():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "liquidtorch.demo", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    header = "model  params  synapses  loss before  train loss  test loss  baseline  seconds"
    assert header in proc.stdout
