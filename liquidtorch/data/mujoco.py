"""MuJoCo kinematics: predict the next observation of HalfCheetah / Walker2d from the
current observation and action (LTC paper's Half-Cheetah task, CfC paper's Walker2d task).

The papers recorded rollouts of pretrained policies, which cannot be downloaded. Here the
rollouts are generated locally with ``gymnasium`` + ``mujoco`` (headless, CPU) under an
open-loop, gait-like action process and cached: per joint a sinusoid whose frequency,
amplitude, phase and offset drift smoothly and are redrawn every few seconds, plus
Ornstein-Uhlenbeck noise, clipped to the action box; then, as in the LTC paper, 5% of the
actions are overwritten by uniform noise. The recorded action is the one applied.

Step ``t`` of a sequence: input ``[obs_t, action_t]`` (17 + 6 features), target
``obs_{t+1}``. Observations (inputs and targets alike) are standardised with the mean and
standard deviation of the training rollouts; actions stay in [-1, 1]. The metric is the MSE
on the standardised observations. Splits are by rollout (70/15/15 %), so no rollout feeds
two splits. Training windows overlap (stride ``seq_len // 4``); validation and test windows
tile each rollout without overlap. The default of 100 rollouts of 1000 steps (70 for
training) keeps the models from overfitting: with 25 rollouts the validation error of an
LSTM rose from its third epoch on (0.27 to 0.66), with 100 it falls for 30 epochs (0.033).

The ``*_irregular`` variants drop frames at random (probability ``drop``, seeded; the first
frame of a rollout is kept), as in the ODE-LSTM/CfC irregular Walker2d set-up: a kept frame
``t`` still has target ``obs_{t+1}`` (which may itself be dropped from the input stream),
and its timespan is the number of simulator steps since the previous kept frame (1 when
nothing was dropped, larger otherwise).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import torch

from ._registry import register
from ._task import Metric, SequenceData, Task, TaskKind, cached, split_indices

_VERSION = "v1"  # bump when the generated data change
_NOISE_FRACTION = 0.05  # LTC paper: 5% of the actions overwritten by noise
_REQUIREMENT = 'pip install "liquidtorch[data]" (gymnasium[mujoco]==1.4.0, mujoco==4.0.0)'


@dataclass(frozen=True)
class _Env:
    gym_id: str
    make_kwargs: tuple  # ((name, value), ...) for gym.make
    freq_hz: tuple[float, float]  # range of the gait frequency
    summary: str


_ENVS = {
    "halfcheetah": _Env("HalfCheetah-v5", (), (0.5, 3.0), "HalfCheetah-v5"),
    "walker2d": _Env(
        "Walker2d-v5",
        (("terminate_when_unhealthy", False),),
        (0.5, 2.0),
        "Walker2d-v5 (terminate_when_unhealthy=False)",
    ),
}


def _versions() -> str:
    try:
        return f"gymnasium={metadata.version('gymnasium')},mujoco={metadata.version('mujoco')}"
    except metadata.PackageNotFoundError as e:
        raise ModuleNotFoundError(
            f"the MuJoCo tasks need {e.name or 'gymnasium and mujoco'}: {_REQUIREMENT}"
        ) from None


def _make_env(env: str):
    from .._optional import require

    gym = require("gymnasium", "data", feature="the MuJoCo tasks")
    mujoco = require("mujoco", "data", feature="the MuJoCo tasks")

    spec = _ENVS[env]
    # gymnasium's half_cheetah.xml uses the deprecated 'settotalmass'; MuJoCo would print
    # that at every compile and append it to ./MUJOCO_LOG.TXT. Drop that one, pass on others.
    messages: list[str] = []
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(messages.append)
    try:
        made = gym.make(spec.gym_id, disable_env_checker=True, **dict(spec.make_kwargs))
    finally:
        mujoco.set_mju_user_warning(previous)
    for message in messages:
        if "settotalmass" not in message:
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)
    return made


def gait_actions(
    rng: np.random.Generator,
    steps: int,
    action_dim: int,
    dt: float,
    freq_hz: tuple[float, float],
    noise_fraction: float = _NOISE_FRACTION,
) -> np.ndarray:
    """An open-loop gait-like action sequence (steps, action_dim) in [-1, 1].

    Per joint ``offset + amplitude * sin(phase + joint_phase) + OU noise``, where the common
    phase advances at a frequency in ``freq_hz``; frequency, amplitudes, offsets and joint
    phases are redrawn every 1-4 s and approached with a 0.3 s time constant (no jumps).
    Then a fraction ``noise_fraction`` of the steps get a uniform random action instead.
    """

    def draw():
        return (
            rng.uniform(*freq_hz),
            rng.uniform(0.2, 1.0, action_dim),
            rng.uniform(-0.3, 0.3, action_dim),
            rng.uniform(0.0, 2 * math.pi, action_dim),
        )

    alpha = 1.0 - math.exp(-dt / 0.3)  # smoothing towards the current targets
    ou_theta, ou_std = 3.0, 0.25  # OU: 1/3 s correlation time, stationary std 0.25
    ou_sigma = ou_std * math.sqrt(2 * ou_theta)
    freq, amp, offset, joint_phase = draw()
    target = (freq, amp, offset, joint_phase)
    next_switch = rng.uniform(1.0, 4.0)
    phase, ou = 0.0, np.zeros(action_dim)
    normals = rng.standard_normal((steps, action_dim))
    out = np.empty((steps, action_dim))
    for t in range(steps):
        if t * dt >= next_switch:
            target = draw()
            next_switch += rng.uniform(1.0, 4.0)
        freq += alpha * (target[0] - freq)
        amp = amp + alpha * (target[1] - amp)
        offset = offset + alpha * (target[2] - offset)
        joint_phase = joint_phase + alpha * (target[3] - joint_phase)
        phase += 2 * math.pi * freq * dt
        ou = ou - ou_theta * ou * dt + ou_sigma * math.sqrt(dt) * normals[t]
        out[t] = offset + amp * np.sin(phase + joint_phase) + ou
    np.clip(out, -1.0, 1.0, out=out)
    noisy = rng.random(steps) < noise_fraction
    out[noisy] = rng.uniform(-1.0, 1.0, (int(noisy.sum()), action_dim))
    return out


def rollouts(
    env: str, *, n_rollouts: int, rollout_length: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Generate (or load from the cache) the raw rollouts of ``env`` ("halfcheetah", "walker2d").

    Returns float64 ``obs`` (n_rollouts, rollout_length + 1, 17), the applied ``actions``
    (n_rollouts, rollout_length, 6) and int64 ``reset_seeds`` (n_rollouts,): rollout ``i``
    is ``env.reset(seed=reset_seeds[i])`` followed by ``env.step(actions[i, t])``.
    """
    if env not in _ENVS:
        raise ValueError(f"unknown MuJoCo env {env!r}; known: {sorted(_ENVS)}")
    key = (
        f"mujoco_{env}/{_VERSION}/n_rollouts={n_rollouts},rollout_length={rollout_length},"
        f"seed={seed},{_versions()}"
    )
    return cached(key, lambda: _generate(env, n_rollouts, rollout_length, seed))


