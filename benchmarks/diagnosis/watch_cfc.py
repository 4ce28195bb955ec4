"""Why the dense CfC and the CfC-NCP trail the LSTM on `watch`: targeted measurements.

    OMP_NUM_THREADS=1 python benchmarks/diagnosis/watch_cfc.py grads
    OMP_NUM_THREADS=1 python benchmarks/diagnosis/watch_cfc.py train cfc --tag cfc
    OMP_NUM_THREADS=1 python benchmarks/diagnosis/watch_cfc.py train cfc --head mean --tag cfc_mean

``grads``: the gradient of the loss of a batch of 64 training windows with respect to the
input at every step, ``||dL/dx_t||`` (mean over the batch), for each model at
initialisation: how much the prediction (made at the last step) can learn from step ``t``.

``train MODEL``: trains on `watch` (settings as given; default the zoo's untuned settings,
12 epochs) and records the training and validation curves, the test accuracy, the same
gradient profile after training, and for CfC models the saturation of the time gate
``sigmoid(t_a * dt + t_b)`` and of ``tanh(ff1)``, ``tanh(ff2)`` over the validation set
(reference path). ``--head mean`` scores the mean of the per-step predictions instead of
the last step's. Results: ``benchmarks/diagnosis/results/<tag>.json`` (and the run's
``metrics.csv``); figures under ``docs/img/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

from liquidtorch.train import TrainConfig, Trainer, task_loss, task_metric, write_json_atomic
from liquidtorch.zoo import build_model, effective_parameters, training_defaults

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
IMG = HERE.parent.parent / "docs" / "img"
MODELS = ("lstm", "gru", "cfc", "cfc_ncp", "ltc_ncp", "cfc_mixed")


def load_watch():
    from liquidtorch.data import get_task

    return get_task("watch")


def grad_profile(model, task, *, head: str = "last", n: int = 64) -> list[float]:
    """``||dL/dx_t||`` per step t (mean over ``n`` training windows)."""
    x = task.train.x[:n].clone().requires_grad_(True)
    y = task.train.y[:n]
    model.train()
    out = model(x)
    if head == "mean":
        out = out.mean(1)
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    return x.grad.norm(dim=-1).mean(0).tolist()


def probe(model, task, args, n: int = 64) -> dict[str, float]:
    """After an epoch: the unclipped gradient norm of all parameters on ``n`` training
    windows, in float32 and float64, and the loss there (the training weights are left as
    they are: a float64 copy is used)."""
    import copy

    out = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        m = copy.deepcopy(model).to(dtype)
        m.zero_grad(set_to_none=True)
        logits = m(task.train.x[:n].to(dtype))
        if args.head == "mean":
            logits = logits.mean(1)
        loss = torch.nn.functional.cross_entropy(logits, task.train.y[:n])
        loss.backward()
        norm = torch.sqrt(
            sum((p.grad.double() ** 2).sum() for p in m.parameters() if p.grad is not None)
        )
        out[f"grad_norm_{name}"] = norm.item()
        out[f"loss_{name}"] = loss.item()
    return out


def per_step_model(name: str, task, **kw):
    """The zoo model with a head at every step (for a mean-pooled prediction)."""
    return build_model(name, dataclasses.replace(task, per_step=True), **kw)


def gate_stats(model, task, n: int = 256) -> dict[str, float]:
    """Saturation of a CfC's time gate and candidate tanh's over ``n`` validation windows,
    recorded in the reference path (``closed_form`` wrapped)."""
    from liquidtorch import kernels
    from liquidtorch.cells import cfc as cfc_mod
    from liquidtorch.cells import wired_cfc as wired_mod

    gates, ff1s, ff2s = [], [], []
    original = cfc_mod.closed_form

    def recording(heads, dt, mode, A=None, w_tau=None):
        if heads.shape[-1] % 4 == 0 and str(getattr(mode, "value", mode)) != "pure":
            f1, f2, ta, tb = heads.chunk(4, dim=-1)
            dt_ = dt if isinstance(dt, float) else dt
            gates.append(torch.sigmoid(ta * dt_ + tb).detach().flatten())
            ff1s.append(torch.tanh(f1).detach().flatten())
            ff2s.append(torch.tanh(f2).detach().flatten())
        return original(heads, dt, mode, A, w_tau)

    cfc_mod.closed_form = recording
    wired_mod.closed_form = recording
    try:
        with kernels.use_fused(False), torch.no_grad():
            model.eval()
            model(task.val.x[:n])
    finally:
        cfc_mod.closed_form = original
        wired_mod.closed_form = original
    if not gates:
        return {}
    g, f1, f2 = torch.cat(gates), torch.cat(ff1s), torch.cat(ff2s)
    return {
        "gate_mean": g.mean().item(),
        "gate_below_0.05": (g < 0.05).float().mean().item(),
        "gate_above_0.95": (g > 0.95).float().mean().item(),
        "tanh_ff1_saturated": (f1.abs() > 0.95).float().mean().item(),
        "tanh_ff2_saturated": (f2.abs() > 0.95).float().mean().item(),
    }


def memory_horizon(wiring) -> int | None:
    """Input steps that reach the output of the last step: 1 + the longest chain of
    recurrent synapses (all synapses but those from layer ``l-1`` to layer ``l``, which
    act within a step). ``None``: the recurrent synapses form a cycle (unbounded).

    A wired CfC neuron's next state is recomputed from its synaptic inputs only (no leak
    or own-state term, unlike the LTC), so without a cycle an input is forgotten after
    this many steps: the gradient of the last step's output with respect to earlier inputs
    is exactly zero."""
    import functools

    import numpy as np

    adjacency = wiring.adjacency != 0
    layer_of = {n: i for i, (_, cur) in enumerate(wiring.layers) for n in cur}
    n = adjacency.shape[0]
    rec = np.array(
        [[adjacency[i, j] and layer_of[i] != layer_of[j] - 1 for j in range(n)] for i in range(n)]
    )
    state = [0] * n  # DFS colours: 0 new, 1 on the stack, 2 done

    @functools.cache
    def longest(i: int) -> int:
        return max((1 + longest(j) for j in range(n) if rec[i, j]), default=0)

    def cyclic(i: int) -> bool:
        state[i] = 1
        for j in np.flatnonzero(rec[i]):
            if state[j] == 1 or (state[j] == 0 and cyclic(int(j))):
                return True
        state[i] = 2
        return False

    if any(state[i] == 0 and cyclic(i) for i in range(n)):
        return None
    return 1 + max(longest(i) for i in range(n))  # sensory -> ... -> motor within one step


def command_horizon(args) -> None:
    from liquidtorch.wirings import AutoNCP

    table = {}
    for units in (16, 24, 32, 48, 64):
        for sparsity in (0.1, 0.3, 0.5, 0.7):
            row = []
            for seed in range(22222, 22232):
                spec = AutoNCP(units, min(7, units - 3), sparsity_level=sparsity, seed=seed)
                row.append(memory_horizon(spec.build(6)))
            table[f"{units}/{sparsity}"] = row
            print(units, sparsity, row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_atomic(RESULTS / "horizons.json", table)


def command_grads(args) -> None:
    task = load_watch()
    profiles = {}
    for name in args.models.split(","):
        model = build_model(name, task, seed=0)
        profiles[name] = grad_profile(model, task)
        p = profiles[name]
        print(f"{name}: |dL/dx_t| at t=0 {p[0]:.3g}, t=50 {p[50]:.3g}, t=99 {p[-1]:.3g}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_atomic(RESULTS / "grads_init.json", profiles)
    plot_profiles(profiles, IMG / "watch_grad_through_time_init.png", "at initialisation")


def plot_profiles(profiles: dict[str, list[float]], path: Path, when: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.add_subplot()
    for name, p in profiles.items():
        ax.semilogy(range(len(p)), p, label=name)
    ax.set_xlabel("step t (the prediction is made at the last step)")
    ax.set_ylabel("||dL/dx_t|| (mean over 64 windows)")
    ax.set_title(f"watch: gradient reaching each input step, {when}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def command_train(args) -> None:
    task = load_watch()
    options = json.loads(args.options) if args.options else {}
    build = per_step_model if args.head == "mean" else build_model
    model = build(args.model, task, units=args.units, seed=args.seed, **options)
    defaults = {k: v for k, v in training_defaults(args.model, task).items() if k != "units"}
    overrides = {"epochs": args.epochs, "seed": args.seed, "progress": False}
    for key in ("lr", "weight_decay", "grad_clip", "schedule"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = None if value == "none" else value
    run_dir = RESULTS / "runs" / args.tag
    config = TrainConfig.for_task(task, **(defaults | overrides), run_dir=run_dir)
    forward = None
    if args.head == "mean":

        def forward(m, batch):
            return m(batch["x"]).mean(1)

    kwargs = {"forward_fn": forward} if forward else {}
    trainer = Trainer(
        model, task_loss(task), task.train, task.val, config, metric_fn=task_metric(task), **kwargs
    )
    grad_norms: list[dict[str, float]] = []
    trainer.add_callback("on_epoch_end", lambda t: grad_norms.append(probe(t.model, task, args)))
    started = time.perf_counter()
    result = trainer.fit()
    test = trainer.evaluate(task.test)
    summary = {
        "model": args.model,
        "head": args.head,
        "options": options,
        "units": args.units,
        "config": {k: v for k, v in config.to_dict().items() if k != "run_dir"},
        "parameters": effective_parameters(model),
        "test_accuracy": test.metric,
        "best_epoch": result.best_epoch,
        "best_val": result.best_metric,
        "history": [
            {k: r[k] for k in ("epoch", "train_loss", "val_loss", "val_metric", "lr")}
            for r in result.history
        ],
        "seconds": time.perf_counter() - started,
        "seconds_per_epoch": statistics.fmean(r["seconds"] for r in result.history),
        "grad_profile_trained": grad_profile(model, task, head=args.head),
        "probes": grad_norms,
    }
    if "cfc" in args.model:
        summary["saturation"] = gate_stats(model, task)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json_atomic(RESULTS / f"{args.tag}.json", summary)
    for f in ("best.pt", "last.pt"):  # weights are not kept (the summary is)
        (run_dir / f).unlink(missing_ok=True)
    last = summary["history"][-1]
    print(
        f"{args.tag}: test {test.metric:.4f}, best val {result.best_metric:.4f} "
        f"(epoch {result.best_epoch}), last train loss {last['train_loss']:.3f}, "
        f"saturation {summary.get('saturation')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grads")
    g.add_argument("--models", default=",".join(MODELS))
    t = sub.add_parser("train")
    t.add_argument("model")
    t.add_argument("--tag", required=True)
    t.add_argument("--head", choices=("last", "mean"), default="last")
    t.add_argument("--units", type=int)
    t.add_argument("--options", help="model options as JSON")
    t.add_argument("--epochs", type=int, default=12)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--lr", type=float)
    t.add_argument("--weight-decay", dest="weight_decay", type=float)
    t.add_argument("--grad-clip", dest="grad_clip", type=lambda s: s if s == "none" else float(s))
    t.add_argument("--schedule")
    sub.add_parser("horizon")
    args = parser.parse_args()
    torch.set_num_threads(1)
    commands = {"grads": command_grads, "train": command_train, "horizon": command_horizon}
    commands[args.command](args)


if __name__ == "__main__":
    main()
