"""gSDE against SB3's StateDependentNoiseDistribution: log-prob, entropy and the hand-written gradient equal torch
autograd (float64, every combination of full_std, use_expln and squash_output); with SB3's exploration matrices,
sampling gives SB3's actions, per env or shared, as SB3's rule picks."""

import numpy as np
import pytest
import torch
from stable_baselines3.common.distributions import StateDependentNoiseDistribution

from sb3_scratch_ppo.gsde import StateDependentNoise

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
