"""Reward parity: run SB3's PPO and ScratchPPO on zoo configs for N seeds each, and test their learning for equivalence.

    python -m sb3_scratch_ppo parity --env CartPole-v1 --seeds 10

Each run trains one learner on one seed in a worker process (one per core, torch at one
thread), records its learning curve (mean return of the training episodes that ended in each
of ``N_POINTS`` equal windows of timesteps) and a final deterministic evaluation on evaluation
seeds held apart from the training seeds. Results go to a JSON file that later runs extend
(runs already there are not repeated; ``sweep.py`` runs the tasks, here or on Ray). Three learners:

- ``sb3``: stable_baselines3.PPO, the reference;
- ``scratch``: ScratchPPO, the same config;
- ``control``: ScratchPPO with the learning rate / 100: really different, so the test must
  call it NOT equivalent, or it lacks the power to tell learners apart.

With ``--algo maskable_ppo`` the same three are sb3-contrib's MaskablePPO, ScratchMaskablePPO and its control.

Metrics, per run: ``auc`` (mean of the learning curve: how fast it learns) and ``final``
(mean deterministic evaluation return). The verdicts come from ``stats.compare``.

The wing's modules: ``run.py`` (one run of one learner on one seed: ``Run``, ``run_one``), ``results.py`` (the
results file, extended atomically), ``analysis.py`` (``analyse``: the verdicts per env), ``report.py`` (tables, plots,
the Markdown report), ``overview.py`` (every sweep's summary in the classic configs' report), ``published.py`` (the
zoo's and CleanRL's MuJoCo numbers beside the runs), ``stats.py`` (bootstrap intervals, equivalence), ``sweep.py``
(the tasks, here or on Ray) and ``cli.py`` (the ``parity`` subcommand). Only ``__main__`` imports this wing;
the learner never does.
"""

from sb3_scratch_ppo.parity.analysis import REWARD_THRESHOLDS, EnvReport, SuccessRate, analyse, reward_threshold
from sb3_scratch_ppo.parity.report import REASONING, format_table, plot, summary_table, write_report
from sb3_scratch_ppo.parity.results import load_results, locked, merge_results, write_results
from sb3_scratch_ppo.parity.run import (
    ALGORITHMS,
    CONTROL_LR_FACTOR,
    EVAL_SEED_OFFSET,
    LEARNERS,
    N_EVAL_EPISODES,
    N_POINTS,
    PILOT_SEEDS,
    Run,
    learning_curve,
    provenance,
    run_one,
)

__all__ = [
    "ALGORITHMS",
    "CONTROL_LR_FACTOR",
    "EVAL_SEED_OFFSET",
    "LEARNERS",
    "N_EVAL_EPISODES",
    "N_POINTS",
    "PILOT_SEEDS",
    "REASONING",
    "REWARD_THRESHOLDS",
    "EnvReport",
    "Run",
    "SuccessRate",
    "analyse",
    "format_table",
    "learning_curve",
    "load_results",
    "locked",
    "merge_results",
    "plot",
    "provenance",
    "reward_threshold",
    "run_one",
    "summary_table",
    "write_report",
    "write_results",
]
