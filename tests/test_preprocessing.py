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


@pytest.mark.parametrize(
    "space",
    [
        *SPACES.values(),
        spaces.Discrete(4, start=-2),
        spaces.MultiDiscrete([3, 2, 5], start=[1, 0, -1]),
        spaces.MultiBinary((2, 3)),
    ],
    ids=lambda s: str(s),
)
def test_what_callbacks_read_is_what_sb3s_buffer_stores(space):
    """as_sb3_stores undoes preprocess: a rollout's network inputs, read back as SB3's RolloutBuffer stores the
    observations, are the observations, in SB3's buffer shape and dtype (float Box: the float32 the network read)."""
    from stable_baselines3.common.buffers import RolloutBuffer

    space.seed(1)
    T, N = 5, 3
    obs = np.stack([space.sample() for _ in range(T * N)])
    x = preprocessing.preprocess(obs, space).reshape(T, N, -1)
    stored = preprocessing.as_sb3_stores(x, space)
    sb3 = RolloutBuffer(T, space, spaces.Discrete(2), n_envs=N).observations
    assert stored.shape == sb3.shape and stored.dtype == sb3.dtype
    expected = obs.astype(np.float32) if space.dtype == np.float64 else obs  # what the network read
    np.testing.assert_array_equal(stored.reshape(T * N, -1), expected.reshape(T * N, -1).astype(stored.dtype))
