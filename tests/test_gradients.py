"""Every hand-written backward equals torch autograd (float64, rtol 1e-6), with SB3's modules as the reference."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common import distributions as sb3_dist
from torch import nn

from sb3_scratch_ppo.loss import ppo_loss
from sb3_scratch_ppo.nn import distributions
from sb3_scratch_ppo.policy import ActorCriticPolicy
from sb3_scratch_ppo.rollout import Minibatch
from tests.reference import sb3_evaluate, sb3_grads, sb3_policy_like

RTOL, ATOL = 1e-6, 1e-10
B = 9

ACTION_SPACES = {
    "Discrete": spaces.Discrete(5),
    "Box": spaces.Box(-2.0, 2.0, shape=(3,), dtype=np.float32),
    "MultiDiscrete": spaces.MultiDiscrete([3, 4, 2]),
    "MultiBinary": spaces.MultiBinary(4),
}


def random_actions(space, n, rng):
    if isinstance(space, spaces.Discrete):
        return rng.integers(0, space.n, size=n)
    if isinstance(space, spaces.Box):
        return rng.normal(size=(n, *space.shape))
    if isinstance(space, spaces.MultiDiscrete):
        return np.stack([rng.integers(0, k, size=n) for k in space.nvec], axis=1)
    return rng.integers(0, 2, size=(n, space.n)).astype(np.float64)


@pytest.mark.parametrize("name", list(ACTION_SPACES))
def test_distribution_log_prob_entropy_and_gradients(name, rng):
    space = ACTION_SPACES[name]
    ours = distributions.make_distribution(space)
    ref = sb3_dist.make_proba_distribution(space)
    out = rng.normal(size=(B, ours.out_dim)) * 2
    log_std = rng.normal(size=ours.out_dim) * 0.5 if name == "Box" else None
    actions = random_actions(space, B, rng)
    g_log_prob, g_ent = rng.normal(size=B), rng.normal(size=B)

    out_t = torch.tensor(out, requires_grad=True)
    log_std_t = torch.tensor(log_std, requires_grad=True) if log_std is not None else None
    dist = ref.proba_distribution(out_t, log_std_t) if name == "Box" else ref.proba_distribution(out_t)
    lp_t, ent_t = dist.log_prob(torch.tensor(actions)), dist.entropy()
    (torch.tensor(g_log_prob) @ lp_t + torch.tensor(g_ent) @ ent_t).backward()

    lp, ent, ctx = ours.log_prob_entropy(out, log_std, actions)
    np.testing.assert_allclose(lp, lp_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ent, ent_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    g_out, g_log_std = ours.backprop(ctx, g_log_prob, g_ent)
    np.testing.assert_allclose(g_out, out_t.grad.numpy(), rtol=RTOL, atol=ATOL)
    if name == "Box":
        np.testing.assert_allclose(g_log_std, log_std_t.grad.numpy(), rtol=RTOL, atol=ATOL)
    else:
        assert g_log_std is None

    # g_entropy=None (ent_coef = 0: no entropy term) is the same as a zero dLoss/dentropy.
    g_out_none, g_log_std_none = ours.backprop(ctx, g_log_prob, None)
    g_out_zero, g_log_std_zero = ours.backprop(ctx, g_log_prob, np.zeros(B))
    np.testing.assert_allclose(g_out_none, g_out_zero, rtol=1e-12, atol=0)
    if name == "Box":
        np.testing.assert_allclose(g_log_std_none, g_log_std_zero, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(ACTION_SPACES))
def test_distribution_mode_and_sample_shapes(name, rng):
    space = ACTION_SPACES[name]
    ours = distributions.make_distribution(space)
    ref = sb3_dist.make_proba_distribution(space)
    out = rng.normal(size=(B, ours.out_dim))
    log_std = np.zeros(ours.out_dim) if name == "Box" else None
    if name == "Box":
        dist = ref.proba_distribution(torch.tensor(out), torch.tensor(log_std))
    else:
        dist = ref.proba_distribution(torch.tensor(out))
    np.testing.assert_allclose(
        np.asarray(ours.mode(out, log_std), dtype=np.float64).reshape(B, -1),
        dist.mode().numpy().astype(np.float64).reshape(B, -1),
    )
    sample = ours.sample(out, log_std, np.random.default_rng(0))
    assert sample.shape == tuple(dist.sample().shape)
    if name == "Box":  # an unbounded Gaussian: any real action
        assert np.isfinite(sample).all()
    else:
        assert all(space.contains(np.asarray(a).astype(space.dtype)) for a in sample)


def test_categorical_sampling_follows_the_probabilities():
    dist = distributions.Categorical(3)
    logits = np.log(np.array([[0.2, 0.5, 0.3]])).repeat(200_000, axis=0)
    counts = np.bincount(dist.sample(logits, None, np.random.default_rng(1)), minlength=3) / 200_000
    np.testing.assert_allclose(counts, [0.2, 0.5, 0.3], atol=0.005)


ACTIVATIONS = [nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Sigmoid, nn.SiLU]


@pytest.mark.parametrize("action", list(ACTION_SPACES))
@pytest.mark.parametrize("activation_fn", ACTIVATIONS, ids=lambda a: a.__name__)
def test_policy_backward_equals_autograd(action, activation_fn, rng):
    obs_space = spaces.Box(-1.0, 1.0, shape=(6,), dtype=np.float32)
    kwargs = dict(net_arch=dict(pi=[16, 8], vf=[12]), activation_fn=activation_fn)
    ours = ActorCriticPolicy(obs_space, ACTION_SPACES[action], lambda _: 1e-3, seed=1, dtype=np.float64, **kwargs)
    ours.params[:] = rng.normal(size=ours.params.size) * 0.5  # away from the init, biases included
    ref = sb3_policy_like(ours, **kwargs)

    obs = rng.normal(size=(B, 6))
    actions = random_actions(ACTION_SPACES[action], B, rng)
    g_v, g_lp, g_ent = rng.normal(size=B), rng.normal(size=B), rng.normal(size=B)

    values_t, lp_t, ent_t = sb3_evaluate(ref, torch.tensor(obs), torch.tensor(actions))
    (torch.tensor(g_v) @ values_t.flatten() + torch.tensor(g_lp) @ lp_t + torch.tensor(g_ent) @ ent_t).backward()

    values, lp, _, cache = ours.evaluate_with_cache(obs, actions)
    np.testing.assert_allclose(values, values_t.detach().numpy().ravel(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lp, lp_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    ours.backprop(cache, g_v, g_lp, g_ent)
    expected = sb3_grads(ref)
    assert list(expected) == list(ours.grad_views)
    for name, grad in expected.items():
        np.testing.assert_allclose(ours.grad_views[name], grad, rtol=RTOL, atol=ATOL, err_msg=name)


def sb3_ppo_loss(
    ref,
    obs,
    actions,
    old_values,
    old_log_prob,
    advantages,
    returns,
    clip_range,
    clip_range_vf,
    ent_coef,
    vf_coef,
    normalize_advantage,
):
    """The loss of SB3's PPO.train(), line for line, in torch."""
    values, log_prob, entropy = sb3_evaluate(ref, obs, actions)
    values = values.flatten()
    if normalize_advantage and len(advantages) > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob - old_log_prob)
    policy_loss = -torch.min(advantages * ratio, advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)).mean()
    if clip_range_vf is None:
        values_pred = values
    else:
        values_pred = old_values + torch.clamp(values - old_values, -clip_range_vf, clip_range_vf)
    value_loss = torch.nn.functional.mse_loss(returns, values_pred)
    entropy_loss = -torch.mean(entropy) if entropy is not None else -torch.mean(-log_prob)
    return policy_loss + ent_coef * entropy_loss + vf_coef * value_loss, ratio


