"""sb3-scratch-ppo: PPO from scratch in NumPy, a drop-in replacement for Stable-Baselines3's PPO.

Importing this package also registers the Gymnasium environment ``ScratchCartPole-v0``.
"""

import scratch_envs  # noqa: F401  (registers ScratchCartPole-v0)

__version__ = "0.1.0"
