"""`liquidtorch explain` as a person sees it: the report of a (tiny) run directory, its
figures, and the page rendered in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from liquidtorch.experiments import RunSpec, load_task  # noqa: E402
from liquidtorch.interpret import ExplainOptions, explain_report  # noqa: E402
from liquidtorch.kernels import use_fused  # noqa: E402
from liquidtorch.train import TrainConfig  # noqa: E402
from liquidtorch.zoo import build_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread", "_cache")


@pytest.fixture(scope="module")
def _cache(tmp_path_factory):
    """Task data cached in a temporary folder, not the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIQUIDTORCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


TASK = ("xor_irregular", {"length": 6, "n_samples": 120})  # padded, irregular: every path
SMALL = ExplainOptions(shown=2, fit_sequences=40, test_sequences=18, depths=(1, 2, 3),
                       ig_steps=8, pca_paths=10)  # fmt: skip
PNG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">')


def make_run(path: Path, model: str, units: int = 8) -> Path:
    """A run directory as `liquidtorch train` leaves it, with untrained weights."""
    name, options = TASK
    task = load_task(name, options)
    spec = RunSpec(name, model, units, 0, options)
    path.mkdir(parents=True)
    spec.to_json(path / "cli.json")
    TrainConfig.for_task(task, epochs=1).to_json(path / "config.json")
    torch.save({"model": build_model(model, task, units=units).state_dict()}, path / "best.pt")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory, one_thread, _cache):
    root = tmp_path_factory.mktemp("explain")
    run = make_run(root / "ltc", "ltc_ncp")
    base = make_run(root / "lstm", "lstm")
    # The reference loops: for 7-step sequences of 8 neurons they are instant, where the
    # fused kernels would first be compiled (numba, once per process: slow on a busy
    # machine). The robustness section has its own slow test.
    with use_fused(False):
        return explain_report(
            run, baseline=base, out=root / "report.html", options=SMALL, robustness=False
        )


def test_report_is_self_contained_with_every_section(report):
    text = report.path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    for title in ("Wiring", "Neuron activity", "Principal components", "Decision trees",
                  "Input attribution"):  # fmt: skip
        assert f"<h2>{title}" in text
    assert "<h2>Robustness" not in text
    # Nothing external and no scripts: opens offline anywhere.
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert re.findall(r'src="([^"]*)"', text) and all(
        s.startswith("data:image/png;base64,") for s in re.findall(r'src="([^"]*)"', text)
    )
    images = PNG.findall(text)
    # wiring, activity, PCA, fidelity, two trees, attribution
    assert len(images) == report.figures == 7
    for data, alt in images:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000 and alt
    # Both models are compared in the tables.
    assert text.count("<td>lstm</td>") >= 3 and text.count("<td>ltc_ncp</td>") >= 3
    assert oct(report.path.stat().st_mode & 0o777) == "0o644"


def test_report_numbers(report):
    ltc, lstm = report.analyses
    assert ltc.name == "ltc_ncp" and lstm.name == "lstm"
    assert ltc.shown.tau is not None and lstm.shown.tau is None
    assert set(ltc.fidelity) == {1, 2, 3} and all(0 <= v <= 1 for v in ltc.fidelity.values())
    assert ltc.pca_group is not None and ltc.pca_group[0] == "command"
    assert float(ltc.pca_all.explained.sum()) == pytest.approx(1.0)
    attr = ltc.attribution
    assert attr.delta.abs().max() < 0.05 * attr.difference.abs().max() + 1e-3


def test_report_baseline_on_another_task_is_refused(tmp_path):
    from liquidtorch.data import get_task  # noqa: F401  (the other task's data)

    run = make_run(tmp_path / "a", "lstm")
    other = tmp_path / "b"
    other.mkdir()
    RunSpec("xor", "lstm", 8, 0, {"length": 6, "n_samples": 60}).to_json(other / "cli.json")
    task = load_task("xor", {"length": 6, "n_samples": 60})
    TrainConfig.for_task(task, epochs=1).to_json(other / "config.json")
    torch.save({"model": build_model("lstm", task, units=8).state_dict()}, other / "best.pt")
    with pytest.raises(ValueError, match="baseline"):
        explain_report(run, baseline=other, options=SMALL, robustness=False)


@pytest.mark.slow
def test_report_robustness_section(tmp_path):
    run = make_run(tmp_path / "cfc", "cfc_ncp")
    result = explain_report(run, out=tmp_path / "r.html", options=SMALL)
    text = result.path.read_text()
    assert "<h2>Robustness" in text and "<h2>Wiring" in text
    assert result.figures == 7 and len(PNG.findall(text)) == 7  # one tree: no baseline
    assert result.analyses[0].shown.gate is not None  # CfC: time gates instead of tau


# ------------------------------------------------------------------------ the browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars"]  # fmt: skip
# Injected into a copy of the page (the report itself has no scripts): records script
# errors and, once everything has loaded, every image's natural size, into the DOM.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener("load", () => {
  const imgs = [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]);
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: imgs, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp)}
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    text = report.path.read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1))
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, flags=re.S)
    assert found, "the page did not finish loading"
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == []
    assert len(probe["images"]) == report.figures
    for complete, width, height in probe["images"]:  # every figure decoded and laid out
        assert complete and width > 100 and height > 100
    shot = tmp_path / "report.png"
    run = _chromium(
        tmp_path, "--window-size=1200,3000", f"--screenshot={shot}", report.path.as_uri()
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    keep = os.environ.get("LIQUIDTORCH_SCREENSHOT_DIR")  # to look at it: set this folder
    if keep:
        shutil.copy(shot, Path(keep) / "explain_report.png")
