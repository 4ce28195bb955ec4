"""MuJoCo kinematics tasks: real next-observation targets, rollout splits, irregular frames."""

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco")
gym = pytest.importorskip("gymnasium")

from liquidtorch.data import get_task, mujoco  # noqa: E402

SMALL = {"n_rollouts": 6, "rollout_length": 120, "seq_len": 16}
OBS = 17


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "cache"))


def _raw(env, seed=0, **opts):
    o = {**SMALL, **opts}
    return mujoco.rollouts(
        env, n_rollouts=o["n_rollouts"], rollout_length=o["rollout_length"], seed=seed
    )


def _locate(task, raw):
    """Map every step of every split back to (rollout, time) through its (unscaled) action.

    Returns {split: (rollout (n, L), time (n, L))}. Actions are continuous random values,
    so a 6-vector identifies its step; each match is checked to be unique.
    """
    actions = raw["actions"].float()
    index = {}
    for r in range(actions.shape[0]):
        for t in range(actions.shape[1]):
            key = actions[r, t].numpy().tobytes()
            assert key not in index, "actions are not unique: cannot locate steps"
            index[key] = (r, t)
    out = {}
    for name in ("train", "val", "test"):
        x = getattr(task, name).x
        where = [
            [index[x[i, s, OBS:].numpy().tobytes()] for s in range(x.shape[1])]
            for i in range(len(x))
        ]
        w = torch.tensor(where)
        out[name] = (w[..., 0], w[..., 1])
    return out


def _train_stats(raw, train_rollouts):
    obs = raw["obs"][sorted(train_rollouts)].reshape(-1, OBS)
    return obs.mean(0), obs.std(0)


def test_shapes_and_metadata():
    task = mujoco.halfcheetah(**SMALL)
    assert task.input_size == 23 and task.output_size == 17 and task.per_step
    assert task.metric.value == "mse" and not task.irregular
    # 6 rollouts -> 4/1/1; training windows overlap (stride 4), the others tile.
    assert task.train.x.shape == (4 * 27, 16, 23)
    assert task.val.x.shape == (7, 16, 23) and task.test.x.shape == (7, 16, 23)
    assert task.train.y.shape == (4 * 27, 16, 17)
    assert task.train.timespans is None and task.train.lengths is None
    assert task.train.x.dtype == torch.float32 and task.train.y.dtype == torch.float32
    assert "standardised" in task.description


def test_target_is_the_next_observation_and_splits_are_by_rollout():
    task = mujoco.halfcheetah(**SMALL)
    raw = _raw("halfcheetah")
    where = _locate(task, raw)
    rollouts = {name: set(r.flatten().tolist()) for name, (r, _) in where.items()}
    assert not rollouts["train"] & rollouts["val"]
    assert not rollouts["train"] & rollouts["test"]
    assert not rollouts["val"] & rollouts["test"]
    assert set().union(*rollouts.values()) == set(range(SMALL["n_rollouts"]))
    mean, std = _train_stats(raw, rollouts["train"])
    for name, (r, t) in where.items():
        split = getattr(task, name)
        # consecutive steps of a window are consecutive simulator steps of one rollout
        assert (r == r[:, :1]).all() and (t.diff(dim=1) == 1).all()
        obs_now = ((raw["obs"][r, t] - mean) / std).float()
        obs_next = ((raw["obs"][r, t + 1] - mean) / std).float()
        torch.testing.assert_close(split.x[..., :OBS], obs_now, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(split.y, obs_next, atol=1e-5, rtol=1e-5)
    # train statistics: the training inputs are standardised
    flat = task.train.x[..., :OBS].reshape(-1, OBS)
    assert flat.mean(0).abs().max() < 0.3 and (flat.std(0) - 1).abs().max() < 0.3


def test_rollouts_replay_in_a_fresh_env(tmp_path, monkeypatch):
    """The cached rollout is exactly what the simulator gives for the recorded actions."""
    raw = _raw("halfcheetah")
    monkeypatch.chdir(tmp_path)  # MuJoCo may append a model warning to ./MUJOCO_LOG.TXT
    env = gym.make("HalfCheetah-v5")
    try:
        for i in (0, 5):
            obs, _ = env.reset(seed=int(raw["reset_seeds"][i]))
            np.testing.assert_array_equal(obs, raw["obs"][i, 0].numpy())
            for t in range(SMALL["rollout_length"]):
                obs, *_ = env.step(raw["actions"][i, t].numpy())
                np.testing.assert_array_equal(obs, raw["obs"][i, t + 1].numpy())
    finally:
        env.close()


def test_actions_are_gait_like_with_five_percent_noise():
    steps = 20_000
    args = (steps, 6, 0.05, (0.5, 3.0))
    smooth = mujoco.gait_actions(np.random.default_rng(0), *args, noise_fraction=0.0)
    noisy = mujoco.gait_actions(np.random.default_rng(0), *args, noise_fraction=0.05)
    assert smooth.min() >= -1 and smooth.max() <= 1 and smooth.std() > 0.3
    # correlated in time (white noise would give a lag-1 autocorrelation of 0)
    lag1 = np.mean([np.corrcoef(smooth[:-1, j], smooth[1:, j])[0, 1] for j in range(6)])
    assert lag1 > 0.6
    changed = (noisy != smooth).any(axis=1).mean()
    assert 0.04 < changed < 0.06


def test_deterministic_per_seed(tmp_path, monkeypatch):
    a = mujoco.halfcheetah(seed=3, **SMALL)
    monkeypatch.setenv("LIQUIDTORCH_CACHE", str(tmp_path / "other"))  # regenerate
    b = mujoco.halfcheetah(seed=3, **SMALL)
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(a, name).x, getattr(b, name).x)
        assert torch.equal(getattr(a, name).y, getattr(b, name).y)
    c = mujoco.halfcheetah(seed=4, **SMALL)
    assert not torch.equal(a.train.x[:, :, :OBS], c.train.x[:, :, :OBS])
    assert not torch.equal(_raw("halfcheetah", seed=3)["obs"], _raw("halfcheetah", seed=4)["obs"])


