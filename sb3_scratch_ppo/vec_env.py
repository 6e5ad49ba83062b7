"""The fast path for environments: one natively vectorized env behind SB3's VecEnv API.

SB3's ``make_vec_env`` builds a ``DummyVecEnv``: N separate envs, each wrapped in a ``Monitor``,
stepped one after the other in a Python loop. For an env with a native vectorized version
(all N envs stepped by one set of array operations), ``make_vec_env`` here returns a
``VectorEnvAdapter`` over that one vectorized env instead, with what SB3 code expects of a
``DummyVecEnv`` of Monitor-wrapped envs:

- the env that ends an episode is reset in the same step; its last observation is in
  ``info["terminal_observation"]`` and ``info["TimeLimit.truncated"]`` tells a time limit
  from a real end;
- ``info["episode"] = {"r": return, "l": length, "t": seconds since creation}`` on the step
  that ends an episode (as Monitor), so ``rollout/ep_rew_mean`` and ``evaluate_policy`` work;
- ``seed(s)`` then ``reset()`` seeds env i with s + i (one generator per env), so the
  transitions are the same as ``stable_baselines3.common.env_util.make_vec_env``'s, which
  ``tests/test_vec_env.py`` checks step by step.

Everything else falls back to SB3's ``make_vec_env`` unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common import env_util
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv

# Registered ids with a native vectorized version that resets on the same step and seeds one
# generator per env. CartPole-v1 gets ScratchCartPole's vectorized env: the same dynamics step
# for step (tests/test_cartpole_parity.py), while Gymnasium's own CartPoleVectorEnv shares one
# generator between envs and resets them a step late, so it cannot reproduce a DummyVecEnv.
NATIVE_VECTOR_ENVS = {
    "CartPole-v1": "scratch_envs.cartpole:ScratchCartPoleVectorEnv",
    "ScratchCartPole-v0": "scratch_envs.cartpole:ScratchCartPoleVectorEnv",
}
# env_kwargs the native versions accept (the rest go to SB3's make_vec_env).
_NATIVE_ENV_KWARGS = {"render_mode", "sutton_barto_reward"}


class VectorEnvAdapter(VecEnv):
    """SB3's VecEnv over one Gymnasium VectorEnv in same-step autoreset mode, with Monitor's episode statistics."""

    def __init__(self, vector_env: VectorEnv):
        if vector_env.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"VectorEnvAdapter needs a vector env with autoreset_mode=AutoresetMode.SAME_STEP (SB3 resets an env "
                f"on the step its episode ends); got {vector_env.metadata.get('autoreset_mode')!r}"
            )
        self.vector_env = vector_env
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)
        self.t_start = time.time()
        self.episode_returns = np.zeros(self.num_envs, dtype=np.float64)
        self.episode_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._actions: np.ndarray | None = None

    def reset(self):
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        options = self._options[0] if self._options[0] and all(o == self._options[0] for o in self._options) else None
        if any(self._options) and options is None:
            raise ValueError("VectorEnvAdapter: set_options() with different options per env is not supported")
        obs, _ = self.vector_env.reset(seed=seeds, options=options)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self.episode_returns[:] = 0.0
        self.episode_lengths[:] = 0
        return obs

    def get_state(self) -> dict[str, Any] | None:
        """The env's state for exact resume (its vector env's, and Monitor's running episodes), or None if the
        vector env cannot give one."""
        if not hasattr(self.vector_env, "get_state"):
            return None
        return {
            "vector_env": self.vector_env.get_state(),
            "episode_returns": self.episode_returns.copy(),
            "episode_lengths": self.episode_lengths.copy(),
            "elapsed": time.time() - self.t_start,
        }

    def set_state(self, saved: dict[str, Any]) -> None:
        self.vector_env.set_state(saved["vector_env"])
        self.episode_returns[:] = saved["episode_returns"]
        self.episode_lengths[:] = saved["episode_lengths"]
        self.t_start = time.time() - saved["elapsed"]

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        obs, rewards, terminated, truncated, info = self.vector_env.step(self._actions)
        dones = terminated | truncated
        self.episode_returns += rewards
        self.episode_lengths += 1
        # One info dict per env, as DummyVecEnv, built in C rather than a Python loop.
        infos: list[dict[str, Any]] = list(map(dict.copy, repeat({"TimeLimit.truncated": False}, self.num_envs)))
        if dones.any():
            final_obs = info["final_obs"]
            elapsed = round(time.time() - self.t_start, 6)
            for i in np.flatnonzero(dones):  # only the envs whose episode ended on this step
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                infos[i]["terminal_observation"] = final_obs[i]
                infos[i]["episode"] = {
                    "r": round(float(self.episode_returns[i]), 6),
                    "l": int(self.episode_lengths[i]),
                    "t": elapsed,
                }
            self.episode_returns[dones] = 0.0
            self.episode_lengths[dones] = 0
        return obs, rewards.astype(np.float32, copy=False), dones, infos

    def close(self) -> None:
        self.vector_env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return self.vector_env.render()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        """The vectorized env's attribute, once per env asked for (the envs share it)."""
        return [getattr(self.vector_env, attr_name)] * len(list(self._get_indices(indices)))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        if indices is not None and sorted(self._get_indices(indices)) != list(range(self.num_envs)):
            raise ValueError(f"set_attr({attr_name!r}): the envs of a vectorized env share attributes; set them for all")
        setattr(self.vector_env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        raise NotImplementedError(
            f"env_method({method_name!r}): the envs of a VectorEnvAdapter are one vectorized env, not separate objects; "
            "call the method on adapter.vector_env, or build the env with stable_baselines3's make_vec_env"
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        """Monitor: yes (the adapter gives Monitor's episode statistics); any other wrapper: no."""
        return [issubclass(Monitor, wrapper_class)] * len(list(self._get_indices(indices)))


def make_vec_env(
    env_id,
    n_envs: int = 1,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_class=None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls=None,
    vec_env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """SB3's ``make_vec_env``, with the native vectorized env when there is one (see the module docstring).

    The fast path is taken for an id in ``NATIVE_VECTOR_ENVS`` with n_envs >= 2, without monitor_dir,
    wrapper_class, vec_env_cls, vec_env_kwargs or monitor_kwargs, and with env_kwargs limited to render_mode
    and sutton_barto_reward; everything else goes to ``stable_baselines3.common.env_util.make_vec_env``.
    One env stays on SB3's DummyVecEnv: NumPy's per-call cost on arrays of one outweighs the loop it saves.
    """
    env_kwargs = dict(env_kwargs or {})
    native = (
        isinstance(env_id, str)
        and env_id in NATIVE_VECTOR_ENVS
        and n_envs >= 2
        and monitor_dir is None
        and wrapper_class is None
        and vec_env_cls is None
        and not vec_env_kwargs
        and not monitor_kwargs
        and set(env_kwargs) <= _NATIVE_ENV_KWARGS
    )
    if not native:
        return env_util.make_vec_env(
            env_id,
            n_envs,
            seed,
            start_index,
            monitor_dir,
            wrapper_class,
            env_kwargs,
            vec_env_cls,
            vec_env_kwargs,
            monitor_kwargs,
            wrapper_kwargs,
        )
    return native_vec_env(env_id, n_envs, seed, start_index, env_kwargs)


def native_vec_env(
    env_id: str, n_envs: int = 1, seed: int | None = None, start_index: int = 0, env_kwargs: dict[str, Any] | None = None
) -> VectorEnvAdapter:
    """The fast path itself: ``env_id``'s native vectorized env (see NATIVE_VECTOR_ENVS) behind a VectorEnvAdapter."""
    kwargs = {"render_mode": "rgb_array", **(env_kwargs or {})}  # SB3's make_vec_env default
    vector_env_class = gym.envs.registration.load_env_creator(NATIVE_VECTOR_ENVS[env_id])
    vector_env = vector_env_class(
        num_envs=n_envs, max_episode_steps=gym.spec(env_id).max_episode_steps, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs
    )
    vec_env = VectorEnvAdapter(vector_env)
    if seed is not None:
        vec_env.action_space.seed(seed + start_index)  # as env 0's action space in SB3's make_vec_env
    vec_env.seed(seed)  # seeds for the first reset: seed + i for env i
    return vec_env