def _generate(env: str, n_rollouts: int, rollout_length: int, seed: int) -> dict:
    gym_env = _make_env(env)
    sim = gym_env.unwrapped  # step without the time limit: rollouts may exceed 1000 steps
    dt = float(sim.dt)
    action_dim = gym_env.action_space.shape[0]
    obs_dim = gym_env.observation_space.shape[0]
    obs = np.empty((n_rollouts, rollout_length + 1, obs_dim))
    actions = np.empty((n_rollouts, rollout_length, action_dim))
    reset_seeds = np.empty(n_rollouts, dtype=np.int64)
    try:
        for i in range(n_rollouts):
            seq = np.random.SeedSequence([seed, i])
            reset_seeds[i] = int(seq.generate_state(1)[0])
            rng = np.random.default_rng(seq)
            actions[i] = gait_actions(rng, rollout_length, action_dim, dt, _ENVS[env].freq_hz)
            obs[i, 0], _ = gym_env.reset(seed=int(reset_seeds[i]))
            for t in range(rollout_length):
                obs[i, t + 1], _, terminated, _, _ = sim.step(actions[i, t])
                if terminated:  # cannot happen with these settings; guard the data anyway
                    raise RuntimeError(f"{env} rollout {i} terminated at step {t}")
    finally:
        gym_env.close()
    return {
        "obs": torch.from_numpy(obs),
        "actions": torch.from_numpy(actions),
        "reset_seeds": torch.from_numpy(reset_seeds),
    }


def _windows(arrays: list[torch.Tensor], seq_len: int, stride: int) -> list[torch.Tensor]:
    """Cut aligned per-step arrays (T, ...) into windows (n, seq_len, ...)."""
    steps = arrays[0].shape[0]
    starts = range(0, steps - seq_len + 1, stride)
    return [torch.stack([a[s : s + seq_len] for s in starts]) for a in arrays]


