"""Reward parity: run SB3's PPO and ScratchPPO on one zoo config for N seeds, and test their learning for equivalence.

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

Metrics, per run: ``auc`` (mean of the learning curve: how fast it learns) and ``final``
(mean deterministic evaluation return). The verdicts come from ``stats.compare``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sb3_scratch_ppo import stats, zoo

LEARNERS = ("sb3", "scratch", "control")
N_POINTS = 20
N_EVAL_EPISODES = 10
EVAL_SEED_OFFSET = 1_000_000  # evaluation seeds are training seed + this: never a training seed
CONTROL_LR_FACTOR = 0.01
PILOT_SEEDS = 10


@dataclass
class Run:
    env_id: str
    learner: str
    seed: int
    n_timesteps: int
    timesteps: list[int]
    curve: list[float]
    final: float
    eval_returns: list[float]
    wall_seconds: float  # learn() alone, without the evaluation
    steps_per_second: float | None = None
    versions: dict[str, str] | None = None  # what the worker that made the run had installed (provenance())
    command: str | None = None  # the sweep that asked for it

    @property
    def auc(self) -> float:
        return float(np.mean(self.curve))

    @property
    def speed(self) -> float:
        """Training steps per second (derived from the wall time for runs that did not record it)."""
        return self.steps_per_second or self.n_timesteps / self.wall_seconds

    @property
    def key(self) -> tuple:
        return (self.env_id, self.learner, self.seed, self.n_timesteps)


def _scaled(schedule: Any, factor: float) -> Any:
    return (lambda p: factor * schedule(p)) if callable(schedule) else factor * schedule


def learning_curve(episode_ends: np.ndarray, episode_returns: np.ndarray, n_timesteps: int, n_points: int = N_POINTS):
    """Mean return of the episodes ending in each of n_points equal windows; a window with none carries the last value."""
    edges = np.linspace(0, n_timesteps, n_points + 1)
    curve, last = [], math.nan
    for lo, hi in itertools.pairwise(edges):
        in_window = (episode_ends > lo) & (episode_ends <= hi)
        if in_window.any():
            last = float(episode_returns[in_window].mean())
        curve.append(last)
    first = next((v for v in curve if not math.isnan(v)), 0.0)
    return edges[1:].astype(int).tolist(), [first if math.isnan(v) else v for v in curve]


def provenance() -> dict[str, str]:
    """The versions a run was made with: Python, the libraries that learn or step, and this project's git commit."""
    import platform
    import subprocess
    from importlib.metadata import version

    versions = {"python": platform.python_version()}
    versions |= {name: version(name) for name in ("numpy", "torch", "stable_baselines3", "gymnasium", "sb3-scratch-ppo")}
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "sb3_scratch_ppo", "envs", "zoo_configs"],
                               cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            versions["commit"] = commit.stdout.strip() + ("+uncommitted changes" if dirty.stdout.strip() else "")
    except OSError:  # no git here: an installed copy, not a checkout
        pass
    return versions


