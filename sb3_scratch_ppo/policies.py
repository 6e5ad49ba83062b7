"""The policy classes users name, as SB3's ``ppo/policies.py``: MlpPolicy, CnnPolicy and MultiInputPolicy (the
actor-critic of ``policy.py`` with each features extractor), the map from SB3's classes to ours for loading SB3's
files, and their maskable counterparts for ScratchMaskablePPO (sb3-contrib's ``ppo_mask/policies.py``)."""

from __future__ import annotations

from typing import Any

from sb3_scratch_ppo.nn.extractors import CombinedExtractor, NatureCNN
from sb3_scratch_ppo.nn.masking import make_masked_distribution
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


# --- ScratchMaskablePPO's: sb3-contrib's ppo_mask/policies.py ------------------------------------------------------


class MaskableActorCriticPolicy(ActorCriticPolicy):
    """sb3-contrib's MaskableActorCriticPolicy: the actor-critic with a masked distribution (``nn/masking.py``), so its
    methods take ``action_masks``; the same weights as ActorCriticPolicy's (action_net 2n wide for MultiBinary, as
    sb3-contrib's); no gSDE, no log_std."""

    masks_actions = True

    def __init__(self, observation_space, action_space, lr_schedule, *args: Any, use_sde: bool = False, **kwargs: Any):
        if use_sde:  # sb3-contrib's policy has no use_sde (ScratchPPO's setup passes False)
            raise ValueError("use_sde: a maskable policy's actions are discrete; gSDE is for Box actions")
        sb3_only = {"log_std_init", "full_std", "use_expln", "squash_output"} & set(kwargs)
        if sb3_only:  # not sb3-contrib's parameters: its constructor would raise TypeError too
            raise TypeError(
                f"policy_kwargs: unexpected keyword argument {sorted(sb3_only)[0]!r} for MaskableActorCriticPolicy"
            )
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def make_action_dist(self, action_space):
        return make_masked_distribution(action_space)


class MaskableActorCriticCnnPolicy(MaskableActorCriticPolicy):
    """sb3-contrib's MaskableActorCriticCnnPolicy (CnnPolicy): NatureCNN features."""

    default_features_extractor = NatureCNN


class MaskableMultiInputActorCriticPolicy(MaskableActorCriticPolicy):
    """sb3-contrib's MaskableMultiInputActorCriticPolicy (MultiInputPolicy): CombinedExtractor features."""

    default_features_extractor = CombinedExtractor


MASKABLE_POLICY_ALIASES: dict[str, type[ActorCriticPolicy]] = {
    "MlpPolicy": MaskableActorCriticPolicy,
    "CnnPolicy": MaskableActorCriticCnnPolicy,
    "MultiInputPolicy": MaskableMultiInputActorCriticPolicy,
}
# sb3-contrib's classes, by name (a model saved by its MaskablePPO names its class), and ours for each.
SB3_CONTRIB_POLICIES = {cls.__name__: cls for cls in MASKABLE_POLICY_ALIASES.values()}


def our_policy_class(policy: Any, masks_actions: bool = False) -> type[ActorCriticPolicy]:
    """Our policy class for ``policy``: ours as is (one that masks, with ``masks_actions``: ScratchMaskablePPO's), or
    the reference's class of the same weight layout mapped to ours (SB3's ActorCriticPolicy, ActorCriticCnnPolicy and
    MultiInputActorCriticPolicy; sb3-contrib's maskable ones with ``masks_actions``), so that models the reference
    saved load; anything else is refused."""
    if isinstance(policy, type) and issubclass(policy, ActorCriticPolicy) and (policy.masks_actions or not masks_actions):
        return policy
    module, theirs = ("sb3_contrib.", SB3_CONTRIB_POLICIES) if masks_actions else ("stable_baselines3.", SB3_POLICIES)
    if isinstance(policy, type) and policy.__module__.startswith(module) and policy.__name__ in theirs:
        return theirs[policy.__name__]
    if masks_actions:
        raise ValueError(
            f"policy={policy!r}: ScratchMaskablePPO takes 'MlpPolicy', 'CnnPolicy' or 'MultiInputPolicy', or a subclass "
            "of sb3_scratch_ppo.policies.MaskableActorCriticPolicy, and loads models saved by it or by sb3-contrib's "
            "MaskablePPO"
        )
    raise ValueError(
        f"policy={policy!r}: ScratchPPO takes 'MlpPolicy', 'CnnPolicy' or 'MultiInputPolicy', or a subclass of "
        "sb3_scratch_ppo.ActorCriticPolicy (NumPy: a custom policy overrides forward, act or predict_values there; a "
        "torch policy would need autograd), and loads models saved by ScratchPPO or by SB3's PPO with those; a model "
        "file with another policy was saved by another algorithm"
    )
