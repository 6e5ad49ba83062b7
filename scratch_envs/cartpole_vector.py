"""ScratchCartPoleVectorEnv: N cart-poles (``cartpole.py``'s equations) stepped with one set of array operations.

The ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` entry point of ScratchCartPole-v0 (and
``sb3_scratch_ppo.make_vec_env``'s fast path for CartPole-v1), with Gymnasium's next-step autoreset, or same-step
autoreset with one RNG per env (what SB3's VecEnv does); ``tests/test_cartpole_parity.py`` checks it against
Gymnasium's CartPoleVectorEnv.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.utils import maybe_parse_reset_bounds
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from scratch_envs import rendering
from scratch_envs.cartpole import (
    _FORCES,
    _OBS_HIGH,
    RESET_HIGH,
    RESET_LOW,
    _describe,
    euler_step,
    has_fallen,
)


class ScratchCartPoleVectorEnv(VectorEnv):
    """N cart-poles stepped together with array operations, as Gymnasium's CartPoleVectorEnv.

    The state is kept as a (4, N) float64 array, one row per state variable. Two autoreset modes:

    - ``AutoresetMode.NEXT_STEP`` (the default, as CartPoleVectorEnv): an env whose episode ended
      on the previous step is reset on this step; it returns its new initial observation with
      reward 0 and both flags False, and the action passed for it is ignored.
    - ``AutoresetMode.SAME_STEP`` (as SB3's VecEnvs and Gymnasium's SyncVectorEnv in that mode):
      an env whose episode ends is reset at once; the step returns its new initial observation,
      and ``info["final_obs"][i]`` holds the observation the episode ended on.

    ``reset(seed=int)`` seeds one generator for all envs (as CartPoleVectorEnv); ``reset(seed=[s0, s1, ...])``
    gives env i a generator of its own seeded s_i, so each env draws its initial states exactly as
    a separate ``gymnasium.make("CartPole-v1")`` reset with seed s_i would (as SyncVectorEnv and SB3's DummyVecEnv).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array"],
        "render_fps": 50,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = 500,
        render_mode: str | None = None,
        sutton_barto_reward: bool = False,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported by the vector env; expected None or 'rgb_array'")
        modes = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)
        if AutoresetMode(autoreset_mode) not in modes:
            raise ValueError(f"autoreset_mode={autoreset_mode!r} is not supported; expected one of {modes}")
        self.metadata = dict(self.metadata, autoreset_mode=AutoresetMode(autoreset_mode))
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self._sutton_barto_reward = sutton_barto_reward

        self.single_action_space = spaces.Discrete(2)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.single_observation_space = spaces.Box(-_OBS_HIGH, _OBS_HIGH, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)

        self.low, self.high = RESET_LOW, RESET_HIGH
        self.state: np.ndarray | None = None
        self.steps = np.zeros(num_envs, dtype=np.int32)
        self.prev_done = np.zeros(num_envs, dtype=np.bool_)
        self.env_rngs: list[np.random.Generator] | None = None  # one per env after reset(seed=[...])

    def _forces(self, actions: Any) -> np.ndarray:
        """Per-env forces for an array of N actions; raises naming the invalid entries."""
        arr = np.asarray(actions)
        if arr.shape != (self.num_envs,):
            raise ValueError(
                f"ScratchCartPoleVectorEnv: actions {_describe(actions)} have shape {arr.shape}; "
                f"expected shape ({self.num_envs},), one action in {{0, 1}} per env."
            )
        if arr.dtype.kind not in "iu":
            raise TypeError(
                f"ScratchCartPoleVectorEnv: actions {actions!r} have dtype {arr.dtype}; expected integers "
                "in {0, 1} (0 push left, 1 push right). Actions are never rounded or cast."
            )
        if np.count_nonzero(arr >> 1):  # nonzero exactly for the values outside {0, 1}, negatives included
            where = np.flatnonzero((arr != 0) & (arr != 1))
            raise ValueError(
                f"ScratchCartPoleVectorEnv: actions {arr[where].tolist()} at env indices {where.tolist()} "
                "are out of range; expected 0 (push left) or 1 (push right)."
            )
        return _FORCES[arr]

    def _initial_states(self, idx: np.ndarray) -> np.ndarray:
        """Fresh initial states (4, len(idx)) for the envs ``idx``, from the shared or the per-env generators."""
        if self.env_rngs is None:
            return self.np_random.uniform(self.low, self.high, size=(4, len(idx)))
        # One draw per env that is starting over (not every env, and rarely more than a few per step).
        return np.stack([self.env_rngs[i].uniform(self.low, self.high, size=(4,)) for i in idx], axis=1)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        forces = self._forces(actions)
        if self.state is None:
            raise gym.error.ResetNeeded("ScratchCartPoleVectorEnv: call reset() before step().")
        state = self.state
        state[:] = euler_step(*state, forces)
        terminated = has_fallen(state[0], state[2])
        self.steps += 1
        truncated = self.steps >= self.max_episode_steps
        if self._sutton_barto_reward:
            reward = -terminated.astype(np.float32)
        else:
            reward = np.ones(self.num_envs, dtype=np.float32)

        if self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            # Same-step autoreset: the envs that just ended start over now; info keeps their last observation.
            done = terminated | truncated
            obs = state.T.astype(np.float32)
            if not done.any():
                return obs, reward, terminated, truncated, {}
            idx = np.flatnonzero(done)
            final_obs = np.full(self.num_envs, None, dtype=object)
            final_obs[idx] = list(obs[idx])
            state[:, idx] = self._initial_states(idx)
            self.steps[idx] = 0
            obs[idx] = state[:, idx].T
            info = {"final_obs": final_obs, "_final_obs": done, "final_info": {}, "_final_info": done.copy()}
            return obs, reward, terminated, truncated, info

        # Next-step autoreset: envs that ended on the previous step start a new episode now.
        reset_idx = np.flatnonzero(self.prev_done)
        if reset_idx.size:
            state[:, reset_idx] = self._initial_states(reset_idx)
            alive = ~self.prev_done
            self.steps *= alive
            reward *= alive
            terminated &= alive
            truncated &= alive
        self.prev_done = terminated | truncated
        return self.state.T.astype(np.float32), reward, terminated, truncated, {}

    def get_state(self) -> dict[str, Any]:
        """Everything the next step depends on, as arrays and JSON values (no pickle): for exact resume."""
        return {
            "state": None if self.state is None else self.state.copy(),
            "steps": self.steps.copy(),
            "prev_done": self.prev_done.copy(),
            "low": self.low,
            "high": self.high,
            "np_random": self.np_random.bit_generator.state,
            "env_rngs": None if self.env_rngs is None else [rng.bit_generator.state for rng in self.env_rngs],
        }

    def set_state(self, saved: dict[str, Any]) -> None:
        """Continue exactly where ``get_state`` was taken (same num_envs)."""
        if saved["steps"].shape != (self.num_envs,):
            raise ValueError(f"set_state: the state is of {saved['steps'].shape[0]} envs; this vector env has {self.num_envs}")
        self.state = None if saved["state"] is None else np.array(saved["state"], dtype=np.float64)
        self.steps = np.array(saved["steps"], dtype=np.int32)
        self.prev_done = np.array(saved["prev_done"], dtype=np.bool_)
        self.low, self.high = saved["low"], saved["high"]
        self.np_random.bit_generator.state = saved["np_random"]
        self.env_rngs = None
        if saved["env_rngs"] is not None:
            self.env_rngs = [np.random.Generator(np.random.PCG64()) for _ in saved["env_rngs"]]
            for rng, state in zip(self.env_rngs, saved["env_rngs"], strict=True):
                rng.bit_generator.state = state

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Reset all envs. ``seed``: an int (one generator for all), a list of N ints or None (one generator per env),
        or None. ``options={"reset_mask": mask}`` (as SyncVectorEnv) resets only the envs where the mask is True."""
        if options is not None and "reset_mask" in options:
            return self._reset_some(np.asarray(options["reset_mask"]), seed)
        if isinstance(seed, (list, tuple)):
            if len(seed) != self.num_envs:
                raise ValueError(f"reset(seed=...): got {len(seed)} seeds for {self.num_envs} envs; expected one per env")
            super().reset(seed=None)
            if self.env_rngs is None:
                self.env_rngs = [seeding.np_random(s)[0] for s in seed]
            else:  # as separate envs: a None seed keeps that env's generator
                self.env_rngs = [
                    rng if s is None else seeding.np_random(s)[0] for rng, s in zip(self.env_rngs, seed, strict=True)
                ]
        else:
            super().reset(seed=seed)
            if seed is not None:
                self.env_rngs = None
        self.low, self.high = maybe_parse_reset_bounds(options, RESET_LOW, RESET_HIGH)
        self.state = self._initial_states(np.arange(self.num_envs))
        self.steps = np.zeros(self.num_envs, dtype=np.int32)
        self.prev_done = np.zeros(self.num_envs, dtype=np.bool_)
        return self.state.T.astype(np.float32), {}

    def _reset_some(self, mask: np.ndarray, seed: Any) -> tuple[np.ndarray, dict]:
        if mask.shape != (self.num_envs,) or mask.dtype != np.bool_ or not mask.any():
            raise ValueError(f"options['reset_mask']: expected a boolean array of shape ({self.num_envs},) with a True")
        if seed is not None or self.state is None:
            raise ValueError("reset(options={'reset_mask': ...}) resets envs under way: call reset() first, without seed")
        idx = np.flatnonzero(mask)
        self.state[:, idx] = self._initial_states(idx)
        self.steps[idx] = 0
        self.prev_done[idx] = False
        return self.state.T.astype(np.float32), {}

    def render(self) -> list[np.ndarray] | None:
        if self.render_mode is None:
            gym.logger.warn(
                'You are calling render method without specifying any render mode. Pass render_mode="rgb_array", '
                'e.g. gymnasium.make_vec("ScratchCartPole-v0", render_mode="rgb_array").'
            )
            return None
        if self.state is None:
            raise gym.error.ResetNeeded("ScratchCartPoleVectorEnv: call reset() before render().")
        return [rendering.draw_cartpole(x, theta) for x, theta in zip(self.state[0], self.state[2], strict=True)]