def run_one(env_id: str, learner: str, seed: int, n_timesteps: int | None = None, config_path: str | None = None,
            command: str | None = None) -> Run:
    """Train one learner on one seed and evaluate it (in a worker process: torch and BLAS at one thread)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_scratch_ppo import ScratchPPO

    config = zoo.load(env_id, config_path)
    n_timesteps = n_timesteps or config.n_timesteps
    kwargs = dict(config.kwargs)
    if learner == "control":
        kwargs["learning_rate"] = _scaled(kwargs.get("learning_rate", 3e-4), CONTROL_LR_FACTOR)
    algo = {"sb3": PPO, "scratch": ScratchPPO, "control": ScratchPPO}[learner]

    class EpisodeLog(BaseCallback):
        def __init__(self):
            super().__init__()
            self.ends, self.returns = [], []

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.ends.append(self.num_timesteps)
                    self.returns.append(info["episode"]["r"])
            return True

    with threadpool_limits(1):
        env = config.make_env(seed=seed)
        model = algo(config.policy, env, seed=seed, **kwargs)
        log = EpisodeLog()
        start = time.perf_counter()
        model.learn(n_timesteps, callback=log)
        wall = time.perf_counter() - start

        eval_env = config.make_eval_env(env, seed=seed + EVAL_SEED_OFFSET)
        returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=N_EVAL_EPISODES, deterministic=True,
                                     return_episode_rewards=True)
    timesteps, curve = learning_curve(np.array(log.ends), np.array(log.returns, dtype=float), n_timesteps)
    return Run(env_id, learner, seed, n_timesteps, timesteps, curve, float(np.mean(returns)),
               [float(r) for r in returns], wall, model.num_timesteps / wall, provenance(), command)


def load_results(path: Path) -> list[Run]:
    if not path.exists():
        return []
    with open(path) as f:
        return [Run(**r) for r in json.load(f)["runs"]]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the results file (a ``.lock`` file beside it) while reading and rewriting it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def merge_results(path: Path, new: list[Run]) -> list[Run]:
    """Add runs to the results file, atomically and idempotently; return everything the file then holds.

    Under an exclusive lock, the file is read again (another sweep may have added runs), the runs
    whose key is not there yet are appended, and the whole is written to a temporary file that
    replaces the old one in one step: a sweep killed at any moment leaves either the old file or
    the new one, never half of one, and merging a run twice keeps one copy."""
    with locked(path):
        runs = load_results(path)
        keys = {r.key for r in runs}
        for run in new:
            if run.key not in keys:
                runs.append(run)
                keys.add(run.key)
        write_results(path, runs)
    return runs


def write_results(path: Path, runs: list[Run]) -> None:
    """Write the whole file in one step: a temporary file, flushed to disk, then renamed over the old one."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump({"runs": [asdict(r) for r in runs]}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- analysis ---------------------------------------------------------------------------------

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
        """ScratchPPO's training steps per second over SB3's, medians of these same runs."""
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
    by = {learner: [r for r in runs if r.env_id == (ref_env_id if learner == "sb3" else env_id) and r.learner == learner]
          for learner in LEARNERS}
    if len(by["sb3"]) < 2 or len(by["scratch"]) < 2:
        raise ValueError(f"{env_id}: need at least 2 runs each of sb3 and scratch, "
                         f"have {len(by['sb3'])} and {len(by['scratch'])}")
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
    return EnvReport(env_id, comparisons, controls, needed, wall, speed, by["sb3"][0].n_timesteps, success)


def format_table(report: EnvReport) -> str:
    lines = [
        f"{report.env_id}: {report.comparisons[0].n_ref} SB3 runs, {report.comparisons[0].n_ours} ScratchPPO runs, "
        f"{report.n_timesteps:,} steps each",
        f"{'metric':<18}{'SB3 mean':>10}{'ours mean':>11}{'90% CI of diff':>22}{'margin':>9}{'Welch p':>9}  verdict",
    ]
    rows = [("", c) for c in report.comparisons] + [("control ", c) for c in report.controls]
    for prefix, c in rows:
        ci = f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]"
        lines.append(f"{prefix + c.metric:<18}{c.mean_ref:>10.1f}{c.mean_ours:>11.1f}{ci:>22}{c.margin:>9.1f}"
                     f"{c.welch_p:>9.3f}  {c.verdict}")
    if (s := report.success) is not None:
        ci = f"[{s.ci[0]:+.2f}, {s.ci[1]:+.2f}]"
        lines.append(f"{'solved (>= ' + f'{s.threshold:g})':<18}{s.ref:>10.0%}{s.ours:>11.0%}{ci:>22}{'':>9}{'':>9}  "
                     f"{s.verdict}")
    verdict = "EQUIVALENT" if report.equivalent else "NOT SHOWN EQUIVALENT"
    power = {True: "", None: " (no negative control run here)",
             False: ", but the negative control was not rejected either: the test lacks power and this verdict "
                    "means nothing"}[report.has_power]
    lines.append(f"=> ScratchPPO vs SB3 on {report.env_id}: {verdict}{power}; "
                 f"ScratchPPO trains {report.speedup:.1f}x as many steps per second")
    return "\n".join(lines)