def test_cache_is_reused(tmp_path, monkeypatch):
    first = mujoco.halfcheetah(**SMALL)
    files = sorted((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].name.startswith("mujoco_halfcheetah-")

    def no_env(env):
        raise AssertionError("the simulator ran although the rollouts are cached")

    monkeypatch.setattr(mujoco, "_make_env", no_env)
    again = mujoco.halfcheetah(**SMALL)
    assert torch.equal(first.test.y, again.test.y)
    # the irregular variant and another seq_len reuse the same rollouts
    mujoco.halfcheetah_irregular(**{**SMALL, "seq_len": 8})
    assert sorted((tmp_path / "cache").iterdir()) == files
    with pytest.raises(AssertionError, match="simulator ran"):
        mujoco.halfcheetah(**{**SMALL, "rollout_length": 121})


def test_irregular_variant():
    task = mujoco.halfcheetah_irregular(**SMALL, drop=0.4)
    assert task.irregular and task.name == "halfcheetah_irregular"
    raw = _raw("halfcheetah")
    where = _locate(task, raw)
    rollouts = {name: set(r.flatten().tolist()) for name, (r, _) in where.items()}
    mean, std = _train_stats(raw, rollouts["train"])
    dropped_some = False
    for name, (r, t) in where.items():
        split = getattr(task, name)
        assert split.timespans.shape == split.x.shape[:2] == split.y.shape[:2]
        assert split.lengths is None
        spans = split.timespans
        assert (spans >= 1).all() and torch.equal(spans, spans.round())
        # the elapsed time is the number of simulator steps since the previous kept frame
        assert torch.equal(spans[:, 1:], t.diff(dim=1).float())
        assert (r == r[:, :1]).all()
        dropped_some |= bool((spans > 1).any())
        # the target is still the observation one simulator step after the input
        obs_next = ((raw["obs"][r, t + 1] - mean) / std).float()
        torch.testing.assert_close(split.y, obs_next, atol=1e-5, rtol=1e-5)
    assert dropped_some
    # about 40 % of the frames are dropped: kept frames of the non-overlapping test windows
    frac_gt1 = float((task.train.timespans > 1).float().mean())
    assert 0.25 < frac_gt1 < 0.55
    regular = mujoco.halfcheetah(**SMALL)
    assert len(task.test) < len(regular.test)


def test_walker2d_small():
    task = mujoco.walker2d(n_rollouts=6, rollout_length=60, seq_len=20)
    assert task.input_size == 23 and task.output_size == 17
    assert task.train.x.shape[1:] == (20, 23)
    assert torch.isfinite(task.train.x).all() and torch.isfinite(task.train.y).all()
    irregular = mujoco.walker2d_irregular(n_rollouts=6, rollout_length=60, seq_len=20, drop=0.3)
    assert irregular.irregular and irregular.train.timespans.shape == (len(irregular.train), 20)


def test_registry_and_option_errors():
    task = get_task("halfcheetah", seed=0, **SMALL)
    assert task.name == "halfcheetah"
    with pytest.raises(ValueError, match="seq_len"):
        mujoco.halfcheetah(n_rollouts=6, rollout_length=10, seq_len=16)
    with pytest.raises(ValueError, match="n_rollouts"):
        mujoco.walker2d(n_rollouts=5, rollout_length=10, seq_len=4)
    with pytest.raises(ValueError, match="drop"):
        mujoco.walker2d_irregular(n_rollouts=6, rollout_length=10, seq_len=4, drop=1.0)
