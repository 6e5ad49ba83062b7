"""Published PPO numbers on the MuJoCo tasks, and both learners' runs in each table's own metric, side by side.

Two tables, neither made the way our parity runs are, so each row says what is and is not comparable:

- rl-baselines3-zoo's ``benchmark.md`` (``python -m rl_zoo3.benchmark``): ONE trained agent per env (v3 envs, mujoco-py,
  the zoo's hyperparameters of the time), evaluated deterministically for about 150,000 steps; mean and standard
  deviation over those evaluation episodes. Its counterpart here: each seed's deterministic evaluation (``final``,
  10 episodes), shown as the mean over seeds and where the zoo's single number falls among the seeds.
- CleanRL's ``ppo_continuous_action.py`` docs (v4 envs, 1M steps, 3 seeds): the training episodes' return at the end
  of training, mean and standard deviation over the seeds. Its counterpart: each seed's last curve point (the mean
  return of the training episodes that ended in the last 1/20 of the steps). CleanRL's config is its own (2,048 steps
  x 1 env, 10 epochs of 32 minibatches, annealed learning rate, clipped normalization), not the zoo's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sb3_scratch_ppo.parity.run import Run


@dataclass(frozen=True)
class Published:
    source: str
    env_id: str  # the env the table used
    mean: float
    std: float  # zoo: over one agent's evaluation episodes; CleanRL: over its 3 seeds
    note: str = ""


ZOO = "rl-baselines3-zoo benchmark.md (PPO, 1M steps)"
CLEANRL = "CleanRL ppo_continuous_action (1M steps, 3 seeds)"

# Keyed by the env id our config runs. The zoo's: its benchmark.md table, rows "ppo"; CleanRL's: the table of
# its PPO docs page for ppo_continuous_action.py.
PUBLISHED: dict[str, list[Published]] = {
    "HalfCheetah-v4": [
        Published(ZOO, "HalfCheetah-v3", 5819.099, 663.530),
        Published(CLEANRL, "HalfCheetah-v4", 1442.64, 46.03),
    ],
    "Hopper-v4": [
        Published(
            ZOO,
            "Hopper-v3",
            2410.435,
            10.026,
            "one agent; a user who ran the zoo's own Hopper-v3 entry on 5 seeds saw each level off near 1,000 "
            "(rl-baselines3-zoo issue #376), what standing still for a 1,000-step episode earns",
        ),
        Published(CLEANRL, "Hopper-v4", 2382.86, 271.74),
    ],
    "Walker2d-v4": [
        Published(ZOO, "Walker2d-v3", 3478.798, 821.708),
        Published(CLEANRL, "Walker2d-v4", 2287.95, 571.78),
    ],
    "Ant-v4": [
        Published(
            ZOO,
            "Ant-v3",
            1327.158,
            451.577,
            "a different task: Ant-v4 leaves the contact forces out of the observation (27 numbers; v3: 111) and their "
            "cost out of the reward",
        ),
    ],
    "Swimmer-v4": [Published(ZOO, "Swimmer-v3", 281.561, 9.671)],
}


def _metric(run: Run, source: str) -> float:
    return run.final if source == ZOO else run.curve[-1]


def published_table(runs: list[Run], env_ids: list[str]) -> list[str]:
    """Markdown lines: for every env with published numbers, each table's number beside both learners' in its metric."""
    rows = []
    for env_id in env_ids:
        for p in PUBLISHED.get(env_id, []):
            cells = []
            for learner in ("sb3", "scratch"):
                values = np.array([_metric(r, p.source) for r in runs if r.env_id == env_id and r.learner == learner])
                if len(values) == 0:
                    cells.append("-")
                    continue
                std = f" +- {values.std(ddof=1):.0f}" if len(values) > 1 else ""
                share = f"; {np.mean(values >= p.mean):.0%} of seeds >= it" if p.source == ZOO else ""
                cells.append(f"{values.mean():.0f}{std} ({len(values)} seeds; best {values.max():.0f}{share})")
            metric = "deterministic evaluation" if p.source == ZOO else "training episodes, end of training"
            rows.append(
                f"| {env_id} | {p.source}: {p.env_id} | {metric} | {p.mean:.0f} +- {p.std:.0f} | {cells[0]} | {cells[1]} "
                f"| {p.note or '-'} |"
            )
    if not rows:
        return []
    return [
        "## Against the published tables",
        "",
        "Each published number beside both learners' runs in that table's metric: the zoo's is one agent's deterministic "
        "evaluation (its +- spans evaluation episodes, not seeds); ours is each seed's deterministic evaluation "
        "(`final`), mean +- standard deviation over seeds, and the share of seeds at or above the zoo's number. "
        "CleanRL's is the training episodes' return at the end of training, mean +- standard deviation over its 3 "
        "seeds; ours is each seed's last curve point (training episodes ending in the last 1/20 of the steps). The zoo "
        "ran v3 envs (mujoco-py) with its hyperparameters of the time; CleanRL runs its own config, not the zoo's: "
        "these rows place the learners, they do not test parity (the sections above do).",
        "",
        "| env | table: its env | metric | published | SB3 PPO | ScratchPPO | caveat |",
        "|---|---|---|---:|---:|---:|---|",
        *rows,
        "",
    ]
