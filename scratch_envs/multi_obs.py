"""SB3's ``SimpleMultiObsEnv`` as a registered task with one fixed observation encoding: MultiInputPolicy's learning test.

SB3's env (stable_baselines3.common.envs) is a 4x4 grid world whose cells are shown as a dict: a random 5-vector
per column ("vec") and a random 64x64x1 uint8 image per row ("img"). It draws that encoding from NumPy's *global*
generator when it is built, so every copy in a vectorized env, and every run, would see a different task. Here
the encoding comes from ``encoding_seed`` and the global generator is left as it was. The agent starts in cell 0
(``random_start=False``); the shortest path to the goal, cell 15, takes 6 steps: return 5 x -0.1 + 1 = 0.5.
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.envs import SimpleMultiObsEnv

# The shortest path's return is 0.5; one step more gives 0.4.
REWARD_THRESHOLD = 0.45


def make_simple_multi_obs_env(encoding_seed: int = 0, **kwargs) -> SimpleMultiObsEnv:
    """SimpleMultiObsEnv(**kwargs) with the observation encoding drawn from ``encoding_seed``."""
    state = np.random.get_state()
    np.random.seed(encoding_seed)
    try:
        return SimpleMultiObsEnv(**kwargs)
    finally:
        np.random.set_state(state)
