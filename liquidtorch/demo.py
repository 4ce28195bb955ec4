"""Quick-start demo: an NCP-wired LTC and an NCP-wired CfC learn a toy sequence task.

Each sequence is a phasor ``[sin(theta_t), cos(theta_t)]`` with a random frequency and phase;
the target is ``sin(2 theta_t)``. Sequences have 48 to 64 steps and are padded to a batch, so
the demo also exercises ``lengths=``. Run ``python -m liquidtorch.demo [--epochs N] [--seed S]``
(well under a minute on a laptop CPU) or call :func:`run_demo`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
from torch import nn

from . import LTC, AutoNCP, CfC

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # x, y, lengths


def make_data(n: int, generator: torch.Generator, min_len: int = 48, max_len: int = 64) -> Data:
    """``n`` padded sequences: x (n, max_len, 2), y (n, max_len, 1), lengths (n,).

    Padded steps hold zeros; they are ignored by the model (``lengths=``) and the loss.
    """
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=generator)
    freq = 0.15 + 0.25 * torch.rand(n, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(n, 1, generator=generator)
    theta = freq * torch.arange(max_len) + phase  # (n, time)
    valid = (torch.arange(max_len) < lengths.unsqueeze(1)).unsqueeze(-1)
    x = torch.stack([theta.sin(), theta.cos()], -1) * valid
    y = torch.sin(2 * theta).unsqueeze(-1) * valid
    return x, y, lengths


def masked_mse(pred: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the valid steps only; pred, y (batch, time, 1)."""
    valid = (torch.arange(y.shape[1]) < lengths.unsqueeze(1)).unsqueeze(-1)
    return ((pred - y) ** 2 * valid).sum() / valid.sum()


@torch.no_grad()
def evaluate(model: nn.Module, data: Data) -> float:
    x, y, lengths = data
    return masked_mse(model(x, lengths=lengths)[0], y, lengths).item()


def train(
    model: nn.Module, train_data: Data, epochs: int, *, batch_size: int, lr: float, seed: int
) -> float:
    """Adam on shuffled minibatches; returns the final loss on the whole training set."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y, lengths = train_data
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=order).split(batch_size):
            opt.zero_grad()
            loss = masked_mse(model(x[idx], lengths=lengths[idx])[0], y[idx], lengths[idx])
            loss.backward()
            opt.step()
    return evaluate(model, train_data)


@torch.no_grad()
def show_ltc(model: LTC, data: Data, log: Callable[[str], None], every: int = 6) -> None:
    """Stream the first test sequence step by step: target vs prediction, and the range of
    the liquid time constants ``tau = cm / (gleak + sum of synaptic conductances)``."""
    x, y, lengths = data
    cell, state, taus = model.cell, None, []
    log("LTC on a test sequence (streamed with step()):")
    log("   step   target  predicted")
    for t in range(int(lengths[0])):
        if state is not None:  # tau at the state the step starts from (zeros at t = 0)
            taus.append(cell.time_constant(x[:1, t], state))
        pred, state = model.step(x[:1, t], state)
        if t % every == 0:
            log(f"   {t:4d}  {y[0, t, 0].item():+7.3f}  {pred[0, 0].item():+9.3f}")
    tau = torch.cat(taus)  # (steps, units)
    lo, hi = tau.amin(0), tau.amax(0)  # per neuron, over time
    log(
        f"Liquid time constants along it: {tau.min().item():.3g} to {tau.max().item():.3g} "
        f"steps across its {tau.shape[1]} neurons;"
    )
    log(f"the most liquid neuron's tau changes {(hi / lo).max().item():.2g}x along the sequence.")


def run_demo(
    epochs: int = 15, seed: int = 0, quick: bool = False, log: Callable[[str], None] = print
) -> list[dict]:
    """Train an NCP-wired LTC and CfC on the toy task; one result dict per model.

    Keys: name, params, synapses (recurrent + sensory), initial_loss (test loss before
    training), train_loss, test_loss (held out), baseline_loss (test loss of the best constant,
    the mean training target), seconds (training plus the final evaluation). ``quick`` uses
    fewer, shorter sequences and 5 epochs, ignoring ``epochs`` (a smoke test, a few seconds).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n_train, n_test, lens = (64, 32, (24, 32)) if quick else (256, 128, (48, 64))
    epochs = 5 if quick else epochs
    train_data, test_data = make_data(n_train, gen, *lens), make_data(n_test, gen, *lens)
    mean = train_data[1].sum() / train_data[2].sum()
    baseline = masked_mse(torch.full_like(test_data[1], mean.item()), *test_data[1:]).item()

    models = {
        "LTC": LTC(2, AutoNCP(16, 1, seed=seed)),
        "CfC": CfC(2, AutoNCP(16, 1, seed=seed)),
    }
    results = []
    for name, model in models.items():
        wiring = model.cell.wiring
        initial = evaluate(model, test_data)
        log(f"Training {name} ({epochs} epochs of {n_train} sequences)...")
        start = time.perf_counter()
        train_loss = train(model, train_data, epochs, batch_size=32, lr=0.02, seed=seed)
        results.append(
            {
                "name": name,
                "params": sum(p.numel() for p in model.parameters()),
                "synapses": wiring.synapse_count + wiring.sensory_synapse_count,
                "initial_loss": initial,
                "train_loss": train_loss,
                "test_loss": evaluate(model, test_data),
                "baseline_loss": baseline,
                "seconds": time.perf_counter() - start,
            }
        )
    show_ltc(models["LTC"], test_data, log)
    return results


# (header, result key, format) of each table column.
COLUMNS = (
    ("model", "name", "s"),
    ("params", "params", "d"),
    ("synapses", "synapses", "d"),
    ("loss before", "initial_loss", ".4f"),
    ("train loss", "train_loss", ".4f"),
    ("test loss", "test_loss", ".4f"),
    ("baseline", "baseline_loss", ".4f"),
    ("seconds", "seconds", ".1f"),
)


def format_table(results: list[dict]) -> str:
    """The results of :func:`run_demo` as a plain-text table, one row per model."""
    rows = [[head for head, _, _ in COLUMNS]]
    rows += [[format(r[key], fmt) for _, key, fmt in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    rows.insert(1, ["-" * w for w in widths])
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and weights")
    parser.add_argument("--quick", action="store_true", help="a very short run (smoke test)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: these small models gain nothing from more)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = run_demo(args.epochs, args.seed, args.quick)
    print()
    print(format_table(results))
    print("Losses are mean squared errors on the valid steps; 'loss before' is the test loss")
    print("of the untrained model, 'baseline' that of always predicting the mean target.")


if __name__ == "__main__":
    main()
