"""The policy classes users name, as SB3's ``ppo/policies.py``: MlpPolicy, CnnPolicy and MultiInputPolicy (the
actor-critic of ``policy.py`` with each features extractor), the map from SB3's classes to ours for loading SB3's
files, and their maskable counterparts for ScratchMaskablePPO (sb3-contrib's ``ppo_mask/policies.py``)."""

from __future__ import annotations

from typing import Any

from sb3_scratch_ppo.nn.extractors import CombinedExtractor, NatureCNN
from sb3_scratch_ppo.policy import ActorCriticPolicy


class ActorCriticCnnPolicy(ActorCriticPolicy):
    """CnnPolicy: ActorCriticPolicy on images, with NatureCNN as its features extractor (and, by default, no hidden
    layers after it: net_arch [], as SB3)."""

    default_features_extractor = NatureCNN


class MultiInputActorCriticPolicy(ActorCriticPolicy):
    """MultiInputPolicy: ActorCriticPolicy on Dict observations, with CombinedExtractor (a NatureCNN per image key,
    a flatten for the others)."""

    default_features_extractor = CombinedExtractor


# The names users pass ("MlpPolicy", ...), as SB3's PPO.policy_aliases.
MlpPolicy, CnnPolicy, MultiInputPolicy = ActorCriticPolicy, ActorCriticCnnPolicy, MultiInputActorCriticPolicy
POLICY_ALIASES: dict[str, type[ActorCriticPolicy]] = {
    "MlpPolicy": MlpPolicy,
    "CnnPolicy": CnnPolicy,
    "MultiInputPolicy": MultiInputPolicy,
}

# SB3's policy classes, by name (a model saved by SB3's PPO names its class), and ours for each.
SB3_POLICIES = {
    "ActorCriticPolicy": ActorCriticPolicy,
    "ActorCriticCnnPolicy": ActorCriticCnnPolicy,
    "MultiInputActorCriticPolicy": MultiInputActorCriticPolicy,
}


def our_policy_class(policy: Any) -> type[ActorCriticPolicy]:
    """Our policy class for ``policy``: ours as is, SB3's ActorCriticPolicy, ActorCriticCnnPolicy and
    MultiInputActorCriticPolicy (whose weights have the same layout) mapped to ours, so that models saved by SB3's PPO
    load; anything else is refused."""
    if isinstance(policy, type) and issubclass(policy, ActorCriticPolicy):
        return policy
    is_sb3_class = isinstance(policy, type) and policy.__module__.startswith("stable_baselines3.")
    if is_sb3_class and policy.__name__ in SB3_POLICIES:
        return SB3_POLICIES[policy.__name__]
    raise ValueError(
        f"policy={policy!r}: ScratchPPO takes 'MlpPolicy', 'CnnPolicy' or 'MultiInputPolicy', or a subclass of "
        "sb3_scratch_ppo.ActorCriticPolicy (NumPy: a custom policy overrides forward, act or predict_values there; a "
        "torch policy would need autograd), and loads models saved by ScratchPPO or by SB3's PPO with those; a model "
        "file with another policy was saved by another algorithm"
    )
