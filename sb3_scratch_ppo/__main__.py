"""Command line. ``python -m sb3_scratch_ppo run`` is the main job (what ``make run`` does):
train ScratchPPO on ScratchCartPole-v0 with the zoo's tuned CartPole values, evaluate, save, report."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_scratch_ppo import ScratchPPO, sweep, zoo
from sb3_scratch_ppo import parity as par
from sb3_scratch_ppo.checkpoint import save_checkpoint


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
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=n_eval_episodes, deterministic=True,
                                 return_episode_rewards=True)
    out = out.with_name(out.name + ".zip") if out.suffix != ".zip" else out
    save_checkpoint(model, out)  # a model zip that also holds VecNormalize's statistics (no pickle) and the state
    print(f"Mean evaluation return: {np.mean(returns):.1f} +- {np.std(returns):.1f} over {n_eval_episodes} episodes "
          f"(deterministic; the env's reward threshold is {gym.spec(env_id).reward_threshold})")
    print(f"Wall time: {train_seconds:.1f} s of training ({model.num_timesteps / train_seconds:,.0f} steps/s)")
    print(f"Model saved to {out}: ScratchPPO.load(\"{out}\") for the model, or load_checkpoint(\"{out}\", env=...) "
          "to continue training" + (" (it sets the env's VecNormalize statistics too)" if config.normalize else ""))


def cannot_run(env_id: str, config_path: str | None) -> str | None:
    """Why an entry cannot run here (a missing dependency, an env id Gymnasium does not know), or None."""
    config = zoo.load(env_id, config_path)  # a bad entry is an error, not a skip
    try:
        config.make_env(n_envs=1).close()
    except (gym.error.Error, ImportError) as e:
        return f"the environment cannot be created here: {e}"
    return None


def parity(args: argparse.Namespace, argv: list[str]) -> None:
    env_ids = list(zoo.read_entries(args.config)) if args.env == ["all"] else args.env
    skipped = {env_id: why for env_id in env_ids if (why := cannot_run(env_id, args.config))}
    for env_id, why in skipped.items():
        print(f"{env_id}: cannot run: {why}")
    runnable = [e for e in env_ids if e not in skipped]
    learners = ("sb3", "scratch") if args.no_control else par.LEARNERS
    start = time.perf_counter()
    command = "python -m sb3_scratch_ppo " + shlex.join(argv)
    runs = sweep.sweep(runnable, args.seeds, args.results, learners, args.max_seeds, args.margin, workers=args.workers,
                     n_timesteps=args.timesteps, config_path=args.config, backend=args.backend, command=command)
    reports = par.write_report(runs, runnable, args.report, args.margin, skipped)
    for report in reports:
        print()
        print(par.format_table(report))
    print("\n" + "\n".join(par.summary_table(reports)))
    print(f"\nResults: {args.results}; report: {args.report} (plots beside it); {time.perf_counter() - start:.0f} s")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("zoo-train", "zoo-enjoy"):  # every other argument is the zoo's
        from sb3_scratch_ppo import zoo_cli

        return (zoo_cli.zoo_train if argv[0] == "zoo-train" else zoo_cli.zoo_enjoy)(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m sb3_scratch_ppo")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("zoo-train", help="rl-baselines3-zoo's trainer with ScratchPPO (arguments: rl_zoo3.train's)")
    sub.add_parser("zoo-enjoy", help="rl-baselines3-zoo's player with ScratchPPO (arguments: rl_zoo3.enjoy's)")
    job = sub.add_parser("run", help="train on ScratchCartPole-v0, evaluate, save (the main job)")
    job.add_argument("--env", default="ScratchCartPole-v0", help="an env id with an entry in zoo_configs/ppo.yml")
    job.add_argument("--seed", type=int, default=0)
    job.add_argument("--eval-episodes", type=int, default=20)
    job.add_argument("--timesteps", type=int, default=None, help="default: the entry's n_timesteps")
    job.add_argument("--out", type=Path, default=Path("runs/scratch_ppo_cartpole"))
    cmd = sub.add_parser("parity", help="reward parity of ScratchPPO against SB3's PPO on zoo configs")
    cmd.add_argument("--env", nargs="+", default=["CartPole-v1"], help="env ids from the config file, or: all")
    cmd.add_argument("--seeds", default="10", type=lambda v: v if v == "auto" else str(int(v)),
                     help="seeds per learner, or 'auto': a pilot of 10, then as many as its spread asks for "
                          "(results already in --results are reused; 0 runs nothing and rewrites the report)")
    cmd.add_argument("--max-seeds", type=int, default=40, help="the most seeds --seeds auto may ask for")
    cmd.add_argument("--workers", type=int, default=None,
                     help="parallel runs on this machine (default: one per core; a Ray cluster uses all its CPUs)")
    cmd.add_argument("--backend", choices=sorted(sweep.BACKENDS), default=None,
                     help="local: a process pool here (the default); ray: Ray tasks on the cluster at RAY_ADDRESS, "
                          "or a Ray instance started here (the default when RAY_ADDRESS is set)")
    cmd.add_argument("--margin", type=float, default=0.1, help="equivalence margin, as a fraction of |mean(SB3)|")
    cmd.add_argument("--timesteps", type=int, default=None, help="default: each entry's n_timesteps")
    cmd.add_argument("--config", default=None, help="a ppo.yml in the zoo's format (default: zoo_configs/ppo.yml)")
    cmd.add_argument("--results", type=Path, default=Path("runs/parity/results.json"))
    cmd.add_argument("--report", type=Path, default=Path("runs/parity/report.md"))
    cmd.add_argument("--no-control", action="store_true", help="skip the negative control (then power is not shown)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.env, args.seed, args.eval_episodes, args.out, args.timesteps)
    elif args.command == "parity":
        parity(args, argv)


if __name__ == "__main__":
    main()
