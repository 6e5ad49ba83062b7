"""SB3's ``RolloutBuffer`` surface over our rollout storage, for callbacks and code written for SB3.

``self.model.rollout_buffer`` in a callback's ``_on_rollout_end`` offers what SB3's does: ``buffer_size``,
``n_envs``, ``pos``, ``full``, ``size()``, ``observation_space``, ``action_space``, ``observations`` and ``actions``
in SB3's shapes and dtypes ((n_steps, n_envs, *obs_shape) in the space's dtype, Discrete observations as their value
(.., 1); actions (n_steps, n_envs, action_dim) in the action space's dtype), ``rewards``, ``episode_starts``,
``values``, ``log_probs``, ``advantages``, ``returns`` (n_steps, n_envs), and ``get(batch_size)`` yielding SB3's
``RolloutBufferSamples`` (torch tensors, as SB3's). Ours stores the network's inputs (one-hots, floats), so
``observations`` and ``actions`` are computed from them on each read (copies, except raw images).

Where it differs: SB3 flattens its arrays in place to (n_steps * n_envs, ...) once training has read them; ours stay
(n_steps, n_envs, ...). Float Box observations are the float32 values the network read (SB3 keeps float64 ones in
float64; its network reads them as float32 too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from sb3_scratch_ppo.nn.preprocessing import as_sb3_stores


class SB3BufferView:
    """A mixin for ``RolloutStorage``: SB3's RolloutBuffer names over its arrays."""

    n_steps: int
    n_envs: int
    pos: int
    inputs: Any  # the network's inputs (a dict of them per key for Dict observations)
    action_rows: np.ndarray
    values: np.ndarray
    log_probs: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray
    sb3_spaces: Any  # (observation space, action space, normalize_images)

    @property
    def buffer_size(self) -> int:
        return self.n_steps

    @property
    def full(self) -> bool:
        return self.pos == self.n_steps

    def size(self) -> int:
        """Steps stored per env (SB3's: buffer_size when full, else pos)."""
        return self.n_steps if self.full else self.pos

    @property
    def observation_space(self) -> Any:
        return self._spaces()[0]

    @property
    def action_space(self) -> Any:
        return self._spaces()[1]

    def _spaces(self) -> Any:
        if self.sb3_spaces is None:
            raise AttributeError("this rollout storage was built without its spaces (sb3_spaces=): no SB3 view")
        return self.sb3_spaces

    @property
    def observations(self) -> Any:
        """(n_steps, n_envs, *obs_shape) in the observation space's dtype (per key for Dict spaces), as SB3 stores them."""
        space, _, normalize_images = self._spaces()
        if isinstance(self.inputs, dict):
            return {key: as_sb3_stores(x, space.spaces[key], normalize_images) for key, x in self.inputs.items()}
        return as_sb3_stores(self.inputs, space, normalize_images)

    @property
    def actions(self) -> np.ndarray:
        """(n_steps, n_envs, action_dim) in the action space's dtype, as drawn (before clipping), as SB3 stores them."""
        action_space = self._spaces()[1]
        return self.action_rows.reshape(self.n_steps, self.n_envs, -1).astype(action_space.dtype, copy=False)

    def get(self, batch_size: int | None = None) -> Iterator[Any]:
        """SB3's get: a permutation from NumPy's global RNG (as SB3's: it moves the same random stream), then
        ``RolloutBufferSamples`` (``DictRolloutBufferSamples`` for Dict observations) of ``batch_size`` rows as torch
        tensors, actions as float32 (SB3's cast)."""
        import torch
        from stable_baselines3.common.type_aliases import DictRolloutBufferSamples, RolloutBufferSamples

        assert self.full, ""
        size = self.n_steps * self.n_envs
        indices = np.random.permutation(size)

        def flat(a: np.ndarray) -> np.ndarray:  # env-major, as SB3's swap_and_flatten
            return a.swapaxes(0, 1).reshape(size, *a.shape[2:])

        observations = self.observations
        if isinstance(observations, dict):
            observations = {key: flat(value) for key, value in observations.items()}
        else:
            observations = flat(observations)
        fields = [flat(self.actions).astype(np.float32, copy=False)]
        fields += [flat(a) for a in (self.values, self.log_probs, self.advantages, self.returns)]
        samples = DictRolloutBufferSamples if isinstance(observations, dict) else RolloutBufferSamples
        for start in range(0, size, batch_size or size):
            rows = indices[start : start + (batch_size or size)]
            obs = (
                {key: torch.as_tensor(value[rows]) for key, value in observations.items()}
                if isinstance(observations, dict)
                else torch.as_tensor(observations[rows])
            )
            yield samples(obs, *(torch.as_tensor(field[rows]) for field in fields))
