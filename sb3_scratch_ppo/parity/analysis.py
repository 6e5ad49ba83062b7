"""The verdict per env: ScratchPPO (and the negative control) against SB3 on AUC and final return, the share of seeds
that solve, the seeds the measured spread asks for, and the speed ratio."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sb3_scratch_ppo.parity import stats
from sb3_scratch_ppo.parity.run import LEARNERS, Run


@dataclass
class SuccessRate:
    """The fraction of seeds whose final evaluation reaches the env's reward threshold, ours against SB3's.

    Where outcomes split into seeds that solve and seeds that never do, the mean return has a
    spread as large as itself; the fractions say directly whether both learners solve as often.
    This is a difference test only (the interval of the difference of fractions excludes 0 or
    not): "no difference shown" is not a claim of equivalence."""

    threshold: float
    ours: float
    ref: float
    ci: tuple[float, float]  # 90% bootstrap interval of ours - ref

    @property
    def verdict(self) -> str:
        return "different" if self.ci[0] > 0 or self.ci[1] < 0 else "no difference shown"


@dataclass
class EnvReport:
    env_id: str
    comparisons: list[stats.Comparison]  # scratch vs sb3, per metric
    controls: list[stats.Comparison]  # control vs sb3, per metric
    seeds_needed: dict[str, int]
    wall_seconds: dict[str, float]  # median per learner
    steps_per_second: dict[str, float]  # median per learner
    n_timesteps: int
    success: SuccessRate | None = None  # None: the env has no reward threshold
    algo: str = "ppo"  # which pair of learners (parity.ALGORITHMS)
    cpu_seconds: dict[str, float] | None = None  # median per learner, where every run recorded it

    @property
    def speed_unit(self) -> str:
        """What the speed ratio counts steps per: CPU seconds where recorded (one thread a run: the speed on an idle
        core, whatever else shared the machine), else wall-clock seconds."""
        return "CPU second" if self.cpu_seconds else "second"

    @property
    def equivalent(self) -> bool:
        return all(c.verdict == "equivalent" for c in self.comparisons)

    @property
    def has_power(self) -> bool | None:
        """True if the negative control was rejected (not equivalent), False if not, None if no control was run."""
        return all(c.verdict != "equivalent" for c in self.controls) if self.controls else None

    @property
    def verdict(self) -> str:
        """equivalent, different (a metric's interval lies outside the margin), or inconclusive. Equivalent needs the
        negative control rejected: where the control also passes (e.g. no learner ever solves the task), the test
        cannot tell learners apart, and the verdict is inconclusive however many seeds run."""
        if self.equivalent:
            return "inconclusive" if self.has_power is False else "equivalent"
        return "different" if any(c.verdict == "different" for c in self.comparisons) else "inconclusive"

    @property
    def speedup(self) -> float:
        """ScratchPPO's training steps per second (per CPU second where recorded) over SB3's, medians of these runs."""
        if self.cpu_seconds:  # the same steps on both sides
            return self.cpu_seconds["sb3"] / self.cpu_seconds["scratch"]
        return self.steps_per_second["scratch"] / self.steps_per_second["sb3"]


# For envs that register none: MiniGrid-Empty-5x5-v0 pays 1 - 0.9 * steps / 100; 0.9 is the goal within 11 steps
# (the shortest path takes 5: 0.955).
REWARD_THRESHOLDS = {"MiniGrid-Empty-5x5-v0": 0.9}


def reward_threshold(env_id: str) -> float | None:
    import gymnasium as gym

    if env_id in REWARD_THRESHOLDS:
        return REWARD_THRESHOLDS[env_id]
    return gym.spec(env_id).reward_threshold


def analyse(runs: list[Run], env_id: str, rel_margin: float = 0.1, ref_env_id: str | None = None) -> EnvReport:
    """Compare ScratchPPO (and the control) on env_id with SB3 on ref_env_id (default: the same env)."""
    ref_env_id = ref_env_id or env_id
    by = {
        learner: [r for r in runs if r.env_id == (ref_env_id if learner == "sb3" else env_id) and r.learner == learner]
        for learner in LEARNERS
    }
    if len(by["sb3"]) < 2 or len(by["scratch"]) < 2:
        raise ValueError(
            f"{env_id}: need at least 2 runs each of sb3 and scratch, have {len(by['sb3'])} and {len(by['scratch'])}"
        )
    comparisons, controls, needed = [], [], {}
    for metric in ("auc", "final"):
        ref = np.array([getattr(r, metric) for r in by["sb3"]])
        ours = np.array([getattr(r, metric) for r in by["scratch"]])
        comparisons.append(stats.compare(metric, ours, ref, rel_margin))
        needed[metric] = stats.seeds_needed(ours.std(ddof=1), ref.std(ddof=1), comparisons[-1].margin)
        if len(by["control"]) >= 2:
            control = np.array([getattr(r, metric) for r in by["control"]])
            controls.append(stats.compare(metric, control, ref, rel_margin))
    success = None
    if (threshold := reward_threshold(env_id)) is not None:
        solved = {k: np.array([r.final >= threshold for r in by[k]], dtype=float) for k in ("scratch", "sb3")}
        ci = stats.bootstrap_ci(stats.mean_difference, [solved["scratch"], solved["sb3"]])
        success = SuccessRate(threshold, float(solved["scratch"].mean()), float(solved["sb3"].mean()), ci)
    wall = {learner: float(np.median([r.wall_seconds for r in rs])) for learner, rs in by.items() if rs}
    speed = {learner: float(np.median([r.speed for r in rs])) for learner, rs in by.items() if rs}
    timed = all(r.cpu_seconds is not None for rs in by.values() for r in rs)
    cpu = {learner: float(np.median([r.cpu_seconds for r in rs])) for learner, rs in by.items() if rs} if timed else None
    algo = by["sb3"][0].algo
    return EnvReport(env_id, comparisons, controls, needed, wall, speed, by["sb3"][0].n_timesteps, success, algo, cpu)
