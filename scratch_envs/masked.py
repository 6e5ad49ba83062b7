"""Masked tasks, the ones ScratchMaskablePPO's reward parity with sb3-contrib's MaskablePPO is measured on
(``configs/maskable.yml``): Gymnasium's Taxi with the action masks it computes itself, offered as ``action_masks()``.

sb3-contrib's ``InvalidActionEnvDiscrete`` is registered as ``InvalidActionEnvDiscrete-v0`` by ``scratch_envs``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text.taxi import TaxiEnv


class TaxiActionMasks(gym.Wrapper):
    """Taxi's legal actions as ``action_masks()``: moves that a wall or the grid's edge blocks, a pick-up where the
    passenger is not and a drop-off away from the four stands are masked (Gymnasium's ``TaxiEnv.action_mask``, also
    given in each step's ``info["action_mask"]``)."""

    def __init__(self, env: gym.Env):
        if not isinstance(env.unwrapped, TaxiEnv):
            raise TypeError(f"env: TaxiActionMasks wraps Gymnasium's Taxi, got {env.unwrapped!r}")
        super().__init__(env)
        self.taxi: TaxiEnv = env.unwrapped

    def action_masks(self) -> np.ndarray:
        return self.taxi.action_mask(self.taxi.s).astype(bool)
