"""Rollout- and update-level parity with SB3's PPO: same weights + same data -> same buffer, same new weights, same logs.

SB3 runs live in each test. Weights and Adam state are copied from an SB3 PPO that has
already trained a little (so Adam's moments and step count are not trivial).
"""

import functools

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.preprocessing import is_image_space

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.rollout import RolloutStorage, tree_map
from tests.envs import ImageEnv
from tests.extras import require

RTOL, ATOL = 1e-4, 1e-6


def make_pair(env_id, n_envs=4, seed=0, max_episode_steps=None, pretrain=True, **kwargs):
    env_kwargs = {"max_episode_steps": max_episode_steps} if max_episode_steps else None
    envs = [make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs) for _ in range(2)]
    sb3 = PPO("MlpPolicy", envs[0], seed=seed, **kwargs)
    if pretrain:
        sb3.learn(2 * sb3.n_steps * n_envs)
    ours = ScratchPPO("MlpPolicy", envs[1], seed=seed, **kwargs)
    ours.set_parameters(sb3.get_parameters())  # weights and Adam state
    return sb3, ours


def start_rollout(model):
    model.env.seed(0)  # both envs start from the same state, whatever they did before
    _, callback = model._setup_learn(10**6, None, reset_num_timesteps=True)
    callback.on_training_start(locals(), globals())
    return callback


def deterministic(model):
    """Both algorithms take the mode of their distribution, so equal weights give equal actions."""
    if isinstance(model, ScratchPPO):  # its rollout acts through policy.rollout_net
        model.policy.rollout_net = functools.partial(type(model.policy).rollout_net, model.policy, deterministic=True)
    else:
        model.policy.forward = functools.partial(type(model.policy).forward, model.policy, deterministic=True)


def copy_sb3_rollout(sb3, ours):
    """Put SB3's collected rollout (observations, actions, rewards, values, ...) into our storage."""
    buf, st = sb3.rollout_buffer, ours.rollout_buffer
    T, N = buf.buffer_size, buf.n_envs
    st.inputs[:] = ours.policy.preprocess(buf.observations.reshape(T * N, *buf.obs_shape)).reshape(T, N, -1)
    st.action_rows[:] = buf.actions.reshape(st.action_rows.shape).astype(st.action_rows.dtype)
    for name in ("rewards", "episode_starts", "values", "log_probs", "advantages", "returns"):
        getattr(st, name)[:] = getattr(buf, name)
    st.flatten()