@pytest.mark.parametrize("action", ["Discrete", "Box"])
@pytest.mark.parametrize(
    "clip_range_vf, ent_coef, normalize_advantage",
    [(None, 0.0, True), (0.05, 0.01, True), (None, 0.02, False), (0.2, 0.0, False)],
)
def test_ppo_loss_backward_equals_autograd(action, clip_range_vf, ent_coef, normalize_advantage, rng):
    check_ppo_loss_backward(ACTION_SPACES[action], {}, (0.2, clip_range_vf, ent_coef, 0.5, normalize_advantage), rng)


@pytest.mark.parametrize(
    "full_std, use_expln, squash_output", [(f, e, s) for f in (True, False) for e in (False, True) for s in (False, True)]
)
def test_gsde_ppo_loss_backward_equals_autograd(full_std, use_expln, squash_output, rng):
    """gSDE through the whole loss, entropy term included (-log_prob when squashing, as SB3's PPO)."""
    kwargs = dict(use_sde=True, full_std=full_std, use_expln=use_expln, squash_output=squash_output, log_std_init=-0.4)
    check_ppo_loss_backward(ACTION_SPACES["Box"], kwargs, (0.2, 0.1, 0.01, 0.5, True), rng)


def check_ppo_loss_backward(action_space, policy_kwargs, args, rng):
    obs_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
    n = 64
    ours = ActorCriticPolicy(obs_space, action_space, lambda _: 1e-3, seed=2, dtype=np.float64, **policy_kwargs)
    ours.params[:] += rng.normal(size=ours.params.size) * 0.3
    ref = sb3_policy_like(ours, **policy_kwargs)
    obs = rng.normal(size=(n, 4))
    actions = random_actions(action_space, n, rng)
    if policy_kwargs.get("squash_output"):
        actions = np.tanh(actions)
    with torch.no_grad():
        values_now, lp_now, _ = sb3_evaluate(ref, torch.tensor(obs), torch.tensor(actions))
    # Old log-probs and values a little off the current ones: some ratios and values land outside the clip ranges.
    old_log_prob = lp_now.numpy() + rng.normal(size=n) * 0.3
    old_values = values_now.numpy().ravel() + rng.normal(size=n) * 0.1
    advantages, returns = rng.normal(size=n), rng.normal(size=n)

    tensors = (torch.tensor(a) for a in (obs, actions, old_values, old_log_prob, advantages, returns))
    loss_t, ratio_t = sb3_ppo_loss(ref, *tensors, *args)
    loss_t.backward()
    ratio = ratio_t.detach().numpy()
    assert ((ratio < 0.8) | (ratio > 1.2)).any() and ((ratio > 0.8) & (ratio < 1.2)).any()  # both branches

    terms = ppo_loss(ours, Minibatch(obs, actions, old_values, old_log_prob, advantages, returns), *args)
    assert terms.loss == pytest.approx(loss_t.item(), rel=RTOL)
    terms.backprop()
    expected = sb3_grads(ref)
    assert list(expected) == list(ours.grad_views)
    for name, grad in expected.items():
        np.testing.assert_allclose(ours.grad_views[name], grad, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("action_space", ACTION_SPACES.values(), ids=ACTION_SPACES.keys())
@pytest.mark.parametrize("net_arch", [None, dict(pi=[32, 16], vf=[8, 24]), [], dict(pi=[16], vf=[16, 16])])
@pytest.mark.parametrize("batch", [1, 8])
def test_rollout_net_equals_forward(action_space, net_arch, batch, rng):
    """collect_rollouts' network (pi and vf fused into one MLP for small batches) gives forward's outputs. It is fused
    only for towers of equal depth and small batches, and it keeps the weights it was built with."""
    obs_space = spaces.Box(-1.0, 1.0, shape=(6,), dtype=np.float32)
    policy = ActorCriticPolicy(obs_space, action_space, lambda _: 3e-4, net_arch=net_arch, seed=0, log_std_init=-0.3)
    policy.params[:] = rng.standard_normal(policy.params.size).astype(np.float32) * 0.5
    x = rng.standard_normal((batch, 6)).astype(np.float32)
    expected = policy.forward(x, deterministic=True)
    net = policy.rollout_net(batch, deterministic=True)
    fused = policy.fused_net(batch) is not None
    assert fused == (net_arch != dict(pi=[16], vf=[16, 16]))
    assert policy.fused_net(100_000) is None  # large batches: forward itself
    for a, b in zip(net(x), expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    policy.params *= 2
    if fused:  # built at the start of a rollout, it keeps that rollout's network weights
        for a, b in zip(net(x)[:2], expected[:2], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
