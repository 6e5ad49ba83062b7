"""Gymnasium environments of sb3-scratch-ppo, importable as ``scratch_envs``.

Importing this package registers ``ScratchCartPole-v0`` (CartPole-v1 step for step, with a
native vectorized version), so all of these work:

    import scratch_envs; gymnasium.make("ScratchCartPole-v0")
    gymnasium.make("scratch_envs:ScratchCartPole-v0")          # no prior import needed
    gymnasium.make_vec("ScratchCartPole-v0", num_envs=8, vectorization_mode="vector_entry_point")
"""

from gymnasium.envs.registration import register, registry

from scratch_envs.cartpole import ScratchCartPoleEnv, ScratchCartPoleVectorEnv

__all__ = ["ScratchCartPoleEnv", "ScratchCartPoleVectorEnv"]

if "ScratchCartPole-v0" not in registry:
    register(
        id="ScratchCartPole-v0",
        entry_point="scratch_envs.cartpole:ScratchCartPoleEnv",
        vector_entry_point="scratch_envs.cartpole:ScratchCartPoleVectorEnv",
        max_episode_steps=500,
        reward_threshold=475.0,
    )
