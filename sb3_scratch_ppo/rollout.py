"""Rollout storage: one rollout of n_steps x n_envs transitions, GAE(lambda) returns, and minibatches.

Arrays are allocated once and reused every rollout. Layout during collection is
(n_steps, n_envs, ...); after ``compute_returns_and_advantage`` everything is flattened
env-major (flat index = env * n_steps + t), as SB3's RolloutBuffer does, so the same
permutation picks the same samples in both. The storage keeps what the network reads (``inputs``: one-hots for
Discrete observations, floats); callbacks see SB3's ``RolloutBuffer`` surface over it (``SB3BufferView``:
``observations`` and ``actions`` in SB3's shapes and dtypes, ``size()``, ``pos``, ``full``, ``get()``).

GAE (Schulman et al. 2016), backwards over t, with episode_start[t] = "obs[t] began an episode":

    next_non_terminal = 1 - dones_after_last_step          (t = T - 1; next_value = V(last obs))
                      = 1 - episode_start[t + 1]           (otherwise; next_value = V[t + 1])
    delta_t = r_t + gamma * next_value * next_non_terminal - V_t
    A_t     = delta_t + gamma * lambda * next_non_terminal * A_{t+1}
    returns = A + V
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from sb3_scratch_ppo.rollout_view import SB3BufferView


def tree_map(fn: Callable[[np.ndarray], Any], x: Any) -> Any:
    """fn on an array, or on each array of a dict of arrays (Dict observations are stored per key)."""
    return {key: fn(value) for key, value in x.items()} if isinstance(x, dict) else fn(x)


class Minibatch(NamedTuple):
    """One minibatch of the rollout, field by field (``RolloutStorage.flatten`` names each)."""

    observations: np.ndarray | dict[str, np.ndarray]  # the network's input as the policy preprocessed it (per key)
    actions: np.ndarray
    old_values: np.ndarray
    old_log_prob: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray
    action_masks: np.ndarray | None = None  # (B, mask width) booleans, with action masking (ScratchMaskablePPO)


class RolloutStorage(SB3BufferView):
    """The arrays of one rollout, written step by step by ``collect_rollouts`` (whose ``n_steps`` is the only step
    counter: step t goes to row t), then GAE, then minibatches for ``train``."""

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_spec,
        action_shape: tuple[int, ...],
        action_dtype,
        gamma: float,
        gae_lambda: float,
        dtype=np.float32,
        sb3_spaces: Any = None,
        mask_dim: int | None = None,
    ):
        """``obs_spec``: the shape of one network input (stored as ``dtype``), or (shape, dtype), or a dict of
        (shape, dtype) per key (``policy.input_spec()``: images are kept raw, uint8). ``sb3_spaces``: (observation
        space, action space, normalize_images), for SB3's view of the observations and actions (rollout_view.py).
        ``mask_dim``: with action masking, the width of a step's mask (sb3-contrib's MaskableRolloutBuffer)."""
        self.n_steps, self.n_envs = n_steps, n_envs
        self.sb3_spaces = sb3_spaces
        self.gamma, self.gae_lambda = gamma, gae_lambda
        T, N = n_steps, n_envs

        def array(spec):
            shape, obs_dtype = spec if len(spec) == 2 and isinstance(spec[0], tuple) else (spec, dtype)
            return np.zeros((T, N, *shape), dtype=obs_dtype)

        # Preprocessed by the policy straight into row t at step t.
        self.inputs = {key: array(spec) for key, spec in obs_spec.items()} if isinstance(obs_spec, dict) else array(obs_spec)
        self.action_rows = np.zeros((T, N, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros((T, N), dtype=dtype)
        self.episode_starts = np.zeros((T, N), dtype=dtype)
        self.values = np.zeros((T, N), dtype=dtype)
        self.log_probs = np.zeros((T, N), dtype=dtype)
        self.advantages = np.zeros((T, N), dtype=dtype)
        self.returns = np.zeros((T, N), dtype=dtype)
        self.action_masks = None if mask_dim is None else np.ones((T, N, mask_dim), dtype=bool)
        self.flat: Minibatch | None = None  # the whole rollout, flattened; set by flatten()
        self.pos = 0  # steps stored this rollout (SB3's pos); full when it reaches n_steps

    @classmethod
    def for_policy(cls, policy: Any, n_steps: int, n_envs: int, gamma: float, gae_lambda: float) -> RolloutStorage:
        """The storage for ``policy``'s network inputs and actions (ScratchPPO's ``rollout_buffer``)."""
        spaces = (policy.observation_space, policy.action_space, policy.normalize_images)
        action_shape, action_dtype = policy.action_space.shape, policy.action_dist.action_dtype
        mask_dim = policy.action_dist.out_dim if getattr(policy, "masks_actions", False) else None
        return cls(
            n_steps,
            n_envs,
            policy.input_spec(),
            action_shape,
            action_dtype,
            gamma,
            gae_lambda,
            sb3_spaces=spaces,
            mask_dim=mask_dim,
        )

    def reset(self) -> None:
        """Start a rollout (SB3's reset: pos 0, not full; the arrays are reused, each row is overwritten)."""
        self.pos, self.flat = 0, None

    def add(self, t: int, actions, rewards, episode_starts, values, log_probs, action_masks=None) -> None:
        """Store step t of every env. Its observation is already in ``inputs[t]``: the policy preprocesses each step's
        observations straight into that row. Masks: all True when none are given (sb3-contrib's buffer)."""
        if self.action_masks is not None:
            self.action_masks[t] = True if action_masks is None else np.reshape(action_masks, self.action_masks.shape[1:])
        self.action_rows[t] = actions.reshape(self.action_rows.shape[1:])
        self.rewards[t] = rewards
        self.episode_starts[t] = episode_starts
        self.values[t] = values
        self.log_probs[t] = log_probs
        self.pos = t + 1

    def compute_returns_and_advantage(self, last_values: np.ndarray, dones: np.ndarray) -> None:
        """GAE (see the module docstring) in float32, as SB3's loop computes it; then ``flatten``."""
        # --8<-- [start:gae]
        next_values = np.concatenate((self.values[1:], last_values[None]), dtype=np.float32)
        next_non_terminal = 1.0 - np.concatenate((self.episode_starts[1:], dones[None]), dtype=np.float32)
        # delta for all t at once; only the recursion over A runs step by step (same float32 operations as SB3's loop).
        delta = self.rewards + self.gamma * next_values * next_non_terminal - self.values
        coef = (self.gamma * self.gae_lambda) * next_non_terminal
        if self.n_envs == 1:  # one env: the same float32 arithmetic on NumPy scalars, much faster than on 1-element arrays
            delta, coef, advantages, last_gae = delta[:, 0], coef[:, 0], self.advantages[:, 0], np.float32(0.0)
        else:
            advantages, last_gae = self.advantages, np.zeros(self.n_envs, dtype=np.float32)
        for t in range(self.n_steps - 1, -1, -1):
            last_gae = delta[t] + coef[t] * last_gae
            advantages[t] = last_gae
        np.add(self.advantages, self.values, out=self.returns)
        # --8<-- [end:gae]
        self.flatten()

    def observation_row(self, t: int) -> np.ndarray | dict[str, np.ndarray]:
        """Where step t's observations go (the policy preprocesses into it)."""
        return tree_map(lambda a: a[t], self.inputs)

    def flatten(self) -> None:
        """(T, N, ...) -> (N * T, ...), env-major, as SB3's swap_and_flatten; the storage's names to Minibatch's."""

        def flat(a):
            return np.ascontiguousarray(a.swapaxes(0, 1)).reshape(self.n_envs * self.n_steps, *a.shape[2:])

        self.flat = Minibatch(
            observations=tree_map(flat, self.inputs),
            actions=flat(self.action_rows),
            old_values=flat(self.values),
            old_log_prob=flat(self.log_probs),
            advantages=flat(self.advantages),
            returns=flat(self.returns),
            action_masks=None if self.action_masks is None else flat(self.action_masks),
        )

    def minibatches(self, batch_size: int | None) -> Iterator[Minibatch]:
        """One epoch: a permutation from NumPy's global RNG (as SB3), then consecutive slices of it.

        The rollout is gathered in permuted order once per epoch (``take``: faster than fancy indexing);
        minibatches are views of it, or the whole of it when one minibatch holds the rollout."""
        assert self.flat is not None, "compute_returns_and_advantage() first"
        size = self.n_envs * self.n_steps
        indices = np.random.permutation(size)
        gathered: list[Any] = [None if f is None else tree_map(lambda a: a.take(indices, axis=0), f) for f in self.flat]
        if batch_size is None or batch_size >= size:  # None: the whole rollout, as SB3's RolloutBuffer.get
            yield Minibatch(*gathered)
            return
        for start in range(0, size, batch_size):
            rows = operator.itemgetter(slice(start, start + batch_size))
            sliced: list[Any] = [None if f is None else tree_map(rows, f) for f in gathered]
            yield Minibatch(*sliced)


def stack_observations(observations: list) -> np.ndarray | dict[str, np.ndarray]:
    """A batch from single observations: arrays stacked, or dicts stacked key by key."""
    if isinstance(observations[0], dict):
        return {key: np.stack([obs[key] for obs in observations]) for key in observations[0]}
    return np.stack(observations)
