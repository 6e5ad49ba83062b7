"""The old name of ``sb3_scratch_ppo.zoo.override``, kept for ``--gym-packages sb3_scratch_ppo.zoo_override``."""

from sb3_scratch_ppo.zoo import override  # noqa: F401  (puts ScratchPPO in the zoo's ALGOS as "ppo")
