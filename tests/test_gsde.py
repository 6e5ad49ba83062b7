"""gSDE against SB3: log-prob, entropy and the hand-written gradient equal torch autograd through SB3's
StateDependentNoiseDistribution (float64, every combination of full_std, use_expln and squash_output); with SB3's
exploration matrices, sampling gives SB3's actions, per env or shared, as SB3's rule picks; models move both ways;
actions respect the bounds as SB3's do; a short run on the zoo's Pendulum config learns. (The whole loss:
tests/test_gradients.py; rollouts and updates against SB3: tests/test_update_parity.py.)"""

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.distributions import StateDependentNoiseDistribution
from stable_baselines3.common.env_util import make_vec_env

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.nn.gsde import StateDependentNoise

RTOL, ATOL = 1e-9, 1e-12
B, L, A = 7, 5, 3
COMBOS = [(f, e, s) for f in (True, False) for e in (False, True) for s in (False, True)]


def pair(full_std, use_expln, squash_output):
    ref = StateDependentNoiseDistribution(A, full_std=full_std, use_expln=use_expln, squash_output=squash_output)
    ref.latent_sde_dim = L  # set by proba_distribution_net in SB3's policy
    return StateDependentNoise(A, full_std, use_expln, squash_output), ref


@pytest.mark.parametrize("full_std, use_expln, squash_output", COMBOS)
def test_log_prob_entropy_and_gradients_equal_autograd(full_std, use_expln, squash_output, rng):
    ours, ref = pair(full_std, use_expln, squash_output)
    log_std = rng.normal(size=ours.log_std_shape(L)) * 0.8  # both signs: expln's two branches
    assert (log_std > 0).any() and (log_std <= 0).any()
    mean, latent = rng.normal(size=(B, A)), rng.normal(size=(B, L))
    actions = np.tanh(rng.normal(size=(B, A)) * 2) if squash_output else rng.normal(size=(B, A))
    g_log_prob, g_entropy = rng.normal(size=B), rng.normal(size=B)

    mean_t, log_std_t, latent_t = (torch.tensor(x, requires_grad=True) for x in (mean, log_std, latent))
    dist = ref.proba_distribution(mean_t, log_std_t, latent_t)
    log_prob_t = dist.log_prob(torch.tensor(actions))
    entropy_t = dist.entropy()
    entropy_t = -log_prob_t if entropy_t is None else entropy_t  # SB3's PPO: -log_prob when there is no entropy
    (torch.tensor(g_log_prob) @ log_prob_t + torch.tensor(g_entropy) @ entropy_t).backward()

    log_prob, entropy, ctx = ours.log_prob_entropy(mean, log_std, actions, latent)
    np.testing.assert_allclose(log_prob, log_prob_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(entropy, entropy_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    g_mean, g_log_std = ours.backprop(ctx, g_log_prob, g_entropy)
    np.testing.assert_allclose(g_mean, mean_t.grad.numpy(), rtol=RTOL, atol=ATOL)
    assert g_log_std.shape == log_std.shape
    np.testing.assert_allclose(g_log_std, log_std_t.grad.numpy(), rtol=RTOL, atol=ATOL)
    assert latent_t.grad is None  # the latent is detached: no gradient through the noise or sigma

    # g_entropy=None (ent_coef = 0) is the same as a zero dLoss/dentropy.
    for got, want in zip(ours.backprop(ctx, g_log_prob, None), ours.backprop(ctx, g_log_prob, np.zeros(B)), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("full_std, use_expln, squash_output", COMBOS)
def test_sampling_with_sb3s_matrices_gives_sb3s_actions(full_std, use_expln, squash_output, rng):
    ours, ref = pair(full_std, use_expln, squash_output)
    log_std = torch.tensor(rng.normal(size=ours.log_std_shape(L)) * 0.5)
    n_envs = 4
    ref.sample_weights(log_std, batch_size=n_envs)
    ours.exploration_mat = ref.exploration_mat.detach().numpy()
    ours.exploration_matrices = ref.exploration_matrices.detach().numpy()
    for batch in (n_envs, 1, 3):  # one row per matrix: per env; otherwise the shared matrix
        mean, latent = rng.normal(size=(batch, A)), rng.normal(size=(batch, L))
        dist = ref.proba_distribution(torch.tensor(mean), log_std, torch.tensor(latent))
        sample = ours.sample(mean, log_std.numpy(), None, latent)
        np.testing.assert_allclose(sample, dist.sample().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.mode(mean, log_std.numpy()), dist.mode().numpy(), rtol=1e-12, atol=1e-12)
    per_env = np.einsum("bl,bla->ba", latent[:1].repeat(n_envs, 0), ours.exploration_matrices)
    assert not np.allclose(per_env[0], per_env[1])  # the per-env matrices differ: the rule above was exercised


def test_exploration_matrices_have_sb3s_shapes_and_spread(rng):
    """Own draws (NumPy, not torch's generator): SB3's shapes and order, entries N(0, S^2)."""
    ours = StateDependentNoise(2, full_std=True)
    log_std = np.log(np.full((64, 2), 0.5))
    ours.sample_weights(log_std, batch_size=3, rng=rng)
    assert ours.exploration_mat.shape == (64, 2) and ours.exploration_matrices.shape == (3, 64, 2)
    big = StateDependentNoise(2, full_std=True)
    big.sample_weights(log_std, batch_size=2000, rng=rng)
    assert big.exploration_matrices.std() == pytest.approx(0.5, rel=0.01)
    assert abs(big.exploration_matrices.mean()) < 0.005


def test_gsde_models_move_both_ways_between_sb3_and_scratch_ppo(tmp_path):
    """A gSDE model saved by SB3's PPO loads in ScratchPPO (exploration matrices redrawn, as SB3's load does) and
    predicts SB3's deterministic actions; ScratchPPO's zip gives its weights to SB3's PPO (set_parameters)."""
    kwargs = dict(use_sde=True, sde_sample_freq=4, n_steps=32, batch_size=32, policy_kwargs=dict(log_std_init=-1.0))
    sb3 = PPO("MlpPolicy", "Pendulum-v1", seed=0, **kwargs).learn(64)
    sb3.save(tmp_path / "sb3")
    ours = ScratchPPO.load(tmp_path / "sb3", env=make_vec_env("Pendulum-v1", n_envs=2, seed=1))
    assert ours.use_sde and ours.sde_sample_freq == 4 and ours.policy.log_std.shape == (64, 1)
    assert ours.policy.action_dist.exploration_matrices.shape == (1, 64, 1)  # load() redraws with one env
    obs = np.stack([ours.observation_space.sample() for _ in range(20)])
    np.testing.assert_allclose(
        ours.predict(obs, deterministic=True)[0], sb3.predict(obs, deterministic=True)[0], rtol=1e-5, atol=1e-6
    )
    ours.learn(64)  # and trains on

    ours.save(tmp_path / "ours")
    ref = PPO("MlpPolicy", "Pendulum-v1", seed=3, **kwargs)
    ref.set_parameters(str(tmp_path / "ours.zip"))  # weights and Adam state, SB3's key names and shapes
    np.testing.assert_allclose(
        ref.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0], rtol=1e-5, atol=1e-6
    )
    assert int(ref.policy.optimizer.state_dict()["state"][0]["step"]) == ours.policy.optimizer.steps


@pytest.mark.parametrize("squash_output", [False, True])
def test_gsde_predict_and_rollout_actions_respect_the_bounds_like_sb3(squash_output):
    """Without squashing, actions are clipped to the bounds for the env; with it, tanh then unscaled to them."""
    kwargs = dict(use_sde=True, policy_kwargs=dict(log_std_init=1.0, squash_output=squash_output), n_steps=16, batch_size=16)
    ours, ref = (algo("MlpPolicy", "Pendulum-v1", seed=0, **kwargs) for algo in (ScratchPPO, PPO))
    obs = np.zeros((300, 3), dtype=np.float32)
    obs[:, 0] = np.linspace(-1, 1, 300)
    for model in (ours, ref):
        actions, _ = model.predict(obs)
        assert actions.shape == (300, 1) and actions.min() >= -2.0 and actions.max() <= 2.0
    ours.learn(32)
    stored = ours.rollout_buffer.actions
    assert (np.abs(stored).max() <= 1.0) if squash_output else (np.abs(stored).max() > 2.0)


def test_short_gsde_learning_on_the_zoo_pendulum_config():
    """The zoo's Pendulum-v1 entry (gSDE, sde_sample_freq 4) learns within 40,000 steps: its deterministic return is
    far above an untrained policy's, which stays below -1,000 (the full 1e5-step parity runs are `make parity`)."""
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_scratch_ppo import zoo

    config = zoo.load("Pendulum-v1")
    model = ScratchPPO(config.policy, config.make_env(seed=0), seed=0, **config.kwargs).learn(40_960)
    mean, _ = evaluate_policy(model, config.make_env(seed=100, n_envs=1), n_eval_episodes=5, deterministic=True)
    assert mean > -700, mean
