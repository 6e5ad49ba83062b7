"""For the zoo's stock CLI: ``python -m rl_zoo3.train --algo ppo --gym-packages sb3_scratch_ppo.zoo.override ...``
trains ScratchPPO in place of SB3's PPO. Drawback: the runs are filed under ``logs/ppo/``, as SB3's would be;
``python -m sb3_scratch_ppo zoo-train`` files them under ``logs/scratch_ppo/``."""

import rl_zoo3

from sb3_scratch_ppo import ScratchPPO

rl_zoo3.ALGOS["ppo"] = ScratchPPO  # one dict, shared by the zoo's train, exp_manager and enjoy
print(f"{__name__}: --algo ppo is ScratchPPO in this run (filed under ppo)")