def plot(runs: list[Run], env_id: str, path: Path) -> Path:
    """Learning curves: mean over seeds with a 90% bootstrap band, one line per learner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    labels = {"sb3": "SB3 PPO", "scratch": "ScratchPPO", "control": f"control (ScratchPPO, lr x {CONTROL_LR_FACTOR})"}
    colours = {"sb3": "tab:blue", "scratch": "tab:orange", "control": "tab:gray"}
    for learner in LEARNERS:
        rs = [r for r in runs if r.env_id == env_id and r.learner == learner]
        if not rs:
            continue
        x = np.array(rs[0].timesteps)
        curves = np.array([r.curve for r in rs])
        lo, hi = stats.bootstrap_ci(stats.mean_over_seeds, [curves], level=0.90, n_boot=1000)
        ax.plot(x, curves.mean(axis=0), color=colours[learner], label=f"{labels[learner]} ({len(rs)} seeds)")
        ax.fill_between(x, lo, hi, color=colours[learner], alpha=0.25)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("mean training episode return")
    ax.set_title(f"{env_id}: learning curves, mean and 90% bootstrap band")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


REASONING = """\
## How to read this

- **Equivalence, not absence of difference.** For each metric, the 90% bootstrap interval of
  mean(ScratchPPO) - mean(SB3) must lie inside +-margin (default: 10% of |mean(SB3)|). This is
  the interval form of two one-sided tests at 5%. A failed difference test (Welch's p > 0.05)
  is *not* evidence of equivalence; Welch's t is reported only for reference.
- **Metrics.** `auc`: the mean of the learning curve (mean return of training episodes in 20
  equal windows of timesteps), i.e. how fast it learns; `final`: the mean deterministic
  evaluation return over 10 episodes on evaluation seeds apart from the training seeds.
- **Negative control.** ScratchPPO with the learning rate divided by 100 is really a different
  learner. The same test must call it NOT equivalent; if it does not, the test lacks power
  (too few seeds or too wide a margin) and its "equivalent" verdicts mean nothing.
- **Seeds.** With n seeds each, the interval's half-width is about
  z * sqrt((s_ours^2 + s_sb3^2) / n) (z = 1.645). Equivalent learners pass reliably when that
  half-width uses at most half the margin, which needs n >= (z * sqrt(s_ours^2 + s_sb3^2) /
  (0.5 * margin))^2 seeds; the table gives that number from the measured spreads. Where it
  is above the seeds run, an "inconclusive" verdict is expected and more seeds are the remedy
  (`--seeds`, results are extended, not recomputed).
- **Solved.** Where the env has a reward threshold, the share of seeds whose final evaluation
  reaches it, with the 90% bootstrap interval of the difference. Where runs split into seeds
  that solve and seeds that never do, this says what the means cannot; it is a difference test
  only ("no difference shown" is not equivalence).
- **Speed.** ScratchPPO's median training steps per second over SB3's, from these same runs
  (one worker per core, torch and BLAS at one thread, `learn()` alone).
- **Provenance.** `results.json` keeps every run with the versions its worker had installed,
  the project's git commit and the command of the sweep that made it.
"""


def _ci(c: stats.Comparison) -> str:
    return f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}] ({c.margin:.1f}): {c.verdict}"


def summary_table(reports: list[EnvReport]) -> list[str]:
    """One row per env: the verdicts at a glance (the README shows the same table)."""
    lines = ["| env | seeds (SB3 / ours) | auc: SB3 / ours | 90% CI of diff (margin): verdict | final: SB3 / ours "
             "| 90% CI of diff (margin): verdict | solved: SB3 / ours | control | verdict | speed: ours / SB3 |",
             "|---|---:|---:|---|---:|---|---:|---|---|---:|"]
    for r in reports:
        auc, final = r.comparisons
        solved = "-" if r.success is None else f"{r.success.ref:.0%} / {r.success.ours:.0%}"
        control = {True: "rejected", False: "NOT rejected", None: "not run"}[r.has_power]
        verdict = f"**{r.verdict}**"
        if r.verdict == "inconclusive":
            verdict += (" (the control passes too: no power)" if r.equivalent
                        else f" (needs ~{max(r.seeds_needed.values()):,} seeds)")
        lines.append(f"| {r.env_id} | {auc.n_ref} / {auc.n_ours} | {auc.mean_ref:.1f} / {auc.mean_ours:.1f} | {_ci(auc)} "
                     f"| {final.mean_ref:.1f} / {final.mean_ours:.1f} | {_ci(final)} | {solved} | {control} "
                     f"| {verdict} | {r.speedup:.1f}x |")
    return lines


def write_report(runs: list[Run], env_ids: list[str], out: Path, rel_margin: float = 0.1,
                 skipped: dict[str, str] | None = None) -> list[EnvReport]:
    out.parent.mkdir(parents=True, exist_ok=True)
    reports = [analyse(runs, env_id, rel_margin) for env_id in env_ids]
    lines = ["# Reward parity: ScratchPPO vs SB3 PPO", "",
             f"Margin: {rel_margin:.0%} of |mean(SB3)|; intervals: 90% percentile bootstrap (10,000 resamples). "
             "Speed: the median training steps per second of these same runs (`learn()` alone).", "",
             *summary_table(reports), ""]
    lines += [f"Not run: {env_id}: {why}" for env_id, why in (skipped or {}).items()]
    for report in reports:
        env_id = report.env_id
        png = plot(runs, env_id, out.parent / f"parity_{env_id}.png")
        lines += [f"## {env_id}", "", f"![{env_id} learning curves]({png.name})", "",
                  "| learner | metric | SB3 mean | mean | 90% CI of diff | margin | Welch p | SB3 IQM (90% CI) "
                  "| IQM (90% CI) | verdict |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for name, cs in (("ScratchPPO", report.comparisons), ("control", report.controls)):
            for c in cs:
                lines.append(f"| {name} | {c.metric} | {c.mean_ref:.1f} | {c.mean_ours:.1f} | "
                             f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}] | {c.margin:.1f} | {c.welch_p:.3f} | "
                             f"{c.iqm_ref:.1f} [{c.iqm_ref_ci[0]:.1f}, {c.iqm_ref_ci[1]:.1f}] | "
                             f"{c.iqm_ours:.1f} [{c.iqm_ours_ci[0]:.1f}, {c.iqm_ours_ci[1]:.1f}] | {c.verdict} |")
        verdict = f"**{report.verdict}**"
        power = {True: "yes", False: "NO (the test lacks power)", None: "no control run"}[report.has_power]
        lines += ["", f"Verdict: {verdict}; negative control rejected: {power}. "
                  f"Seeds run: {report.comparisons[0].n_ours}; seeds needed from the measured spread: "
                  + ", ".join(f"{m} {n}" for m, n in report.seeds_needed.items()) + "."]
        if (s := report.success) is not None:
            lines += ["", f"Seeds whose final evaluation reaches the reward threshold ({s.threshold:g}): SB3 {s.ref:.0%}, "
                      f"ScratchPPO {s.ours:.0%}; 90% CI of the difference [{s.ci[0]:+.2f}, {s.ci[1]:+.2f}]: "
                      f"{s.verdict}."]
        lines += ["", "Median per run: " + ", ".join(
            f"{k} {report.wall_seconds[k]:.1f} s ({report.steps_per_second[k]:,.0f} steps/s)"
            for k in report.wall_seconds) + f"; ScratchPPO {report.speedup:.1f}x SB3's steps per second.", ""]
    lines.append(REASONING)
    out.write_text("\n".join(lines))
    return reports