def _build_task(
    env: str,
    *,
    irregular: bool,
    seed: int,
    n_rollouts: int,
    rollout_length: int,
    seq_len: int,
    drop: float,
) -> Task:
    splits = split_indices(n_rollouts, seed=seed)
    if min(len(s) for s in splits) == 0:
        raise ValueError(
            f"n_rollouts={n_rollouts} leaves a split without rollouts (70/15/15 % by "
            "rollout): use n_rollouts >= 6"
        )
    if not 0.0 <= drop < 1.0:
        raise ValueError(f"drop must be in [0, 1), got {drop}")
    data = rollouts(env, n_rollouts=n_rollouts, rollout_length=rollout_length, seed=seed)
    obs, actions = data["obs"], data["actions"]

    train_obs = obs[splits[0]].reshape(-1, obs.shape[-1])
    mean, std = train_obs.mean(0), train_obs.std(0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    z = ((obs - mean) / std).float()

    drop_rng = np.random.default_rng([seed, 1_000_003])  # one stream for all rollouts
    per_rollout = []
    for i in range(n_rollouts):
        x = torch.cat([z[i, :-1], actions[i].float()], dim=-1)
        y = z[i, 1:]
        if irregular:
            keep = drop_rng.random(rollout_length) >= drop
            keep[0] = True
            steps = np.flatnonzero(keep)
            spans = np.diff(steps, prepend=steps[0] - 1).astype(np.float32)
            idx = torch.from_numpy(steps)
            per_rollout.append((x[idx], y[idx], torch.from_numpy(spans)))
        else:
            per_rollout.append((x, y, torch.ones(rollout_length)))

    shortest = min(len(p[0]) for p in per_rollout)
    if shortest < seq_len:
        raise ValueError(
            f"seq_len={seq_len} is longer than a rollout ({shortest} kept steps); "
            "lower seq_len or raise rollout_length"
        )

    def split(index: torch.Tensor, stride: int) -> SequenceData:
        parts = [_windows(list(per_rollout[int(i)]), seq_len, stride) for i in index]
        x, y, spans = (torch.cat([p[k] for p in parts]) for k in range(3))
        return SequenceData(x, y, spans if irregular else None)

    name = f"{env}_irregular" if irregular else env
    spec = _ENVS[env]
    detail = (
        f" Frames dropped with probability {drop}; timespans = simulator steps elapsed."
        if irregular
        else ""
    )
    return Task(
        name=name,
        kind=TaskKind.REGRESSION,
        metric=Metric.MSE,
        per_step=True,
        input_size=obs.shape[-1] + actions.shape[-1],
        output_size=obs.shape[-1],
        train=split(splits[0], max(1, seq_len // 4)),
        val=split(splits[1], seq_len),
        test=split(splits[2], seq_len),
        description=(
            f"{spec.gym_id} kinematics: predict obs[t+1] from [obs[t], action[t]] at every "
            f"step; {n_rollouts} rollouts of {rollout_length} steps from a gait-like "
            "open-loop policy with 5% of actions overwritten by uniform noise, split by "
            "rollout. Metric: MSE on observations standardised with the training rollouts' "
            "mean and std (inputs and targets alike); actions are left in [-1, 1]." + detail
        ),
        source=(
            f"generated locally with gymnasium + MuJoCo ({spec.summary}); set-up after "
            "Hasani et al. 2021 (LTC, Half-Cheetah) and Hasani et al. 2022 (CfC, Walker2d); "
            "the papers' pretrained policies are not available"
        ),
        irregular=irregular,
        defaults={"units": 64, "epochs": 20, "lr": 5e-3, "batch_size": 32, "schedule": "cosine"},
    )


def _options(n_rollouts: int, rollout_length: int, seq_len: int) -> dict:
    return {"n_rollouts": n_rollouts, "rollout_length": rollout_length, "seq_len": seq_len}


@register("halfcheetah", "HalfCheetah-v5 next-observation prediction (per-step MSE)")
def halfcheetah(
    *, seed: int = 0, n_rollouts: int = 100, rollout_length: int = 1000, seq_len: int = 64
) -> Task:
    """HalfCheetah kinematics (LTC paper): x (n, seq_len, 23), y (n, seq_len, 17)."""
    opts = _options(n_rollouts, rollout_length, seq_len)
    return _build_task("halfcheetah", irregular=False, seed=seed, drop=0.0, **opts)


@register("walker2d", "Walker2d-v5 next-observation prediction (per-step MSE)")
def walker2d(
    *, seed: int = 0, n_rollouts: int = 100, rollout_length: int = 1000, seq_len: int = 64
) -> Task:
    """Walker2d kinematics (CfC paper): x (n, seq_len, 23), y (n, seq_len, 17)."""
    opts = _options(n_rollouts, rollout_length, seq_len)
    return _build_task("walker2d", irregular=False, seed=seed, drop=0.0, **opts)


@register(
    "halfcheetah_irregular",
    "HalfCheetah-v5 next-observation prediction, frames dropped at random (timespans)",
)
def halfcheetah_irregular(
    *,
    seed: int = 0,
    n_rollouts: int = 100,
    rollout_length: int = 1000,
    seq_len: int = 64,
    drop: float = 0.4,
) -> Task:
    """HalfCheetah kinematics, irregularly sampled: as ``halfcheetah`` plus timespans."""
    opts = _options(n_rollouts, rollout_length, seq_len)
    return _build_task("halfcheetah", irregular=True, seed=seed, drop=drop, **opts)


@register(
    "walker2d_irregular",
    "Walker2d-v5 next-observation prediction, frames dropped at random (timespans)",
)
def walker2d_irregular(
    *,
    seed: int = 0,
    n_rollouts: int = 100,
    rollout_length: int = 1000,
    seq_len: int = 64,
    drop: float = 0.4,
) -> Task:
    """Walker2d kinematics, irregularly sampled: as ``walker2d`` plus timespans."""
    opts = _options(n_rollouts, rollout_length, seq_len)
    return _build_task("walker2d", irregular=True, seed=seed, drop=drop, **opts)