@pytest.mark.parametrize("env_id, max_steps", [("CartPole-v1", 60), ("Pendulum-v1", 30)])
def test_rollout_gae_and_time_limit_bootstrap_match_sb3(env_id, max_steps):
    sb3, ours = make_pair(env_id, n_envs=4, n_steps=128, gamma=0.97, gae_lambda=0.9, max_episode_steps=max_steps)
    for model in (sb3, ours):
        deterministic(model)
        model.collect_rollouts(model.env, start_rollout(model), model.rollout_buffer, model.n_steps)
    buf, st = sb3.rollout_buffer, ours.rollout_buffer
    T, N = buf.buffer_size, buf.n_envs
    observations = ours.policy.preprocess(buf.observations.reshape(T * N, *buf.obs_shape)).reshape(T, N, -1)
    np.testing.assert_allclose(st.inputs, observations, rtol=RTOL, atol=ATOL)
    # what a callback reads: SB3's RolloutBuffer names, shapes and dtypes
    assert st.observations.shape == buf.observations.shape and st.observations.dtype == buf.observations.dtype
    np.testing.assert_allclose(st.observations, buf.observations, rtol=RTOL, atol=ATOL)
    assert st.actions.shape == buf.actions.shape and st.actions.dtype == buf.actions.dtype
    np.testing.assert_allclose(st.actions, buf.actions, rtol=RTOL, atol=ATOL)
    assert (st.size(), st.pos, st.full, st.buffer_size) == (buf.size(), buf.pos, buf.full, buf.buffer_size)
    np.testing.assert_array_equal(st.episode_starts, buf.episode_starts)
    for name in ("rewards", "values", "log_probs", "advantages", "returns"):
        np.testing.assert_allclose(getattr(st, name), getattr(buf, name), rtol=RTOL, atol=1e-5, err_msg=name)
    ended = buf.episode_starts[1:].astype(bool)  # step t < T-1 ended an episode
    assert ended.sum() >= 4
    if env_id == "CartPole-v1":  # reward 1 per step, plus gamma * V(terminal obs) where the time limit cut in
        bootstrapped = ~np.isclose(buf.rewards[:-1], 1.0)
        assert not (bootstrapped & ~ended).any()
        assert (bootstrapped & ended).any() and (~bootstrapped & ended).any()  # truncations and failures both
    # SB3's get(): the same permutation picks the same rows, as SB3's samples (last: SB3's get() flattens its arrays)
    np.random.seed(5)
    ours_batches = list(st.get(100))  # first: SB3's get() flattens its arrays in place
    np.random.seed(5)
    for got, want in zip(ours_batches, buf.get(100), strict=True):  # the same permutation picks the same rows
        assert type(got) is type(want)
        for name, a, b in zip(want._fields, got, want, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype, name
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=RTOL, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("N", [5, 1])  # one env takes its own (scalar) path through the GAE recursion
@pytest.mark.parametrize("seed", range(3))
def test_gae_equals_sb3_rollout_buffer_on_random_data(seed, N):
    rng = np.random.default_rng(seed)
    T, gamma, lam = 37, 0.98, 0.8
    rewards, values = rng.normal(size=(T, N)).astype(np.float32), rng.normal(size=(T, N)).astype(np.float32)
    starts = rng.random((T, N)) < 0.15
    last_values, dones = rng.normal(size=N).astype(np.float32), rng.random(N) < 0.3
    ref = RolloutBuffer(T, spaces.Box(-1, 1, (2,)), spaces.Discrete(2), gamma=gamma, gae_lambda=lam, n_envs=N)
    for t in range(T):
        ref.add(np.zeros((N, 2)), np.zeros((N, 1)), rewards[t], starts[t], torch.tensor(values[t]), torch.zeros(N))
    ref.compute_returns_and_advantage(torch.tensor(last_values), dones)

    ours = RolloutStorage(T, N, (2,), (), np.int64, gamma, lam)
    for t in range(T):
        ours.add(t, np.zeros(N), rewards[t], starts[t], values[t], np.zeros(N))
    ours.compute_returns_and_advantage(last_values, dones)
    np.testing.assert_allclose(ours.advantages, ref.advantages, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.returns, ref.returns, rtol=1e-5, atol=1e-6)


CONFIGS = {
    "discrete": ("CartPole-v1", dict()),
    "discrete-vf-clip-entropy": ("CartPole-v1", dict(clip_range_vf=0.1, ent_coef=0.01)),
    "discrete-target-kl": ("CartPole-v1", dict(target_kl=0.002)),
    "discrete-schedules": (
        "CartPole-v1",
        dict(learning_rate=lambda p: 5e-3 * p, clip_range=lambda p: 0.3 * p, clip_range_vf=lambda p: 0.5 * p),
    ),
    "discrete-truncated-minibatch-no-norm": ("CartPole-v1", dict(n_steps=50, batch_size=64, normalize_advantage=False)),
    "box": ("Pendulum-v1", dict()),
    "box-vf-clip-entropy": ("Pendulum-v1", dict(clip_range_vf=0.5, ent_coef=0.01)),
    "box-target-kl": ("Pendulum-v1", dict(target_kl=0.001)),
    "box-schedules": ("Pendulum-v1", dict(learning_rate=lambda p: 5e-3 * p, clip_range=lambda p: 0.3 * p)),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_update_matches_sb3(name):
    env_id, extra = CONFIGS[name]
    kwargs = dict(n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3)
    kwargs.update(extra)
    sb3, ours = make_pair(env_id, **kwargs)
    sb3.collect_rollouts(sb3.env, start_rollout(sb3), sb3.rollout_buffer, sb3.n_steps)
    copy_sb3_rollout(sb3, ours)

    logs = {}
    for label, model in (("sb3", sb3), ("ours", ours)):
        model.set_logger(configure(None, []))
        model._current_progress_remaining = 0.6  # schedules are evaluated away from their start
        model._n_updates = 7
        np.random.seed(1234)  # the same minibatch order
        model.train()
        logs[label] = dict(model.logger.name_to_value)

    assert ours._n_updates == sb3._n_updates
    assert logs["ours"].keys() == logs["sb3"].keys()
    for key, value in logs["sb3"].items():
        np.testing.assert_allclose(logs["ours"][key], value, rtol=1e-3, atol=1e-6, err_msg=key)
    ours_sd, sb3_sd = ours.policy.state_dict(), sb3.policy.state_dict()
    for key, value in sb3_sd.items():
        np.testing.assert_allclose(ours_sd[key].numpy(), value.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)
    sb3_adam, ours_adam = sb3.policy.optimizer.state_dict(), ours.policy.optimizer.state_dict()
    for i, state in sb3_adam["state"].items():
        assert float(ours_adam["state"][i]["step"]) == float(state["step"])
        np.testing.assert_allclose(ours_adam["state"][i]["exp_avg"].numpy(), state["exp_avg"].numpy(), rtol=1e-3, atol=1e-7)
    if "target-kl" in name:  # early stopping really happened
        assert sb3._n_updates < 7 + kwargs["n_epochs"]


class Snapshots(BaseCallback):
    """What the model is after each rollout and after each iteration (collect_rollouts, then train)."""

    def __init__(self):
        super().__init__()
        self.rollouts, self.iterations = [], []

    def _on_step(self):
        return True

    def _on_rollout_end(self):
        buf = self.model.rollout_buffer
        self.rollouts.append(
            {
                name: np.array(getattr(buf, name))
                for name in ("rewards", "episode_starts", "values", "log_probs", "advantages", "returns")
            }
        )

    def _on_rollout_start(self):
        if self.rollouts:  # a train() has run since the last rollout
            self.iterations.append(self.snapshot())

    def _on_training_end(self):
        self.iterations.append(self.snapshot())

    def snapshot(self):
        model = self.model
        adam = model.policy.optimizer.state_dict()
        return {
            "weights": {k: v.numpy().copy() for k, v in model.policy.state_dict().items()},
            "adam": [
                (float(s["step"]), s["exp_avg"].numpy().copy(), s["exp_avg_sq"].numpy().copy()) for s in adam["state"].values()
            ],
            "lr": adam["param_groups"][0]["lr"],
            "num_timesteps": model.num_timesteps,
            "progress_remaining": model._current_progress_remaining,
            "clip_range": model.clip_range(model._current_progress_remaining),
            "episode_starts": np.array(model._last_episode_starts),
            "n_updates": model._n_updates,
            "logs": {k: v for k, v in model.logger.name_to_value.items() if k.startswith("train/")},
        }


CHAINED = dict(
    n_steps=64,
    batch_size=64,
    n_epochs=3,
    learning_rate=lambda p: 3e-3 * p,
    clip_range=lambda p: 0.1 + 0.2 * p,
    clip_range_vf=0.5,
    ent_coef=0.01,
    gamma=0.97,
    gae_lambda=0.9,
)


def zoo_values(env_id, **overrides):
    from sb3_scratch_ppo import zoo

    return {**zoo.load(env_id).kwargs, **overrides}


@pytest.mark.parametrize(
    "env_id, max_steps, kwargs",
    [
        ("CartPole-v1", 60, CHAINED),
        ("Pendulum-v1", 30, CHAINED),
        # The zoo's LunarLander-v3 values (gamma 0.999, gae_lambda 0.98, ent_coef 0.01, batch 64, 4 epochs) on a shorter
        # rollout: the config with the longest episodes and the narrowest equivalence margin (docs/parity/report.md).
        ("LunarLander-v3", 100, zoo_values("LunarLander-v3", n_steps=64)),
    ],
)
def test_three_learn_iterations_match_sb3_after_each_one(env_id, max_steps, kwargs):
    """llm.c-style chained check: three whole iterations of learn() from the same weights, Adam state, env state and
    minibatch order, both taking the mode of their distribution. After each rollout and each update the buffers,
    weights, Adam state, counters, schedules, episode starts and train/* logs agree: the wiring between iterations."""
    if env_id.startswith("LunarLander"):
        require("Box2D")
    sb3, ours = make_pair(env_id, n_envs=4, max_episode_steps=max_steps, **kwargs)
    snapshots = {}
    for label, model in (("sb3", sb3), ("ours", ours)):
        deterministic(model)
        model.set_logger(configure(None, []))
        model.env.seed(0)  # the same env states from the first reset on
        np.random.seed(1234)  # the same minibatch order (NumPy's global RNG, in both)
        model._n_updates = 0  # SB3's pre-training counted its updates
        snapshots[label] = Snapshots()
        model.learn(3 * 64 * 4, callback=snapshots[label])
    ref, got = snapshots["sb3"], snapshots["ours"]
    assert len(ref.rollouts) == len(got.rollouts) == 3 and len(ref.iterations) == len(got.iterations) == 3
    for i, (r, g) in enumerate(zip(ref.rollouts, got.rollouts, strict=True)):
        np.testing.assert_array_equal(g["episode_starts"], r["episode_starts"], err_msg=f"rollout {i}")
        for name in ("rewards", "values", "log_probs", "advantages", "returns"):
            np.testing.assert_allclose(g[name], r[name], rtol=RTOL, atol=1e-5, err_msg=f"rollout {i}: {name}")
    for i, (r, g) in enumerate(zip(ref.iterations, got.iterations, strict=True)):
        where = f"after iteration {i + 1}"
        for key in ("num_timesteps", "progress_remaining", "lr", "clip_range", "n_updates"):
            assert g[key] == pytest.approx(r[key], rel=1e-12), (where, key)
        np.testing.assert_array_equal(g["episode_starts"], r["episode_starts"], err_msg=where)
        for name, value in r["weights"].items():
            np.testing.assert_allclose(g["weights"][name], value, rtol=RTOL, atol=ATOL, err_msg=f"{where}: {name}")
        for (step_g, m_g, v_g), (step_r, m_r, v_r) in zip(g["adam"], r["adam"], strict=True):
            assert step_g == step_r
            np.testing.assert_allclose(m_g, m_r, rtol=1e-3, atol=1e-7, err_msg=where)
            np.testing.assert_allclose(v_g, v_r, rtol=1e-3, atol=1e-9, err_msg=where)
        assert g["logs"].keys() == r["logs"].keys()
        for key, value in r["logs"].items():
            np.testing.assert_allclose(g["logs"][key], value, rtol=1e-3, atol=1e-6, err_msg=f"{where}: {key}")
    ended = np.concatenate([r["episode_starts"][1:] for r in ref.rollouts])
    assert ended.sum() >= 4  # episodes ended inside the rollouts (and were bootstrapped at the time limit)


# --- gSDE -------------------------------------------------------------------------------------------------------


def share_exploration_matrices(sb3, ours):
    """SB3 draws its exploration matrices from torch's generator, ScratchPPO from NumPy's: record SB3's at each
    reset_noise and hand ScratchPPO the same ones, in the same order. Sampling itself uses no randomness, so the
    *stochastic* rollouts must then agree. Returns the list of draws (SB3's side)."""
    draws = []
    sb3_reset = sb3.policy.reset_noise

    def record(n_envs=1):
        sb3_reset(n_envs)
        dist = sb3.policy.action_dist
        draws.append((dist.exploration_mat.detach().numpy().copy(), dist.exploration_matrices.detach().numpy().copy()))

    replay = iter(draws)

    def reuse(n_envs=1):
        mat, matrices = next(replay)
        assert len(matrices) == n_envs
        ours.policy.action_dist.exploration_mat, ours.policy.action_dist.exploration_matrices = mat, matrices

    sb3.policy.reset_noise, ours.policy.reset_noise = record, reuse
    return draws


@pytest.mark.parametrize("sde_sample_freq, n_envs", [(-1, 4), (4, 4), (1, 3), (4, 1)])
def test_gsde_stochastic_rollout_matches_sb3_with_its_matrices(sde_sample_freq, n_envs):
    n_steps = 16
    sb3, ours = make_pair(
        "Pendulum-v1",
        n_envs=n_envs,
        n_steps=n_steps,
        batch_size=16,
        use_sde=True,
        sde_sample_freq=sde_sample_freq,
        max_episode_steps=12,
        gamma=0.95,
    )
    draws = share_exploration_matrices(sb3, ours)
    for model in (sb3, ours):
        model.collect_rollouts(model.env, start_rollout(model), model.rollout_buffer, n_steps)
    # One draw at the rollout start, then (sde_sample_freq > 0) at step 0 and every sde_sample_freq steps.
    assert len(draws) == 1 + (n_steps // sde_sample_freq if sde_sample_freq > 0 else 0)
    buf, st = sb3.rollout_buffer, ours.rollout_buffer
    np.testing.assert_allclose(st.actions.reshape(buf.actions.shape), buf.actions, rtol=RTOL, atol=1e-5)
    assert np.abs(buf.actions).max() > 2.0  # actions beyond the bounds: stored as drawn, clipped only for the env
    np.testing.assert_array_equal(st.episode_starts, buf.episode_starts)
    for name in ("rewards", "values", "log_probs", "advantages", "returns"):
        np.testing.assert_allclose(getattr(st, name), getattr(buf, name), rtol=RTOL, atol=1e-4, err_msg=name)
    assert buf.episode_starts[1:].sum() >= n_envs  # time-limit truncations (and their bootstraps) happened


def zoo_pair(env_id, seed=0):
    """SB3's PPO and ScratchPPO on the zoo's entry for env_id, as it is; SB3 trains a little first."""
    from sb3_scratch_ppo import zoo

    config = zoo.load(env_id)
    sb3 = PPO(config.policy, config.make_env(seed=seed), seed=seed, **config.kwargs)
    sb3.learn(2 * sb3.n_steps * sb3.n_envs)
    ours = ScratchPPO(config.policy, config.make_env(seed=seed), seed=seed, **config.kwargs)
    ours.set_parameters(sb3.get_parameters())
    return sb3, ours


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_gsde_update_on_the_zoo_config_matches_sb3(env_id):
    """Pendulum: 4 envs, sde_sample_freq 4; MountainCarContinuous: one env, VecNormalize, a rollout of 8 with
    batch_size 256 (one truncated minibatch), log_std_init -3.29, no ortho init."""
    sb3, ours = zoo_pair(env_id)
    sb3.collect_rollouts(sb3.env, start_rollout(sb3), sb3.rollout_buffer, sb3.n_steps)
    copy_sb3_rollout(sb3, ours)
    logs = {}
    for label, model in (("sb3", sb3), ("ours", ours)):
        model.set_logger(configure(None, []))
        model._current_progress_remaining = 0.6
        model._n_updates = 7
        np.random.seed(1234)
        model.train()
        logs[label] = dict(model.logger.name_to_value)
    assert logs["ours"].keys() == logs["sb3"].keys() and "train/std" in logs["ours"]
    for key, value in logs["sb3"].items():
        np.testing.assert_allclose(logs["ours"][key], value, rtol=1e-3, atol=1e-6, err_msg=key)
    ours_sd, sb3_sd = ours.policy.state_dict(), sb3.policy.state_dict()
    assert ours_sd["log_std"].shape == sb3_sd["log_std"].shape == (64, 1)
    for key, value in sb3_sd.items():
        np.testing.assert_allclose(ours_sd[key].numpy(), value.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)
    for i, state in sb3.policy.optimizer.state_dict()["state"].items():
        ours_state = ours.policy.optimizer.state_dict()["state"][i]
        assert float(ours_state["step"]) == float(state["step"])
        np.testing.assert_allclose(ours_state["exp_avg"].numpy(), state["exp_avg"].numpy(), rtol=1e-3, atol=1e-7)


# --- CnnPolicy and MultiInputPolicy ---------------------------------------------------------------------------------------

IMAGE_POLICIES = {
    "CnnPolicy": dict(dict_obs=False),
    "MultiInputPolicy": dict(dict_obs=True),
}


def image_pair(policy, share, **kwargs):
    envs = [make_vec_env(ImageEnv, n_envs=2, seed=0, env_kwargs=IMAGE_POLICIES[policy]) for _ in range(2)]
    policy_kwargs = dict(share_features_extractor=share)
    sb3 = PPO(policy, envs[0], seed=0, policy_kwargs=policy_kwargs, **kwargs)
    sb3.learn(2 * sb3.n_steps * 2)  # Adam's moments and step count not trivial
    ours = ScratchPPO(policy, envs[1], seed=0, policy_kwargs=policy_kwargs, **kwargs)
    ours.set_parameters(sb3.get_parameters())  # weights (three extractor key groups) and Adam state
    return sb3, ours


def as_our_storage(ours, observations):
    """SB3's raw buffer observations (T, N, ...) (per key for dicts) as our storage holds them."""
    T, N = ours.n_steps, ours.n_envs
    flat = tree_map(lambda a: a.reshape(T * N, *a.shape[2:]), observations)
    return tree_map(lambda a: a.reshape(T, N, *a.shape[1:]), ours.policy.preprocess(flat))


def sb3_in_float64(sb3):
    """SB3's PPO computing its update in float64: policy and Adam state cast, the rollout's floats cast, and each
    features extractor's input cast (SB3's preprocess_obs makes it float32 with ``obs.float()``)."""
    sb3.policy.double()  # the same Parameter objects, so the optimizer still holds them
    for state in sb3.policy.optimizer.state.values():
        state["exp_avg"], state["exp_avg_sq"] = state["exp_avg"].double(), state["exp_avg_sq"].double()

    def to_float64(x, space):
        # An image reaches the extractor as float32(k / 255): recover the integer k (exact: float32's error times 255
        # is ~1e-5) and divide in float64, as our float64 policy does.
        return torch.round(x.double() * 255) / 255 if is_image_space(space) else x.double()

    def cast(_module, args):
        (obs,) = args
        space = sb3.policy.observation_space
        if isinstance(obs, dict):
            return ({key: to_float64(value, space[key]) for key, value in obs.items()},)
        return (to_float64(obs, space),)

    extractors = {
        id(m): m for m in (sb3.policy.features_extractor, sb3.policy.pi_features_extractor, sb3.policy.vf_features_extractor)
    }
    for module in extractors.values():
        module.register_forward_pre_hook(cast)
    buf = sb3.rollout_buffer
    for name in ("actions", "rewards", "episode_starts", "values", "log_probs", "advantages", "returns"):
        setattr(buf, name, getattr(buf, name).astype(np.float64))


def one_float64_update_matches_sb3(sb3, ours) -> dict:
    """Run one update in both (SB3 cast by ``sb3_in_float64``, ours with float64 weights, the same rollout and
    minibatch order) and compare the logs, every weight and both Adam moments at float64's tolerances (rtol 1e-6;
    see test_image_and_dict_rollout_and_update_match_sb3's docstring). Returns the logs."""
    logs = {}
    for label, model in (("sb3", sb3), ("ours", ours)):
        model.set_logger(configure(None, []))
        model._n_updates = 7
        np.random.seed(1234)
        model.train()
        logs[label] = dict(model.logger.name_to_value)
    assert logs["ours"].keys() == logs["sb3"].keys()
    for key, value in logs["sb3"].items():
        np.testing.assert_allclose(logs["ours"][key], value, rtol=1e-6, atol=1e-9, err_msg=key)
    sb3_sd = sb3.policy.state_dict()
    assert list(ours.policy.state_views()) == list(sb3_sd) and sb3_sd["value_net.weight"].dtype == torch.float64
    for key, view in ours.policy.state_views().items():
        np.testing.assert_allclose(view, sb3_sd[key].numpy(), rtol=1e-6, atol=1e-9, err_msg=key)
    sb3_state = [sb3.policy.optimizer.state[p] for p in sb3.policy.optimizer.param_groups[0]["params"]]
    ours_adam = ours.policy.optimizer
    assert len(sb3_state) == len(ours_adam.views)
    for i, state in enumerate(sb3_state):
        assert float(state["step"]) == ours_adam.steps
        for name, ours_moment in (("exp_avg", ours_adam.exp_avg), ("exp_avg_sq", ours_adam.exp_avg_sq)):
            np.testing.assert_allclose(
                ours_moment[ours_adam._slice(i)], state[name].numpy().ravel(), rtol=1e-6, atol=1e-12, err_msg=f"{name} {i}"
            )
    return logs


@pytest.mark.parametrize("policy", list(IMAGE_POLICIES))
@pytest.mark.parametrize("share", [True, False], ids=["shared", "separate vf extractor"])
def test_image_and_dict_rollout_and_update_match_sb3(policy, share):
    """One rollout (both taking their distribution's mode) gives SB3's buffer, images stored raw as uint8; one update
    from SB3's rollout gives SB3's weights, Adam state and logs.

    The rollout runs in float32 on both sides, as users run it: values and log-probs within rtol 1e-4 (a float32
    convolution of a few hundred terms, summed in another order than torch's kernels, is off by ~1e-6 relative).
    The update runs in float64 on both sides (SB3 cast as ``sb3_in_float64`` says, ours built with float64
    weights). In float32 it cannot be compared weight by weight on every CPU: a conv weight's gradient sums
    batch x positions products (16 x 400 for the first layer) that nearly cancel, so the summation order of the BLAS
    or oneDNN kernel the CPU picks moves it by up to ~1e-4 relative, and Adam divides that by sqrt(v_hat) + eps
    (eps 1e-5): measured 3.5e-7 off in exp_avg and 1.5e-5 in a weight on machines whose kernels sum in another
    order. In float64 the same sums are exact to ~1e-16 relative; even amplified by Adam's 1 / eps (1e5) over the
    six steps of the update, a weight moves by under 1e-12, so float64's rtol 1e-6 (as the gradient tests) and an
    atol of 1e-9 hold on any CPU and still catch an error in any one term."""
    lr, n_steps, batch_size, n_epochs = 3e-4, 24, 16, 2
    kwargs = dict(n_steps=n_steps, batch_size=batch_size, n_epochs=n_epochs, learning_rate=lr)
    sb3, ours = image_pair(policy, share, **kwargs)
    assert type(sb3.env).__name__ == type(ours.env).__name__ == "VecTransposeImage"
    for model in (sb3, ours):
        deterministic(model)
        model.collect_rollouts(model.env, start_rollout(model), model.rollout_buffer, model.n_steps)
    buf, st = sb3.rollout_buffer, ours.rollout_buffer
    expected = as_our_storage(ours, buf.observations)
    for key in expected if isinstance(expected, dict) else [None]:
        got, want = (st.inputs[key], expected[key]) if key else (st.inputs, expected)
        np.testing.assert_array_equal(got, want, err_msg=str(key))
        # what a callback reads: SB3's stored observations, exactly
        got, want = (st.observations[key], buf.observations[key]) if key else (st.observations, buf.observations)
        assert got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want, err_msg=str(key))
    frames = st.inputs["frame"] if isinstance(st.inputs, dict) else st.inputs
    assert frames.dtype == np.uint8 and frames.shape[2:] in ((4, 84, 84), (3, 40, 36))  # raw, channel-first
    np.testing.assert_array_equal(st.actions.reshape(-1), buf.actions.reshape(-1))
    np.testing.assert_array_equal(st.episode_starts, buf.episode_starts)
    assert buf.episode_starts[1:].sum() >= 2  # time limits cut in: bootstraps from image / dict terminal observations
    for name in ("rewards", "values", "log_probs", "advantages", "returns"):
        np.testing.assert_allclose(getattr(st, name), getattr(buf, name), rtol=1e-4, atol=1e-5, err_msg=name)

    # One update from SB3's rollout, in float64 on both sides, the same minibatch order.
    env = make_vec_env(ImageEnv, n_envs=2, seed=0, env_kwargs=IMAGE_POLICIES[policy])
    ours = ScratchPPO(policy, env, seed=0, policy_kwargs=dict(share_features_extractor=share, dtype=np.float64), **kwargs)
    ours.set_parameters(sb3.get_parameters())  # SB3's weights and Adam state (a rollout changes neither)
    sb3_in_float64(sb3)
    st = ours.rollout_buffer
    st.inputs = as_our_storage(ours, buf.observations)  # images raw; vectors float64
    st.action_rows = buf.actions.reshape(st.action_rows.shape).astype(st.action_rows.dtype)
    for name in ("rewards", "episode_starts", "values", "log_probs", "advantages", "returns"):
        setattr(st, name, getattr(buf, name).reshape(getattr(st, name).shape).astype(np.float64))
    st.flatten()
    one_float64_update_matches_sb3(sb3, ours)
