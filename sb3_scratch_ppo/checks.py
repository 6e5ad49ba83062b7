"""Bad input stopped at the door: PPO's hyperparameters against their valid ranges, and the env's data at every step.

SB3 accepts values with which PPO cannot work (a negative learning rate, ``clip_range=0``, ``gamma=2``,
``n_epochs=0``) and trains on NaN rewards until the weights are NaN. Here each raises, naming the argument and
its valid range, or the env, the step and the value, before anything is stored or any weight changes. Values SB3
accepts and PPO can use are all still accepted (``learning_rate=0``, ``ent_coef < 0``, ``max_grad_norm=inf``).
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np

# name -> (lowest, highest, lowest allowed, highest allowed): the valid range of each number.
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "learning_rate": (0, math.inf, True, False),
    "gamma": (0, 1, True, True),
    "gae_lambda": (0, 1, True, True),
    "clip_range": (0, math.inf, False, False),
    "clip_range_vf": (0, math.inf, False, False),
    "ent_coef": (-math.inf, math.inf, False, False),
    "vf_coef": (0, math.inf, True, False),
    "max_grad_norm": (0, math.inf, False, True),  # inf: no clipping
    "target_kl": (0, math.inf, False, False),
}
COUNTS = ("n_steps", "batch_size", "n_epochs", "stats_window_size")  # integers >= 1


def _interval(low: float, high: float, low_in: bool, high_in: bool) -> str:
    return f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def check_hyperparameters(**values: Any) -> None:
    """ValueError naming the first argument outside its range. Schedules (callables) are checked when they are
    called; None is accepted where SB3 or sb3-contrib takes it (clip_range_vf, target_kl; MaskablePPO's batch_size)."""
    for name, value in values.items():
        if name in COUNTS:
            if value is None and name == "batch_size":  # SB3's RolloutBuffer.get(None): the whole rollout (MaskablePPO)
                continue
            if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r}: expected an integer >= 1")
            continue
        if (value is None and name in ("clip_range_vf", "target_kl")) or callable(value):
            continue
        low, high, low_in, high_in = RANGES[name]
        ok = isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)
        ok = ok and (low <= value if low_in else low < value) and (value <= high if high_in else value < high)
        if not ok:
            raise ValueError(f"{name}={value!r}: expected a number in {_interval(low, high, low_in, high_in)}")


def check_schedule_value(name: str, value: float, progress_remaining: float) -> float:
    """A schedule's value at an update: a number in [0, inf) (any finite number for ent_coef, as for a constant
    one). Zero is valid here, unlike for a constant clip range: the zoo's ``lin_0.2`` clip range reaches 0 at the end
    of training (the update then barely moves the policy)."""
    if progress_remaining < 0:
        # SB3's: the last rollout may overshoot total_timesteps (1e5 zoo CartPole steps are 391 rollouts of 256), and
        # learn(n) with n below one rollout overshoots by far; progress_remaining is then negative and SB3 calls the
        # schedules with it (a linear one turns negative: -0.00096 x 1e-3 there). Matched, not refused.
        return value
    low = -math.inf if name == "ent_coef" else 0
    if not (isinstance(value, Real) and not isinstance(value, bool) and low <= value < math.inf and value > -math.inf):
        raise ValueError(
            f"{name}={value!r} (from its schedule): expected a number in {_interval(low, math.inf, low == 0, False)}"
        )
    return value


# --- the env's data, every step --------------------------------------------------------------------------


def _float_arrays(obs: Any) -> list[tuple[str, np.ndarray]]:
    items = obs.items() if isinstance(obs, dict) else [("", obs)]
    return [(key, np.asarray(x)) for key, x in items if np.asarray(x).dtype.kind in "fc"]


def check_env_data(new_obs: Any, rewards: np.ndarray | None, num_timesteps: int, what: str = "observation") -> None:
    """Raise if an observation or reward is NaN or infinite: one sum per array (NaN and inf survive a sum), and
    only when one is not finite, a search for the env and the value to name."""
    if (
        isinstance(new_obs, np.ndarray)
        and new_obs.dtype.kind == "f"
        and rewards is not None
        and math.isfinite(np.add.reduce(new_obs, axis=None) + np.add.reduce(rewards))
    ):
        return  # the common case, in two reductions
    arrays = [] if rewards is None else [("reward", np.asarray(rewards))]
    arrays += [(f"{what}{f'[{k!r}]' if k else ''}", x) for k, x in _float_arrays(new_obs)]
    for name, x in arrays:
        if math.isfinite(float(np.sum(x))):
            continue
        rows = x.reshape(len(x), -1)
        bad = np.argwhere(~np.isfinite(rows))
        if len(bad) == 0:  # the sum overflowed; every value is finite
            continue
        env, flat = bad[0]
        where = f" at index {tuple(int(i) for i in np.unravel_index(flat, x.shape[1:]))}" if x.ndim > 1 else ""
        raise ValueError(
            f"env {env} returned a non-finite {name}: {rows[env, flat]}{where}, on the step that brought "
            f"num_timesteps to {num_timesteps}; it was not stored and no weight changed. Check the env "
            "(SB3's VecCheckNan wrapper finds the action that led there)"
        )


