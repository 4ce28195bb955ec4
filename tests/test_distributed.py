"""Data-parallel training with DDP in two CPU processes (gloo)."""

import functools

import pytest
import torch
import torch.distributed as dist
from toy_task import toy_task  # noqa: I001

from liquidtorch.train import TrainConfig, fit_distributed, task_loss, task_metric
from liquidtorch.zoo import build_model

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)


TASK = toy_task(held_out=16)


@pytest.mark.distributed
@pytest.mark.slow
def test_two_gloo_processes(tmp_path):
    config = TrainConfig(epochs=6, batch_size=8, lr=1e-2, seed=1, run_dir=tmp_path, progress=False)
    result = fit_distributed(
        # module-level callables: the workers receive them by pickling
        functools.partial(build_model, "cfc_ncp", TASK, units=8),
        task_loss(TASK),
        TASK.train,
        config,
        world_size=2,
        val_data=TASK.val,
        metric_fn=task_metric(TASK),
        threads_per_process=1,
    )
    assert result.epochs_run == 6
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    assert len(result.rank_states) == 2
    for k, v in result.rank_states[0].items():
        assert torch.equal(v, result.rank_states[1][k]), k
    files = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "metrics.csv", "best.pt", "last.pt"} <= files
    model = build_model("cfc_ncp", TASK, units=8)
    model.load_state_dict(result.state_dict)
