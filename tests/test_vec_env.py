"""The fast path: sb3_scratch_ppo.make_vec_env against SB3's make_vec_env (a DummyVecEnv of Monitor-wrapped envs), live."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

import scratch_envs
from sb3_scratch_ppo import ScratchPPO, make_vec_env
from sb3_scratch_ppo.vec_env import VectorEnvAdapter, native_vec_env


def heuristic(obs, rng, noise):
    """Balance the pole most of the time (long episodes, time-limit truncations) with random pushes (early ends)."""
    greedy = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
    return np.where(rng.random(len(obs)) < noise, rng.integers(0, 2, len(obs)), greedy)


def run(env, steps, seed, noise):
    """Transitions of ``env`` under a fixed action sequence: obs, rewards, dones and the infos of ended episodes."""
    rng = np.random.default_rng(seed)
    obs = env.reset()
    record = [("reset", obs)]
    for _ in range(steps):
        obs, rewards, dones, infos = env.step(heuristic(obs, rng, noise))
        ended = [
            (i, info["terminal_observation"], info["TimeLimit.truncated"], info["episode"]["r"], info["episode"]["l"])
            for i, info in enumerate(infos)
            if dones[i]
        ]
        keys = [sorted(info) for info in infos]
        record.append((obs, rewards, dones, ended, keys))
    return record


def assert_same(ours, ref):
    for step, (a, b) in enumerate(zip(ours, ref, strict=True)):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and x.shape == y.shape, f"step {step}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
                np.testing.assert_array_equal(x, y, err_msg=f"step {step}")
            elif isinstance(x, list) and x and isinstance(x[0], tuple):
                assert len(x) == len(y), f"step {step}: {len(x)} vs {len(y)} episodes ended"
                for (i, term, trunc, r, length), (j, term2, trunc2, r2, length2) in zip(x, y, strict=True):
                    assert (i, trunc, r, length) == (j, trunc2, r2, length2), f"step {step}"
                    np.testing.assert_array_equal(term, term2, err_msg=f"step {step}: terminal_observation")
                    assert term.dtype == term2.dtype
            else:
                assert x == y, f"step {step}: {x} vs {y}"


@pytest.mark.parametrize("env_id", ["CartPole-v1", "ScratchCartPole-v0"])
@pytest.mark.parametrize("n_envs,seed,noise", [(1, 0, 0.05), (8, 3, 0.05), (8, 11, 0.5), (64, 5, 0.02)])
def test_same_transitions_as_dummy_vec_env(env_id, n_envs, seed, noise):
    """Same observations, rewards, dones, terminal observations, truncation flags and episode stats, step for step,
    including time-limit truncations at 500 steps and same-step resets."""
    ours = make_vec_env(env_id, n_envs=n_envs, seed=seed) if n_envs > 1 else native_vec_env(env_id, n_envs, seed)
    ref = sb3_make_vec_env(env_id, n_envs=n_envs, seed=seed)
    assert isinstance(ours, VectorEnvAdapter) and isinstance(ref, DummyVecEnv)
    steps = 1500
    a, b = run(ours, steps, seed, noise), run(ref, steps, seed, noise)
    assert_same(a, b)
    ended = [e for rec in b[1:] for e in rec[3]]
    assert len(ended) > 0 and any(e[2] for e in ended) == (noise < 0.1), "the test should cover truncations when balancing"


def test_negative_control_gymnasium_vector_env_differs():
    """Gymnasium's own CartPoleVectorEnv (one shared RNG, next-step reset) through the same comparison must fail."""

    class NextStepAdapter:
        def __init__(self, n, seed):
            self.env = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
            self.seed = seed

        def reset(self):
            return self.env.reset(seed=self.seed)[0]

        def step(self, actions):
            obs, r, term, trunc, _ = self.env.step(actions)
            done = term | trunc
            infos = [
                {
                    "TimeLimit.truncated": bool(trunc[i] and not term[i]),
                    "terminal_observation": obs[i],
                    "episode": {"r": 0.0, "l": 0},
                }
                if done[i]
                else {"TimeLimit.truncated": False}
                for i in range(len(obs))
            ]
            return obs, r, done, infos

    ref = sb3_make_vec_env("CartPole-v1", n_envs=8, seed=3)
    with pytest.raises(AssertionError):
        assert_same(run(NextStepAdapter(8, 3), 300, 3, 0.3), run(ref, 300, 3, 0.3))