def check_ppo_batch(batch_size: int, normalize_advantage: bool, n_steps: int, n_envs: int | None) -> None:
    """A copy of PPO.__init__'s checks (stable_baselines3 2.9 ppo/ppo.py:138-168), with SB3's messages and warning:
    they are PPO's, not its base's (``n_envs``: None without an env)."""
    if normalize_advantage:
        assert batch_size > 1, (
            "`batch_size` must be greater than 1. See https://github.com/DLR-RM/stable-baselines3/issues/440"
        )
    if n_envs is not None:
        buffer_size = n_envs * n_steps
        assert buffer_size > 1 or (not normalize_advantage), (
            f"`n_steps * n_envs` must be greater than 1. Currently n_steps={n_steps} and n_envs={n_envs}"
        )
        untruncated_batches = buffer_size // batch_size
        if buffer_size % batch_size > 0:
            warnings.warn(
                f"You have specified a mini-batch size of {batch_size},"
                f" but because the `RolloutBuffer` is of size `n_steps * n_envs = {buffer_size}`,"
                f" after every {untruncated_batches} untruncated mini-batches,"
                f" there will be a truncated mini-batch of size {buffer_size % batch_size}\n"
                f"We recommend using a `batch_size` that is a factor of `n_steps * n_envs`.\n"
                f"Info: (n_steps={n_steps} and n_envs={n_envs})"
            )


def check_policy_kwargs(
    unsupported: dict[str, Any],
    use_sde: bool,
    squash_output: bool,
    optimizer_class: Any,
    optimizer_kwargs: dict[str, Any] | None,
) -> dict[str, Any]:
    """Refuse, with the argument's name, what the policy does not implement; return the optimizer's keyword arguments."""
    for key in unsupported:
        raise TypeError(f"policy_kwargs: unexpected keyword argument {key!r} for ActorCriticPolicy")
    assert not (squash_output and not use_sde), "squash_output=True is only available when using gSDE (use_sde=True)"
    name = "Adam" if optimizer_class is None else getattr(optimizer_class, "__name__", "")
    if name not in ("Adam", "AdamW"):
        raise NotImplementedError(
            f"policy_kwargs: optimizer_class={optimizer_class!r} is not supported; Adam and AdamW are (from scratch, "
            "with torch's arithmetic)"
        )
    if optimizer_kwargs is None:  # as SB3: eps=1e-5 for Adam when no kwargs are given; AdamW keeps torch's defaults
        optimizer_kwargs = {"eps": 1e-5} if name == "Adam" else {}
    bad = set(optimizer_kwargs) - {"eps", "betas", "weight_decay"}
    if bad:
        raise NotImplementedError(
            f"policy_kwargs: optimizer_kwargs {sorted(bad)} are not supported; only eps, betas and weight_decay"
        )
    if name == "AdamW":  # torch's AdamW: Adam with decoupled weight decay, 0.01 by default
        optimizer_kwargs = {"weight_decay": 1e-2, **optimizer_kwargs, "decoupled_weight_decay": True}
    return optimizer_kwargs


def warn_if_not_cpu(device: Any) -> None:
    """SB3's PPO warns "You are trying to run PPO on the GPU" for an MLP policy on a GPU (its _maybe_recommend_cpu).
    ScratchPPO computes in NumPy on the CPU for every policy, so it warns for any device but the CPU, saying that."""
    if getattr(device, "type", str(device)) != "cpu":
        warnings.warn(
            f"You are trying to run PPO on the GPU (device={device}), but ScratchPPO computes in NumPy on the CPU "
            "whatever the device: it only sets where state_dict() puts its tensors (model.device == "
            "model.policy.device, as in SB3). Pass device='cpu' to silence this.",
            UserWarning,
        )
