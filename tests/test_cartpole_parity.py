"""ScratchCartPole-v0 is CartPole-v1 step for step: Gymnasium runs live beside it, same seeds, same actions."""

import gymnasium as gym
import numpy as np
import pytest

import scratch_envs  # noqa: F401

N_SEEDS = 100
BALANCE = np.array([0.05, 0.3, 5.0, 1.0])  # a linear controller that holds the pole up for 500 steps


def balancing_action(obs: np.ndarray) -> int:
    return int(obs @ BALANCE > 0)


def run_pair(seed: int, policy: str, extra_steps: int = 0, make_kwargs=None, options=None):
    """Step CartPole-v1 and ScratchCartPole-v0 side by side; assert every output agrees, observations bitwise (the
    whole episode compared at once). Returns the episode length and how it ended."""
    make_kwargs = make_kwargs or {}
    ref = gym.make("CartPole-v1", **make_kwargs)
    ours = gym.make("ScratchCartPole-v0", **make_kwargs)
    rng = np.random.default_rng(seed)
    obs_r, info_r = ref.reset(seed=seed, options=options)
    obs_o, info_o = ours.reset(seed=seed, options=options)
    assert obs_o.dtype == np.float32 and obs_o.shape == (4,)
    assert info_o == info_r
    observations_r, observations_o = [obs_r], [obs_o]
    length, after_end = 0, None
    while True:
        action = int(rng.integers(2)) if policy == "random" else balancing_action(obs_o)
        obs_r, rew_r, term_r, trunc_r, info_r = ref.step(action)
        obs_o, rew_o, term_o, trunc_o, info_o = ours.step(action)
        observations_r.append(obs_r)
        observations_o.append(obs_o)
        assert (rew_o, term_o, trunc_o, info_o) == (rew_r, term_r, trunc_r, info_r)
        assert type(rew_o) is float and type(term_o) is bool and type(trunc_o) is bool
        length += 1
        if after_end is None and (term_o or trunc_o):
            after_end = 0
            episode_length = length
        elif after_end is not None:
            after_end += 1
        if after_end is not None and after_end >= extra_steps:
            np.testing.assert_array_equal(np.stack(observations_o), np.stack(observations_r))
            return episode_length, term_o, trunc_o


@pytest.mark.parametrize("policy", ["random", "balancing"])
def test_episodes_match_cartpole_v1(policy):
    lengths, truncations = [], 0
    for seed in range(N_SEEDS):
        length, _, truncated = run_pair(seed, policy)
        lengths.append(length)
        truncations += truncated
    if policy == "random":  # episodes end by falling
        assert max(lengths) < 500 and truncations == 0
    else:  # episodes end by the 500-step limit
        assert min(lengths) == 500 and truncations == N_SEEDS


def test_stepping_after_termination_matches():
    # Random play falls well before 500 steps; 20 more steps exercise the post-termination rewards.
    for seed in range(20):
        _, terminated, _ = run_pair(seed, "random", extra_steps=20)
        assert terminated


def test_sutton_barto_reward_matches():
    for seed in range(20):
        run_pair(seed, "random", extra_steps=3, make_kwargs={"sutton_barto_reward": True})


@pytest.mark.parametrize("options", [{"low": -0.2, "high": 0.2}, {"low": 0.01}, {"high": -0.01}])
def test_reset_bounds_options_match(options):
    for seed in range(20):
        run_pair(seed, "random", options=options)


def test_reset_bounds_error_matches():
    with pytest.raises(ValueError, match="Lower bound"):
        gym.make("ScratchCartPole-v0").reset(options={"low": 0.1, "high": -0.1})


def test_unseeded_reset_continues_rng_like_cartpole_v1():
    ref, ours = gym.make("CartPole-v1"), gym.make("ScratchCartPole-v0")
    ref.reset(seed=7)
    ours.reset(seed=7)
    for _ in range(5):
        np.testing.assert_array_equal(ours.reset()[0], ref.reset()[0])


@pytest.mark.parametrize("num_envs", [1, 16])
@pytest.mark.parametrize("policy", ["random", "balancing"])
def test_vector_env_matches_cartpole_vector_env(num_envs, policy):
    kwargs = dict(num_envs=num_envs, vectorization_mode="vector_entry_point")
    ref = gym.make_vec("CartPole-v1", **kwargs)
    ours = gym.make_vec("ScratchCartPole-v0", **kwargs)
    assert type(ours).__name__ == "ScratchCartPoleVectorEnv"
    assert ours.metadata["autoreset_mode"] == ref.metadata["autoreset_mode"]
    assert ours.single_observation_space == ref.single_observation_space
    assert ours.action_space == ref.action_space
    obs_r, _ = ref.reset(seed=3)
    obs_o, _ = ours.reset(seed=3)
    np.testing.assert_array_equal(obs_o, obs_r)
    rng = np.random.default_rng(0)
    n_term = n_trunc = 0
    for _ in range(1200):
        if policy == "random":
            actions = rng.integers(0, 2, size=num_envs)
        else:
            actions = (obs_o.astype(np.float64) @ BALANCE > 0).astype(np.int64)
        obs_r, rew_r, term_r, trunc_r, info_r = ref.step(actions)
        obs_o, rew_o, term_o, trunc_o, info_o = ours.step(actions)
        assert obs_o.dtype == np.float32 and rew_o.dtype == rew_r.dtype
        np.testing.assert_array_equal(obs_o, obs_r)
        np.testing.assert_array_equal(rew_o, rew_r)
        np.testing.assert_array_equal(term_o, term_r)
        np.testing.assert_array_equal(trunc_o, trunc_r)
        assert info_o == info_r
        n_term += term_o.sum()
        n_trunc += trunc_o.sum()
    # Both ways of ending an episode, and the autoresets after them, were exercised.
    assert (n_term > 0) if policy == "random" else (n_trunc >= num_envs)


def test_vector_env_sutton_barto_and_reset_options_match():
    kwargs = dict(num_envs=8, vectorization_mode="vector_entry_point", sutton_barto_reward=True)
    ref, ours = gym.make_vec("CartPole-v1", **kwargs), gym.make_vec("ScratchCartPole-v0", **kwargs)
    options = {"low": -0.1, "high": 0.1}
    np.testing.assert_array_equal(ours.reset(seed=5, options=options)[0], ref.reset(seed=5, options=options)[0])
    rng = np.random.default_rng(1)
    for _ in range(300):
        actions = rng.integers(0, 2, size=8)
        for got, want in zip(ours.step(actions), ref.step(actions), strict=True):
            np.testing.assert_array_equal(got, want)
