"""Gymnasium's vectorized envs behind SB3's VecEnv API: the fast path, and any ``gymnasium.vector.VectorEnv``.

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

The same adapter takes any Gymnasium VectorEnv a user passes to ScratchPPO (``gym.make_vec(...)``, which SB3
refuses): whatever its autoreset mode, it steps as the equivalent DummyVecEnv of Monitor-wrapped envs would
(``tests/test_gym_vector_env.py``), or is refused with the reason and what to do instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from stable_baselines3.common import env_util
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv

from scratch_envs.cartpole_vector import ScratchCartPoleVectorEnv

# Registered ids with a native vectorized version that resets on the same step and seeds one
# generator per env. CartPole-v1 gets ScratchCartPole's vectorized env: the same dynamics step
# for step (tests/test_cartpole_parity.py), while Gymnasium's own CartPoleVectorEnv shares one
# generator between envs and resets them a step late, so it cannot reproduce a DummyVecEnv.
NATIVE_VECTOR_ENVS = {
    "CartPole-v1": "scratch_envs.cartpole_vector:ScratchCartPoleVectorEnv",
    "ScratchCartPole-v0": "scratch_envs.cartpole_vector:ScratchCartPoleVectorEnv",
}
# env_kwargs the native versions accept (the rest go to SB3's make_vec_env).
_NATIVE_ENV_KWARGS = {"render_mode", "sutton_barto_reward"}


class VectorEnvAdapter(VecEnv):
    """SB3's VecEnv over a Gymnasium VectorEnv, with DummyVecEnv's step semantics and Monitor's episode statistics.

    Gymnasium's autoreset modes (https://farama.org/Vector-Autoreset-Mode) all come out as SB3's: an env whose
    episode ends is reset on that same step. SAME_STEP envs do that themselves (their ``final_obs`` and
    ``final_info`` become SB3's ``terminal_observation`` and step info); NEXT_STEP and DISABLED ones are reset right
    away with ``reset(options={"reset_mask": done})``, which Sync/AsyncVectorEnv (and ScratchCartPole's) take; Gymnasium's own
    CartPoleVectorEnv, which resets every env on any reset, gets the reset its next step would have made (the
    same draw from its generator) one step early. Any other NEXT_STEP or DISABLED env is refused, saying why.
    Gymnasium's batched infos become one dict per env."""

    def __init__(self, vector_env: VectorEnv):
        self.mode = AutoresetMode(vector_env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        inner = vector_env.unwrapped
        self.early_cartpole_reset = isinstance(inner, CartPoleVectorEnv) and self.mode == AutoresetMode.NEXT_STEP
        if self.early_cartpole_reset and inner is not vector_env:
            raise ValueError(
                "Gymnasium's CartPoleVectorEnv under vector wrappers cannot be reset one env at a time; pass it "
                "unwrapped, or make it with gym.make_vec('CartPole-v1', num_envs=N, vectorization_mode='sync')"
            )
        if self.mode != AutoresetMode.SAME_STEP and not self.early_cartpole_reset:
            if not isinstance(inner, (SyncVectorEnv, AsyncVectorEnv, ScratchCartPoleVectorEnv)):
                raise ValueError(
                    f"{type(inner).__name__} resets in autoreset mode {self.mode.name}, and only Gymnasium's "
                    "SyncVectorEnv and AsyncVectorEnv (and ScratchCartPole's) are known to reset one env alone "
                    "(reset_mask), as SB3 needs "
                    "on the step an episode ends; make it with autoreset_mode=AutoresetMode.SAME_STEP, or with "
                    "gym.make_vec(..., vectorization_mode='sync'), or use sb3_scratch_ppo's make_vec_env"
                )
            wrapper = vector_env
            while isinstance(wrapper, gym.vector.VectorWrapper):
                if type(wrapper).__name__ in ("NormalizeReward", "NormalizeObservation"):  # statistics of all envs
                    raise ValueError(
                        f"{type(wrapper).__name__} keeps statistics of all envs together and cannot take the reset of one "
                        f"env alone (NormalizeReward would clear the others'), which autoreset mode {self.mode.name} needs "
                        "here; make the env with autoreset_mode=AutoresetMode.SAME_STEP where the wrapper takes it "
                        "(NormalizeReward does), or use SB3's VecNormalize"
                    )
                wrapper = wrapper.env
        self.vector_env = vector_env
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)
        self.t_start = time.time()
        self.episode_returns = np.zeros(self.num_envs, dtype=np.float64)
        self.episode_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._actions: np.ndarray | None = None

    def reset(self):
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        if seeds is not None and self.early_cartpole_reset:  # one generator for all envs: its int seed
            seeds = seeds[0]
        options = self._options[0] if self._options[0] and all(o == self._options[0] for o in self._options) else None
        if any(self._options) and options is None:
            raise ValueError("VectorEnvAdapter: set_options() with different options per env is not supported")
        obs, infos = self.vector_env.reset(seed=seeds, options=options)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = unbatch_infos(infos, self.num_envs)
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
        # One info dict per env, as DummyVecEnv (built in C rather than a Python loop when the env gives no info).
        infos = list(map(dict.copy, repeat({"TimeLimit.truncated": False}, self.num_envs)))
        env_infos = None
        if extra := info.keys() - _SAME_STEP_KEYS:
            env_infos = unbatch_infos({k: info[k] for k in extra}, self.num_envs)
            for info_i, env_info in zip(infos, env_infos, strict=True):
                info_i.update(env_info)
        if dones.any():
            done_idx = np.flatnonzero(dones)
            if self.mode == AutoresetMode.SAME_STEP:  # obs is already the reset observation; the info, the reset's
                final = info.get("final_info")
                step_infos = unbatch_infos(final, self.num_envs) if final else None
                for i in done_idx:
                    self.reset_infos[i] = {} if env_infos is None else env_infos[i]
                    infos[i] = {} if step_infos is None else step_infos[i]
                terminal = [info["final_obs"][i] for i in done_idx]
            else:
                terminal = [_row(obs, i) for i in done_idx]
                obs = self._reset_now(obs, dones)
            elapsed = round(time.time() - self.t_start, 6)
            for i, last in zip(done_idx, terminal, strict=True):  # only the envs whose episode ended on this step
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                infos[i]["terminal_observation"] = last
                infos[i]["episode"] = {
                    "r": round(float(self.episode_returns[i]), 6),
                    "l": int(self.episode_lengths[i]),
                    "t": elapsed,
                }
            self.episode_returns[dones] = 0.0
            self.episode_lengths[dones] = 0
        return obs, rewards.astype(np.float32, copy=False), dones, infos

    def _reset_now(self, obs, dones: np.ndarray):
        """NEXT_STEP and DISABLED modes: reset the envs whose episode just ended, now; the observations after it."""
        if self.early_cartpole_reset:  # what CartPoleVectorEnv.step does first for the envs done last step
            env: Any = self.vector_env
            env.state[:, dones] = env.np_random.uniform(low=env.low, high=env.high, size=(4, int(dones.sum())))
            env.steps[dones] = 0
            env.prev_done[dones] = False
            obs = obs.copy()
            obs[dones] = env.state[:, dones].T.astype(np.float32)
            return obs
        obs, reset_info = self.vector_env.reset(options={"reset_mask": dones.copy()})
        reset_infos = unbatch_infos(reset_info, self.num_envs)
        for i in np.flatnonzero(dones):
            self.reset_infos[i] = reset_infos[i]
        return obs

    def close(self) -> None:
        self.vector_env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return self.vector_env.render()

    # Attributes and methods: of each sub-env for Gymnasium's Sync/AsyncVectorEnv (as a DummyVecEnv's), of the one
    # vectorized object otherwise (its envs share it).

    def _sub_envs(self) -> SyncVectorEnv | AsyncVectorEnv | None:
        inner = self.vector_env.unwrapped
        return inner if isinstance(inner, (SyncVectorEnv, AsyncVectorEnv)) else None

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        indices = list(self._get_indices(indices))
        if (sub := self._sub_envs()) is None:
            return [getattr(self.vector_env, attr_name)] * len(indices)
        values = sub.get_attr(attr_name)
        return [values[i] for i in indices]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        indices = list(self._get_indices(indices))
        if (sub := self._sub_envs()) is None:
            if sorted(indices) != list(range(self.num_envs)):
                raise ValueError(f"set_attr({attr_name!r}): the envs of a vectorized env share attributes; set them for all")
            setattr(self.vector_env, attr_name, value)
            return
        values = list(sub.get_attr(attr_name)) if len(indices) < self.num_envs else [value] * self.num_envs
        for i in indices:
            values[i] = value
        sub.set_attr(attr_name, values)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        indices = list(self._get_indices(indices))
        sub = self._sub_envs()
        if isinstance(sub, SyncVectorEnv):
            return [sub.envs[i].get_wrapper_attr(method_name)(*method_args, **method_kwargs) for i in indices]
        if sub is not None and sorted(indices) == list(range(self.num_envs)):
            values = sub.call(method_name, *method_args, **method_kwargs)
            return [values[i] for i in indices]
        raise NotImplementedError(
            f"env_method({method_name!r}, indices={indices}): "
            + (
                "an AsyncVectorEnv calls a method on all its envs at once; call it on all (indices=None)"
                if sub is not None
                else "the envs of this vectorized env are one object, not separate envs; call the method on "
                "adapter.vector_env, or build the env with stable_baselines3's make_vec_env"
            )
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        """Monitor: yes (the adapter gives Monitor's episode statistics); another wrapper: the sub-env's own (of a
        SyncVectorEnv), else no."""
        indices = list(self._get_indices(indices))
        sub = self._sub_envs()
        if issubclass(Monitor, wrapper_class) or not isinstance(sub, SyncVectorEnv):
            return [issubclass(Monitor, wrapper_class)] * len(indices)
        return [env_util.is_wrapped(sub.envs[i], wrapper_class) for i in indices]


class TakesGymnasiumVectorEnvs:
    """A mixin for an SB3 algorithm: SB3's env wrapping, taking a Gymnasium VectorEnv too (SB3 refuses one)."""

    @staticmethod
    def _wrap_env(env, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        if isinstance(env, VectorEnv):
            env = VectorEnvAdapter(env)
        return BaseAlgorithm._wrap_env(env, verbose, monitor_wrapper)


_SAME_STEP_KEYS = {"final_obs", "_final_obs", "final_info", "_final_info"}


def unbatch_infos(infos: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Gymnasium's batched info (a value array per key, and ``_key``: which envs have it) as SB3's one dict per env."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:
            continue
        mask = infos.get(f"_{key}")
        rows = range(n) if mask is None else np.flatnonzero(mask)
        values = unbatch_infos(value, n) if isinstance(value, dict) else value
        for i in rows:
            out[i][key] = values[i]
    return out


def _row(obs: Any, i: int) -> Any:
    """Env i's observation, copied out of the batch (a Dict space's as a dict)."""
    return {k: np.array(v[i]) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs[i])


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
