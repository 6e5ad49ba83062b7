"""The zoo's MuJoCo configs (sb3_scratch_ppo/zoo/configs/mujoco.yml, the `mujoco` extra): they are rl-baselines3-zoo
2.9.2's entries; each builds SB3's network and trains a few thousand steps in both learners; on HalfCheetah-v4 (the
config whose update dominates a run: 256-256 ReLU, batch 64, 20 epochs) SB3's rollout is what our policy computes,
and one update from it gives SB3's weights, Adam state and logs.

Tolerances. The rollout check is float32, as users run it: values and log-probabilities of 256-unit layers, summed
in another order than torch's, within rtol 1e-4 / atol 1e-5 (n * eps32 = 256 * 6e-8 ~ 1.5e-5 relative per layer,
three layers). The update runs in float64 on both sides (tests/test_update_parity.py's ``sb3_in_float64``): its 160
Adam steps divide gradients by sqrt(v_hat) + eps, which in float32 turns a near-cancelling sum's summation order into
weight differences that depend on the CPU's kernels; in float64 the sums are exact to ~1e-16 relative, so rtol 1e-6
/ atol 1e-9 hold on any CPU and still catch any wrong term. The envs are never compared step against step with
actions that differ in the last bit: MuJoCo's contact dynamics amplify such differences.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from sb3_scratch_ppo import ScratchPPO
from tests.extras import require

torch.set_num_threads(1)
ENVS = ["HalfCheetah-v4", "Hopper-v4", "Walker2d-v4", "Ant-v4", "Swimmer-v4"]


def mujoco_config(env_id):
    require("mujoco")
    from sb3_scratch_ppo.zoo import config

    return config.load(env_id, config.MUJOCO_PATH)


def test_the_entries_are_rl_zoo3s():
    """Entry for entry as rl-baselines3-zoo 2.9.2's hyperparams/ppo.yml (its YAML anchors resolved)."""
    require("rl_zoo3")
    import importlib.util
    from pathlib import Path

    import yaml

    from sb3_scratch_ppo.zoo import config

    # The file, found without importing rl_zoo3 (tests/test_zoo_cli.py checks nothing here imports it).
    package = Path(importlib.util.find_spec("rl_zoo3").submodule_search_locations[0])
    zoo = yaml.safe_load((package / "hyperparams" / "ppo.yml").read_text())
    ours = yaml.safe_load(config.MUJOCO_PATH.read_text())
    assert list(ours) == ENVS

    def normalized(entry):  # the policy_kwargs string's line breaks and indentation aside
        return {k: " ".join(v.split()) if isinstance(v, str) else v for k, v in entry.items()}

    for env_id in ENVS:
        assert normalized(ours[env_id]) == normalized(zoo[env_id]), env_id


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ENVS)
def test_every_entry_builds_sb3s_network_and_trains_in_both(env_id):
    config = mujoco_config(env_id)
    rollout = config.kwargs.get("n_steps", 2048) * config.n_envs
    steps = rollout * (2 if rollout <= 1024 else 1)  # one or two iterations: 1024 to 4096 steps
    models = []
    for algo in (PPO, ScratchPPO):
        model = algo(config.policy, config.make_env(seed=0), seed=0, **config.kwargs)
        model.learn(steps)
        assert model.num_timesteps == steps and type(model.env).__name__ == "VecNormalize"
        models.append(model)
    sb3, ours = models
    sb3_sd, ours_sd = sb3.policy.state_dict(), ours.policy.state_dict()
    assert [(k, tuple(v.shape)) for k, v in ours_sd.items()] == [(k, tuple(v.shape)) for k, v in sb3_sd.items()]
    assert ours.policy.ortho_init == sb3.policy.ortho_init and ours.policy.log_std_init == sb3.policy.log_std_init


@pytest.mark.slow
def test_halfcheetah_rollout_and_one_update_match_sb3():
    from tests.test_update_parity import one_float64_update_matches_sb3, sb3_in_float64, start_rollout

    config = mujoco_config("HalfCheetah-v4")
    sb3 = PPO(config.policy, config.make_env(seed=0), seed=0, **config.kwargs)
    sb3.learn(2 * sb3.n_steps)  # Adam's moments and VecNormalize's statistics not trivial
    sb3.collect_rollouts(sb3.env, start_rollout(sb3), sb3.rollout_buffer, sb3.n_steps)
    buf = sb3.rollout_buffer
    T = buf.buffer_size
    assert buf.episode_starts[1:].sum() == 0 and buf.observations.shape == (512, 1, 17)  # 1000-step episodes

    # The rollout's arithmetic, in float32: our policy on SB3's (normalized) observations and actions gives SB3's
    # values and log-probabilities; our GAE on SB3's rewards and values gives SB3's advantages and returns.
    ours = ScratchPPO(config.policy, config.make_env(seed=0), seed=0, **config.kwargs)
    ours.set_parameters(sb3.get_parameters())
    obs = buf.observations.reshape(T, -1)
    values, log_prob, _ = ours.policy.evaluate_actions(obs, buf.actions.reshape(T, -1))
    np.testing.assert_allclose(values[:, 0], buf.values[:, 0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(log_prob, buf.log_probs[:, 0], rtol=1e-4, atol=1e-5)
    st = ours.rollout_buffer
    for name in ("rewards", "episode_starts", "values"):
        getattr(st, name)[:] = getattr(buf, name)
    with torch.no_grad():
        last_obs = torch.as_tensor(sb3._last_obs)
        last_values = sb3.policy.predict_values(last_obs).numpy().ravel()
    st.compute_returns_and_advantage(last_values, sb3._last_episode_starts)
    np.testing.assert_allclose(st.advantages, buf.advantages, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st.returns, buf.returns, rtol=1e-5, atol=1e-6)

    # One update (20 epochs of 8 minibatches) from SB3's rollout, in float64 on both sides, the same minibatch order.
    kwargs64 = {**config.kwargs, "policy_kwargs": {**config.kwargs["policy_kwargs"], "dtype": np.float64}}
    ours = ScratchPPO(config.policy, config.make_env(seed=0), seed=0, **kwargs64)
    ours.set_parameters(sb3.get_parameters())
    sb3_in_float64(sb3)
    st = ours.rollout_buffer
    st.inputs = buf.observations.astype(np.float64)
    st.action_rows = buf.actions.reshape(st.action_rows.shape).astype(np.float64)
    for name in ("rewards", "episode_starts", "values", "log_probs", "advantages", "returns"):
        setattr(st, name, buf.__dict__[name].astype(np.float64))
    st.flatten()
    logs = one_float64_update_matches_sb3(sb3, ours)
    assert logs["ours"]["train/n_updates"] == 7 + 20
