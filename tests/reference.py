"""SB3, the reference: build SB3's policy with exactly our weights, and read SB3's outputs."""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy as SB3Policy

from sb3_scratch_ppo.policy import ActorCriticPolicy


def sb3_policy_like(ours: ActorCriticPolicy, dtype=torch.float64, **policy_kwargs) -> SB3Policy:
    """SB3's ActorCriticPolicy with the same spaces, architecture and (exact) weights as ``ours``."""
    ref = SB3Policy(ours.observation_space, ours.action_space, lambda _: 1e-3, **policy_kwargs).to(dtype)
    with torch.no_grad():
        state = {name: torch.tensor(np.array(view), dtype=dtype) for name, view in ours.param_views.items()}
        ref.load_state_dict(state, strict=True)
    return ref


def sb3_grads(ref: SB3Policy) -> dict[str, np.ndarray]:
    return {name: p.grad.detach().numpy().copy() for name, p in ref.named_parameters()}


def sb3_evaluate(ref: SB3Policy, features: torch.Tensor, actions: torch.Tensor):
    """SB3's evaluate_actions from the features on (its preprocessing casts to float32; float64 checks start after it)."""
    latent_pi, latent_vf = ref.mlp_extractor(features)
    dist = ref._get_action_dist_from_latent(latent_pi)
    return ref.value_net(latent_vf), dist.log_prob(actions), dist.entropy()
