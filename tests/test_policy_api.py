"""SB3's policy API as SB3 users call it: evaluate_actions (three values) and get_distribution, on NumPy or torch
inputs, against SB3's own policy holding the same weights, live.

Tolerance: both sides compute in float32 through the same small MLP (64-unit layers); with another summation order
(BLAS kernels) a dot product of n terms may differ by about n * eps32 = 64 * 6e-8 ~ 4e-6 relative per layer, three
layers deep: rtol 2e-5, plus atol 1e-5 for values near zero. A wrong softmax, a missing sum over action dimensions,
a lost log_std or a transposed output is off by far more.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvMultiBinary, IdentityEnvMultiDiscrete

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.policy_distribution import PolicyDistribution

torch.set_num_threads(1)
RTOL, ATOL = 2e-5, 1e-5
B = 16

CASES = {
    "discrete": (lambda: IdentityEnv(5), {}),  # Discrete observations: raw ints become one-hots
    "box": (lambda: "Pendulum-v1", {}),
    "multidiscrete": (lambda: IdentityEnvMultiDiscrete(3), {}),
    "multibinary": (lambda: IdentityEnvMultiBinary(3), {}),
    "gsde": (lambda: "Pendulum-v1", dict(use_sde=True)),
    "gsde-squashed": (lambda: "Pendulum-v1", dict(use_sde=True, policy_kwargs=dict(squash_output=True))),
}


def twins(case: str):
    """ScratchPPO and SB3's PPO on the same env and settings, SB3's policy holding our weights."""
    make_env, kwargs = CASES[case]
    ours = ScratchPPO("MlpPolicy", make_env(), seed=0, **kwargs)
    ours.policy.params[:] = np.random.default_rng(1).normal(size=ours.policy.params.size) * 0.3  # away from the init
    ref = PPO("MlpPolicy", make_env(), seed=0, **kwargs)
    ref.policy.load_state_dict(ours.policy.state_dict())
    return ours, ref


def batch(model):
    """Raw observations and actions sampled from the spaces."""
    model.observation_space.seed(2)
    model.action_space.seed(3)
    obs = np.stack([model.observation_space.sample() for _ in range(B)])
    actions = np.stack([model.action_space.sample() for _ in range(B)])
    if actions.dtype == np.int8:  # MultiBinary: SB3's rollout buffer hands its policy float32 actions
        actions = actions.astype(np.float32)
    if getattr(model.policy, "squash_output", False):
        actions = np.clip(actions / 2.0, -0.99, 0.99)  # squashed gSDE evaluates actions in (-1, 1)
    return obs, actions


def close(ours, reference):
    np.testing.assert_allclose(np.asarray(ours), reference.detach().numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", list(CASES))
def test_evaluate_actions_is_sb3s(case):
    ours, ref = twins(case)
    obs, actions = batch(ref)
    obs_t, _ = ref.policy.obs_to_tensor(obs)
    with torch.no_grad():
        values_ref, log_prob_ref, entropy_ref = ref.policy.evaluate_actions(obs_t, torch.as_tensor(actions))

    # torch in (SB3's raw observation tensor), torch out, SB3's shapes
    values, log_prob, entropy = ours.policy.evaluate_actions(obs_t, torch.as_tensor(actions))
    assert isinstance(values, torch.Tensor) and values.shape == values_ref.shape == (B, 1)
    assert log_prob.shape == log_prob_ref.shape == (B,)
    close(values, values_ref)
    close(log_prob, log_prob_ref)
    if entropy_ref is None:  # squashed gSDE: SB3 has no closed-form entropy
        assert case == "gsde-squashed" and entropy is None
    else:
        close(entropy, entropy_ref)

    # NumPy in (obs_to_tensor's network input), NumPy out
    x, _ = ours.policy.obs_to_tensor(obs)
    values_np, log_prob_np, _ = ours.policy.evaluate_actions(x, actions)
    assert isinstance(values_np, np.ndarray)
    np.testing.assert_array_equal(values_np, values.numpy())
    np.testing.assert_array_equal(log_prob_np, log_prob.numpy())


@pytest.mark.parametrize("case", list(CASES))
def test_get_distribution_is_sb3s(case):
    ours, ref = twins(case)
    obs, actions = batch(ref)
    obs_t, _ = ref.policy.obs_to_tensor(obs)
    with torch.no_grad():
        dist_ref = ref.policy.get_distribution(obs_t)
        log_prob_ref, entropy_ref, mode_ref = dist_ref.log_prob(torch.as_tensor(actions)), dist_ref.entropy(), dist_ref.mode()

    dist = ours.policy.get_distribution(obs_t)
    assert isinstance(dist, PolicyDistribution)
    close(dist.log_prob(torch.as_tensor(actions)), log_prob_ref)
    close(dist.mode(), mode_ref)
    close(dist.get_actions(deterministic=True), mode_ref)
    if entropy_ref is None:
        assert dist.entropy() is None
    else:
        close(dist.entropy(), entropy_ref)

    # SB3's torch.distributions object(s): what users read probabilities from
    torch_dist, torch_dist_ref = dist.distribution, dist_ref.distribution
    if isinstance(torch_dist_ref, list):  # MultiDiscrete: one Categorical per dimension
        assert len(torch_dist) == len(torch_dist_ref)
        for part, part_ref in zip(torch_dist, torch_dist_ref, strict=True):
            close(part.probs, part_ref.probs)
    elif hasattr(torch_dist_ref, "probs") and not isinstance(torch_dist_ref, torch.distributions.Normal):
        assert type(torch_dist) is type(torch_dist_ref)
        close(torch_dist.probs, torch_dist_ref.probs)
        close(torch_dist.logits, torch_dist_ref.logits)
    else:  # Box: a Normal (gSDE: the state-dependent one)
        assert isinstance(torch_dist, torch.distributions.Normal)
        close(torch_dist.mean, torch_dist_ref.mean)
        close(torch_dist.stddev, torch_dist_ref.stddev)

    # samples: SB3's shape and dtype, inside the space (the random streams differ: torch's against NumPy's)
    sample, sample_ref = dist.sample(), dist_ref.sample()
    assert isinstance(sample, torch.Tensor) and sample.shape == sample_ref.shape
    assert sample.dtype == sample_ref.dtype or (sample.is_floating_point() and sample_ref.is_floating_point())
    if case in ("discrete", "multidiscrete", "multibinary"):
        space = ref.action_space
        assert all(space.contains(np.asarray(a, dtype=space.dtype)) for a in sample.numpy())

    # NumPy in, NumPy out
    x, _ = ours.policy.obs_to_tensor(obs)
    dist_np = ours.policy.get_distribution(x)
    assert isinstance(dist_np.mode(), np.ndarray)
    np.testing.assert_array_equal(dist_np.log_prob(actions), dist.log_prob(torch.as_tensor(actions)).numpy())


def test_probabilities_as_sb3_users_read_them():
    """The usual idiom: probabilities of each action for one observation, from obs_to_tensor and get_distribution."""
    ours, ref = twins("discrete")
    obs = 3
    probs = ours.policy.get_distribution(ours.policy.obs_to_tensor(obs)[0]).distribution.probs
    with torch.no_grad():
        probs_ref = ref.policy.get_distribution(ref.policy.obs_to_tensor(obs)[0]).distribution.probs
    assert probs.shape == (1, 5)
    close(probs, probs_ref)
    np.testing.assert_allclose(probs.sum().item(), 1.0, rtol=1e-6)
