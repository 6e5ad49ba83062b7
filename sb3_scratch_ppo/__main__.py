"""Command line. ``python -m sb3_scratch_ppo run`` is the main job (what ``make run`` does):
train ScratchPPO on ScratchCartPole-v0 with the zoo's tuned CartPole values, evaluate, save, report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_scratch_ppo import ScratchPPO, zoo
from sb3_scratch_ppo.checkpoint import save_checkpoint
from sb3_scratch_ppo.parity import cli as parity_cli


def run(env_id: str, seed: int, n_eval_episodes: int, out: Path, timesteps: int | None) -> None:
    config = zoo.load(env_id)
    n_timesteps = timesteps or config.n_timesteps
    print(f"Training ScratchPPO on {env_id} for {n_timesteps:,} steps with the zoo's values from {config.path.name}:")
    print("  " + ", ".join(f"{k}={v}" for k, v in {"n_envs": config.n_envs, **config.kwargs}.items()))
    env = config.make_env(seed=seed, fast=True)
    print(f"  env: {type(env).__name__} of {env.num_envs} x {env_id}")
    model = ScratchPPO(config.policy, env, seed=seed, **config.kwargs)
    start = time.perf_counter()
    model.learn(n_timesteps, progress_bar=True)
    train_seconds = time.perf_counter() - start

    eval_env = config.make_eval_env(env, seed=seed + 1000)  # evaluation episodes apart from the training seeds
    returns, _ = evaluate_policy(
        model, eval_env, n_eval_episodes=n_eval_episodes, deterministic=True, return_episode_rewards=True
    )
    out = out.with_name(out.name + ".zip") if out.suffix != ".zip" else out
    save_checkpoint(model, out)  # a model zip that also holds VecNormalize's statistics (no pickle) and the state
    print(
        f"Mean evaluation return: {np.mean(returns):.1f} +- {np.std(returns):.1f} over {n_eval_episodes} episodes "
        f"(deterministic; the env's reward threshold is {gym.spec(env_id).reward_threshold})"
    )
    print(f"Wall time: {train_seconds:.1f} s of training ({model.num_timesteps / train_seconds:,.0f} steps/s)")
    print(
        f'Model saved to {out}: ScratchPPO.load("{out}") for the model, or load_checkpoint("{out}", env=...) '
        "to continue training" + (" (it sets the env's VecNormalize statistics too)" if config.normalize else "")
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("zoo-train", "zoo-enjoy"):  # every other argument is the zoo's
        from sb3_scratch_ppo.zoo import cli as zoo_cli

        return (zoo_cli.zoo_train if argv[0] == "zoo-train" else zoo_cli.zoo_enjoy)(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m sb3_scratch_ppo")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("zoo-train", help="rl-baselines3-zoo's trainer with ScratchPPO (arguments: rl_zoo3.train's)")
    sub.add_parser("zoo-enjoy", help="rl-baselines3-zoo's player with ScratchPPO (arguments: rl_zoo3.enjoy's)")
    job = sub.add_parser("run", help="train on ScratchCartPole-v0, evaluate, save (the main job)")
    job.add_argument("--env", default="ScratchCartPole-v0", help="an env id with an entry in the zoo configs")
    job.add_argument("--seed", type=int, default=0)
    job.add_argument("--eval-episodes", type=int, default=20)
    job.add_argument("--timesteps", type=int, default=None, help="default: the entry's n_timesteps")
    job.add_argument("--out", type=Path, default=Path("runs/scratch_ppo_cartpole"))
    parity_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.env, args.seed, args.eval_episodes, args.out, args.timesteps)
    elif args.command == "parity":
        parity_cli.parity(args, argv)


if __name__ == "__main__":
    main()
