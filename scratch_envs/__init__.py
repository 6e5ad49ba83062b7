"""Gymnasium environments of sb3-scratch-ppo, importable as ``scratch_envs``.

Importing this package registers ``ScratchCartPole-v0`` (CartPole-v1 step for step, with a
native vectorized version), so all of these work:

    import scratch_envs; gymnasium.make("ScratchCartPole-v0")
    gymnasium.make("scratch_envs:ScratchCartPole-v0")          # no prior import needed
    gymnasium.make_vec("ScratchCartPole-v0", num_envs=8, vectorization_mode="vector_entry_point")

It also registers ``SimpleMultiObs-v0``: SB3's dict-observation grid world with a fixed encoding
(``multi_obs.py``), the task on which MultiInputPolicy's learning is compared with SB3's, and
``InvalidActionEnvDiscrete-v0``: sb3-contrib's identity task with 60 of its 80 actions masked at random each step
(the ``contrib`` extra), one of the tasks on which ScratchMaskablePPO's learning is compared with MaskablePPO's.
"""

from gymnasium.envs.registration import register, registry

from scratch_envs.cartpole import ScratchCartPoleEnv
from scratch_envs.cartpole_vector import ScratchCartPoleVectorEnv

__all__ = ["ScratchCartPoleEnv", "ScratchCartPoleVectorEnv"]

if "ScratchCartPole-v0" not in registry:
    register(
        id="ScratchCartPole-v0",
        entry_point="scratch_envs.cartpole:ScratchCartPoleEnv",
        vector_entry_point="scratch_envs.cartpole_vector:ScratchCartPoleVectorEnv",
        max_episode_steps=500,
        reward_threshold=475.0,
    )

if "SimpleMultiObs-v0" not in registry:
    register(
        id="SimpleMultiObs-v0",
        entry_point="scratch_envs.multi_obs:make_simple_multi_obs_env",
        kwargs={"random_start": False},  # the env truncates after 100 steps itself
        # SB3's env hands out the same arrays at every step, which Gymnasium's checker warns about; the learners
        # copy observations into their storage, so nothing is shared.
        disable_env_checker=True,
        reward_threshold=0.45,  # multi_obs.REWARD_THRESHOLD: the shortest path
    )

if "InvalidActionEnvDiscrete-v0" not in registry:
    register(
        id="InvalidActionEnvDiscrete-v0",
        entry_point="sb3_contrib.common.envs:InvalidActionEnvDiscrete",  # imported when made: the `contrib` extra
        kwargs={"dim": 80, "n_invalid_actions": 60},  # as in sb3-contrib's MaskablePPO example; 100 steps an episode
    )
