"""Small environments the tests share."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ImageEnv(gym.Env):
    """Atari-shaped frames, channel-last (84, 84, 4) uint8, so SB3's _wrap_env adds VecTransposeImage; or a Dict of
    such a frame (smaller), a vector and a discrete key. The reward depends on the action and the frame, episodes
    are cut by a time limit (time-limit bootstraps with image and dict terminal observations)."""

    def __init__(self, dict_obs=False, horizon=12):
        frame = spaces.Box(0, 255, (40, 36, 3) if dict_obs else (84, 84, 4), np.uint8)
        self.observation_space = (
            spaces.Dict({"frame": frame, "vec": spaces.Box(-1, 1, (3,), np.float32), "mode": spaces.Discrete(3)})
            if dict_obs
            else frame
        )
        self.action_space = spaces.Discrete(3)
        self.horizon = horizon

    def _obs(self):
        return self.observation_space.sample()

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(seed)
        self.t = 0
        self.last = self._obs()
        return self.last, {}

    def step(self, action):
        frame = self.last["frame"] if isinstance(self.last, dict) else self.last
        reward = float(action == int(frame[..., 0].mean()) % 3)
        self.t += 1
        self.last = self._obs()
        return self.last, reward, False, self.t >= self.horizon, {}


class MaskedImageEnv(ImageEnv):
    """ImageEnv with one of its three actions masked at each step, chosen by the frame (so both learners, seeing the
    same frames, get the same masks)."""

    def action_masks(self):
        frame = self.last["frame"] if isinstance(self.last, dict) else self.last
        masks = np.ones(3, dtype=bool)
        masks[int(frame[..., 1].mean()) % 3] = False
        return masks
