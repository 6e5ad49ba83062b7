"""sb3-scratch-ppo: PPO from scratch in NumPy, a drop-in replacement for Stable-Baselines3's PPO.

    from sb3_scratch_ppo import ScratchPPO        # instead of: from stable_baselines3 import PPO
    model = ScratchPPO("MlpPolicy", "CartPole-v1", seed=0).learn(100_000)

The fast path for environments with a native vectorized version (CartPole-v1, ScratchCartPole-v0):

    from sb3_scratch_ppo import make_vec_env      # instead of: from stable_baselines3.common.env_util import make_vec_env
    env = make_vec_env("ScratchCartPole-v0", n_envs=8, seed=0)

Checkpoints that resume training exactly, and never unpickle (``checkpoint.py``):

    model.learn(total, callback=ResumableCheckpointCallback(10_000, "ckpt/"))
    model = load_checkpoint(latest("ckpt/"), env=env)
    model.learn(total - model.num_timesteps, reset_num_timesteps=False)

sb3-contrib's MaskablePPO, from the same parts (``maskable.py``):

    from sb3_scratch_ppo import ScratchMaskablePPO  # instead of: from sb3_contrib import MaskablePPO

Importing this package also registers the Gymnasium environment ``ScratchCartPole-v0``.
"""

import scratch_envs  # noqa: F401  (registers ScratchCartPole-v0)
from sb3_scratch_ppo.checkpoint import ResumableCheckpointCallback, latest, load_checkpoint, save_checkpoint
from sb3_scratch_ppo.maskable import ScratchMaskablePPO
from sb3_scratch_ppo.policy import ActorCriticPolicy
from sb3_scratch_ppo.ppo import CnnPolicy, MlpPolicy, MultiInputPolicy, ScratchPPO
from sb3_scratch_ppo.vec_env import make_vec_env

__version__ = "0.1.0"
__all__ = [
    "ActorCriticPolicy",
    "CnnPolicy",
    "MlpPolicy",
    "MultiInputPolicy",
    "ResumableCheckpointCallback",
    "ScratchMaskablePPO",
    "ScratchPPO",
    "latest",
    "load_checkpoint",
    "make_vec_env",
    "save_checkpoint",
]
