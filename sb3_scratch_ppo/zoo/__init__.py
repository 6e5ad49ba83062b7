"""rl-baselines3-zoo: its hyperparameter format (``config.py``, the configs in ``configs/`` as package data) and its
programs run with ScratchPPO (``cli.py``: zoo-train, zoo-enjoy; ``override.py``: the zoo's own CLI with
``--gym-packages sb3_scratch_ppo.zoo.override``).

    from sb3_scratch_ppo import zoo
    config = zoo.load("CartPole-v1")
"""

from sb3_scratch_ppo.schedules import ZooLinearSchedule
from sb3_scratch_ppo.zoo.config import (
    ATARI_PATH,
    CONFIGS,
    DEFAULT_PATH,
    ENV_WRAPPERS,
    MASKABLE_PATH,
    MUJOCO_PATH,
    OBSERVATIONS_PATH,
    SCHEDULED,
    ZOO_KEYS,
    ConfigError,
    ZooConfig,
    is_atari,
    load,
    parse_literal,
    read_entries,
)

LinearSchedule = ZooLinearSchedule  # its name before it moved to sb3_scratch_ppo.schedules

__all__ = [
    "ATARI_PATH",
    "CONFIGS",
    "DEFAULT_PATH",
    "ENV_WRAPPERS",
    "MASKABLE_PATH",
    "MUJOCO_PATH",
    "OBSERVATIONS_PATH",
    "SCHEDULED",
    "ZOO_KEYS",
    "ConfigError",
    "LinearSchedule",
    "ZooConfig",
    "ZooLinearSchedule",
    "is_atari",
    "load",
    "parse_literal",
    "read_entries",
]
