"""Observation preprocessing equals SB3's preprocess_obs (+ flatten) for every supported space."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import preprocess_obs

from sb3_scratch_ppo.nn import preprocessing

SPACES = {
    "Box": spaces.Box(-1.0, 1.0, shape=(2, 3), dtype=np.float32),
    "Box-float64": spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float64),
    "Box-image": spaces.Box(0, 255, shape=(8, 8, 3), dtype=np.uint8),
    "Discrete": spaces.Discrete(5),
    "MultiDiscrete": spaces.MultiDiscrete([3, 2, 4]),
    "MultiBinary": spaces.MultiBinary(6),
}


@pytest.mark.parametrize("name", list(SPACES))
def test_features_equal_sb3(name):
    space = SPACES[name]
    space.seed(0)
    obs = np.stack([space.sample() for _ in range(7)])
    ours = preprocessing.preprocess(obs, space)
    ref = preprocess_obs(torch.as_tensor(obs), space, normalize_images=True).reshape(7, -1).float().numpy()
    assert ours.dtype == np.float32 and ours.shape == ref.shape == (7, preprocessing.features_dim(space))
    np.testing.assert_allclose(ours, ref, rtol=1e-7)


def test_writes_into_out_without_allocating_a_result():
    space = SPACES["Box"]
    out = np.empty((3, 6), dtype=np.float32)
    assert preprocessing.preprocess(np.ones((3, 2, 3)), space, out=out) is out


def test_unsupported_space_is_named():
    with pytest.raises(NotImplementedError, match=r"Tuple.*not supported by MlpPolicy"):
        preprocessing.features_dim(spaces.Tuple((spaces.Discrete(2),)))
