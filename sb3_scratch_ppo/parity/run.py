"""One parity run: train one learner (SB3's PPO, ScratchPPO, or the control) on one seed of a zoo config, record
its learning curve and a final deterministic evaluation, with the versions that made it. With ``algo="maskable_ppo"``
the reference is sb3-contrib's MaskablePPO and ours ScratchMaskablePPO (masks in training and in the evaluation)."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sb3_scratch_ppo import zoo

LEARNERS = ("sb3", "scratch", "control")  # "sb3": the reference, SB3's algorithm or sb3-contrib's (ALGORITHMS)
# algo: (the reference's name, ours), as reports print them.
ALGORITHMS = {"ppo": ("SB3", "ScratchPPO"), "maskable_ppo": ("MaskablePPO", "ScratchMaskablePPO")}
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
    # Seconds of learn() when the run reached each of ``timesteps`` (interpolated between rollout ends): the curve
    # against wall-clock time. None in runs made before it was recorded.
    curve_wall_seconds: list[float] | None = None
    # CPU seconds of the training process over learn() (one thread: the wall time it would take on an idle core, so
    # speed ratios hold when other work shared the machine). None in runs made before it was recorded.
    cpu_seconds: float | None = None
    algo: str = "ppo"  # a key of ALGORITHMS

    @property
    def auc(self) -> float:
        return float(np.mean(self.curve))

    @property
    def speed(self) -> float:
        """Training steps per second (derived from the wall time for runs that did not record it)."""
        return self.steps_per_second or self.n_timesteps / self.wall_seconds

    @property
    def key(self) -> tuple:
        return (self.env_id, self.learner, self.seed, self.n_timesteps, self.algo)


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
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sb3_scratch_ppo", "scratch_envs"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode == 0:
            versions["commit"] = commit.stdout.strip() + ("+uncommitted changes" if dirty.stdout.strip() else "")
    except OSError:  # no git here: an installed copy, not a checkout
        pass
    return versions


def run_one(
    env_id: str,
    learner: str,
    seed: int,
    n_timesteps: int | None = None,
    config_path: str | None = None,
    command: str | None = None,
    algo: str = "ppo",
) -> Run:
    """Train one learner on one seed and evaluate it (in a worker process: torch and BLAS at one thread)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    from stable_baselines3.common.callbacks import BaseCallback

    reference, ours, evaluate_policy = _algorithm(algo)
    config = zoo.load(env_id, config_path)
    n_timesteps = n_timesteps or config.n_timesteps
    kwargs = dict(config.kwargs)
    if learner == "control":
        kwargs["learning_rate"] = _scaled(kwargs.get("learning_rate", 3e-4), CONTROL_LR_FACTOR)
    algo_class = {"sb3": reference, "scratch": ours, "control": ours}[learner]

    class EpisodeLog(BaseCallback):
        def __init__(self):
            super().__init__()
            self.ends, self.returns = [], []

            self.clock = [(0, 0.0)]  # (timesteps, seconds since learn() began) at each rollout's end

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.ends.append(self.num_timesteps)
                    self.returns.append(info["episode"]["r"])
            return True

        def _on_rollout_end(self) -> None:
            self.clock.append((self.num_timesteps, time.perf_counter() - start))

    with threadpool_limits(1):
        env = config.make_env(seed=seed)
        model = algo_class(config.policy, env, seed=seed, **kwargs)
        log = EpisodeLog()
        start, cpu_start = time.perf_counter(), time.process_time()
        model.learn(n_timesteps, callback=log)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        log.clock.append((model.num_timesteps, wall))

        eval_env = config.make_eval_env(env, seed=seed + EVAL_SEED_OFFSET)
        returns, _ = evaluate_policy(
            model, eval_env, n_eval_episodes=N_EVAL_EPISODES, deterministic=True, return_episode_rewards=True
        )
    timesteps, curve = learning_curve(np.array(log.ends), np.array(log.returns, dtype=float), n_timesteps)
    clock_steps, clock_seconds = np.array(log.clock, dtype=float).T
    curve_wall = np.interp(timesteps, clock_steps, clock_seconds)
    return Run(
        env_id,
        learner,
        seed,
        n_timesteps,
        timesteps,
        curve,
        float(np.mean(returns)),
        [float(r) for r in returns],
        wall,
        model.num_timesteps / wall,
        provenance(),
        command,
        [round(float(t), 3) for t in curve_wall],
        cpu,
        algo,
    )


def _algorithm(algo: str):
    """The reference's class, ours, and the evaluate_policy that fits them (sb3-contrib's passes the masks)."""
    if algo == "ppo":
        from stable_baselines3 import PPO
        from stable_baselines3.common.evaluation import evaluate_policy

        from sb3_scratch_ppo import ScratchPPO

        return PPO, ScratchPPO, evaluate_policy
    if algo == "maskable_ppo":
        from sb3_contrib import MaskablePPO
        from sb3_contrib.common.maskable.evaluation import evaluate_policy

        from sb3_scratch_ppo.maskable import ScratchMaskablePPO

        return MaskablePPO, ScratchMaskablePPO, evaluate_policy
    raise ValueError(f"algo: expected one of {sorted(ALGORITHMS)}, got {algo!r}")
