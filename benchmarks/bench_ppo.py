"""Training throughput of ScratchPPO against SB3's PPO, side by side in one run.

Both train on the same kind of env (SB3's DummyVecEnv of CartPole-v1 via make_vec_env), with
the same hyperparameters, alternating A B A B; torch at one thread (SB3's fastest setting for
small networks). Reports env-steps per second (median and range) and the ratio.

    python benchmarks/bench_ppo.py [--repeats 3] [--timesteps 100000] [--out benchmarks/results/ppo.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
from bench_report import write_report
import stable_baselines3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from sb3_scratch_ppo import ScratchPPO, zoo

torch.set_num_threads(1)

CONFIGS = {
    "zoo CartPole-v1 (8 envs, n_steps 32, batch 256, 20 epochs)": lambda: (8, zoo.load("CartPole-v1").kwargs),
    "SB3 defaults (1 env, n_steps 2048, batch 64, 10 epochs)": lambda: (1, {}),
}


def steps_per_second(algo, n_envs: int, kwargs: dict, timesteps: int, seed: int) -> float:
    model = algo("MlpPolicy", make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed), seed=seed, **kwargs)
    start = time.perf_counter()
    model.learn(timesteps)
    return model.num_timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--out", default="benchmarks/results/ppo.md")
    args = parser.parse_args()

    lines = [
        "# ScratchPPO vs SB3 PPO: training throughput (env-steps per second)",
        "",
        f"stable-baselines3 {stable_baselines3.__version__}, torch {torch.__version__} (1 thread), numpy {np.__version__}, "
        f"Python {platform.python_version()}; {args.timesteps:,} steps per run, {args.repeats} alternating runs each, "
        "both on SB3's DummyVecEnv of CartPole-v1.",
        "",
        "| config | ScratchPPO steps/s (min-max) | SB3 PPO steps/s (min-max) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, make in CONFIGS.items():
        n_envs, kwargs = make()
        rates = {ScratchPPO: [], PPO: []}
        for seed in range(args.repeats):
            for algo in rates:
                rates[algo].append(steps_per_second(algo, n_envs, kwargs, args.timesteps, seed))
                print(f"{name}: {algo.__name__} seed {seed}: {rates[algo][-1]:,.0f} steps/s", flush=True)
        ours, ref = (statistics.median(rates[a]) for a in (ScratchPPO, PPO))
        fmt = lambda r: f"{statistics.median(r):,.0f} ({min(r):,.0f}-{max(r):,.0f})"  # noqa: E731
        lines.append(f"| {name} | {fmt(rates[ScratchPPO])} | {fmt(rates[PPO])} | {ours / ref:.1f}x |")
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