def test_reseeding_and_reset_continue_like_dummy_vec_env():
    ours, ref = make_vec_env("CartPole-v1", n_envs=4, seed=1), sb3_make_vec_env("CartPole-v1", n_envs=4, seed=1)
    assert_same(run(ours, 200, 0, 0.3), run(ref, 200, 0, 0.3))
    # A reset without seed continues each env's generator; a new seed() restarts them.
    assert_same(run(ours, 200, 1, 0.3), run(ref, 200, 1, 0.3))
    ours.seed(42), ref.seed(42)
    assert_same(run(ours, 200, 2, 0.3), run(ref, 200, 2, 0.3))


def test_sb3_api_surface():
    env = make_vec_env("ScratchCartPole-v0", n_envs=3, seed=0)
    ref = sb3_make_vec_env("ScratchCartPole-v0", n_envs=3, seed=0)
    assert env.num_envs == 3 and env.observation_space == ref.observation_space and env.action_space == ref.action_space
    assert env.env_is_wrapped(Monitor) == [True] * 3 and env.env_is_wrapped(gym.wrappers.TimeLimit) == [False] * 3
    assert env.get_attr("render_mode") == ref.get_attr("render_mode") == ["rgb_array"] * 3
    env.reset(), ref.reset()
    frames, ref_frames = env.get_images(), ref.get_images()
    assert len(frames) == 3 and frames[0].shape == ref_frames[0].shape and frames[0].dtype == np.uint8
    with pytest.raises(ValueError, match=r"actions \[2\] at env indices \[1\]"):
        env.step(np.array([0, 2, 1]))
    with pytest.raises(NotImplementedError, match="env_method"):
        env.env_method("reset")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(wrapper_class=gym.wrappers.RecordEpisodeStatistics),
        dict(vec_env_cls=DummyVecEnv),
        dict(env_kwargs={"max_episode_steps": 100}),
        dict(monitor_dir="MONITOR"),
    ],
)
def test_falls_back_to_sb3_make_vec_env(kwargs, tmp_path):
    if kwargs.get("monitor_dir"):
        kwargs["monitor_dir"] = str(tmp_path)
    if "env_kwargs" in kwargs:
        kwargs["env_kwargs"] = {"sutton_barto_reward": True, "foo": 1}
        env_id = "CartPole-v1"
        with pytest.raises(TypeError, match="foo"):  # SB3's path, SB3's error
            make_vec_env(env_id, n_envs=2, **kwargs)
        return
    env = make_vec_env("CartPole-v1", n_envs=2, **kwargs)
    assert isinstance(env, DummyVecEnv)
    env.close()  # Monitor's files
    assert isinstance(make_vec_env("Acrobot-v1", n_envs=2), DummyVecEnv)
    assert isinstance(make_vec_env("CartPole-v1", n_envs=1), DummyVecEnv)  # one env: DummyVecEnv is faster


def test_vector_env_same_step_matches_sync_vector_env():
    """The native env's SAME_STEP mode and per-env seeds against Gymnasium's SyncVectorEnv of CartPole-v1 envs."""
    n = 6
    ours = scratch_envs.ScratchCartPoleVectorEnv(num_envs=n, autoreset_mode=AutoresetMode.SAME_STEP)
    ref = gym.make_vec(
        "CartPole-v1", num_envs=n, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}
    )
    seeds = [10 + i for i in range(n)]
    obs, _ = ours.reset(seed=seeds)
    obs_ref, _ = ref.reset(seed=seeds)
    np.testing.assert_array_equal(obs, obs_ref)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(600):
        actions = heuristic(obs, rng, 0.6)
        obs, r, term, trunc, info = ours.step(actions)
        obs_ref, r_ref, term_ref, trunc_ref, info_ref = ref.step(actions)
        for x, y in ((obs, obs_ref), (r, r_ref), (term, term_ref), (trunc, trunc_ref)):
            np.testing.assert_array_equal(x, y)
        assert ("final_obs" in info) == ("final_obs" in info_ref)
        if "final_obs" in info:
            np.testing.assert_array_equal(info["_final_obs"], info_ref["_final_obs"])
            for i in np.flatnonzero(info["_final_obs"]):
                np.testing.assert_array_equal(info["final_obs"][i], info_ref["final_obs"][i])
                ended += 1
    assert ended > 10


def test_scratch_ppo_learns_on_the_fast_path():
    env = make_vec_env("ScratchCartPole-v0", n_envs=8, seed=0)
    from sb3_scratch_ppo import zoo

    model = ScratchPPO("MlpPolicy", env, seed=0, **zoo.load("CartPole-v1").kwargs).learn(40_000)
    assert model.ep_info_buffer and "r" in model.ep_info_buffer[0]  # Monitor-style stats reach rollout/ep_rew_mean
    mean, _ = evaluate_policy(model, make_vec_env("ScratchCartPole-v0", n_envs=4, seed=100), n_eval_episodes=8)
    assert mean > 300, mean
