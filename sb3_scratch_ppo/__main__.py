"""Command line. ``python -m sb3_scratch_ppo run`` is the main job (what ``make run`` does):
train ScratchPPO on ScratchCartPole-v0 with the zoo's tuned CartPole values, evaluate, save, report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np


def run(env_id: str, seed: int, n_eval_episodes: int, out: Path, timesteps: int | None) -> None:
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    from sb3_scratch_ppo import ScratchPPO, zoo

    config = zoo.load(env_id)
    n_timesteps = timesteps or config.n_timesteps
    print(f"Training ScratchPPO on {env_id} for {n_timesteps:,} steps with the zoo's values from {config.path.name}:")
    print("  " + ", ".join(f"{k}={v}" for k, v in {"n_envs": config.n_envs, **config.kwargs}.items()))
    model = ScratchPPO(config.policy, config.make_env(seed=seed), seed=seed, **config.kwargs)
    start = time.perf_counter()
    model.learn(n_timesteps, progress_bar=True)
    train_seconds = time.perf_counter() - start

    eval_env = Monitor(gym.make(env_id))
    eval_env.reset(seed=seed + 1000)  # evaluation episodes apart from the training seeds
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=n_eval_episodes, deterministic=True, return_episode_rewards=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"Mean evaluation return: {np.mean(returns):.1f} +- {np.std(returns):.1f} over {n_eval_episodes} episodes "
          f"(deterministic; the env's reward threshold is {gym.spec(env_id).reward_threshold})")
    print(f"Wall time: {train_seconds:.1f} s of training ({model.num_timesteps / train_seconds:,.0f} steps/s)")
    print(f"Model saved to {out}.zip; load it with ScratchPPO.load(\"{out}.zip\")")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sb3_scratch_ppo")
    sub = parser.add_subparsers(dest="command", required=True)
    job = sub.add_parser("run", help="train on ScratchCartPole-v0, evaluate, save (the main job)")
    job.add_argument("--env", default="ScratchCartPole-v0", help="an env id with an entry in zoo_configs/ppo.yml")
    job.add_argument("--seed", type=int, default=0)
    job.add_argument("--eval-episodes", type=int, default=20)
    job.add_argument("--timesteps", type=int, default=None, help="default: the entry's n_timesteps")
    job.add_argument("--out", type=Path, default=Path("runs/scratch_ppo_cartpole"))
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.env, args.seed, args.eval_episodes, args.out, args.timesteps)


if __name__ == "__main__":
    main()
