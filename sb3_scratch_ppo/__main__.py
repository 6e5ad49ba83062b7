"""Command line: ``python -m sb3_scratch_ppo run`` runs the main job (what ``make run`` does)."""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import scratch_envs  # noqa: F401  (registers ScratchCartPole-v0)

# A linear balancing controller: push towards where the pole is falling.
BALANCE_GAINS = np.array([0.05, 0.3, 5.0, 1.0])


def run_balancer(episodes: int, seed: int) -> None:
    env = gym.make("ScratchCartPole-v0")
    start = time.perf_counter()
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(obs @ BALANCE_GAINS > 0))
            total += reward
            done = terminated or truncated
        returns.append(total)
        print(f"episode {episode}: return {total:.0f} ({'fell' if terminated else 'time limit'})")
    print(f"ScratchCartPole-v0, balancing controller: mean return {np.mean(returns):.1f} over {episodes} "
          f"episodes in {time.perf_counter() - start:.2f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sb3_scratch_ppo")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the main job")
    run.add_argument("--episodes", type=int, default=5)
    run.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "run":
        run_balancer(args.episodes, args.seed)


if __name__ == "__main__":
    main()
