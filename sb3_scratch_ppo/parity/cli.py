"""``python -m sb3_scratch_ppo parity``: reward parity of ScratchPPO against SB3's PPO on zoo configs, its arguments
and its body (the sweep, then the report)."""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

import gymnasium as gym

from sb3_scratch_ppo import zoo
from sb3_scratch_ppo.parity import (
    ALGORITHMS,
    LEARNERS,
    PILOT_SEEDS,
    format_table,
    overview,
    summary_table,
    sweep,
    write_report,
)


def add_parser(sub) -> None:
    """The ``parity`` subcommand's arguments, on ``sub`` (argparse's subparsers)."""
    cmd = sub.add_parser("parity", help="reward parity of ScratchPPO against SB3's PPO on zoo configs")
    cmd.add_argument("--env", nargs="+", default=["CartPole-v1"], help="env ids from the config file, or: all")
    cmd.add_argument(
        "--seeds",
        default="10",
        type=lambda v: v if v == "auto" else str(int(v)),
        help=f"seeds per learner, or 'auto': a pilot of {PILOT_SEEDS}, then as many as its spread asks for "
        "(results already in --results are reused; 0 runs nothing and rewrites the report)",
    )
    cmd.add_argument("--max-seeds", type=int, default=40, help="the most seeds --seeds auto may ask for")
    cmd.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel runs on this machine (default: one per core; a Ray cluster uses all its CPUs)",
    )
    cmd.add_argument(
        "--backend",
        choices=sorted(sweep.BACKENDS),
        default=None,
        help="local: a process pool here (the default); ray: Ray tasks on the cluster at RAY_ADDRESS, "
        "or a Ray instance started here (the default when RAY_ADDRESS is set)",
    )
    cmd.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help="local backend: start a run only if it should end within this many minutes (judged by the median time "
        "of the same env and learner's finished runs, or for an env's first run the longest of that learner's); "
        "the same command continues the sweep later",
    )
    cmd.add_argument("--margin", type=float, default=0.1, help="equivalence margin, as a fraction of |mean(SB3)|")
    cmd.add_argument("--timesteps", type=int, default=None, help="default: each entry's n_timesteps")
    cmd.add_argument("--config", default=None, help="a ppo.yml in the zoo's format (default: the package's configs/ppo.yml)")
    cmd.add_argument("--results", type=Path, default=Path("runs/parity/results.json"))
    cmd.add_argument("--report", type=Path, default=Path("runs/parity/report.md"))
    cmd.add_argument(
        "--algo",
        choices=sorted(ALGORITHMS),
        default="ppo",
        help="ppo: SB3's PPO against ScratchPPO; maskable_ppo: sb3-contrib's MaskablePPO against ScratchMaskablePPO "
        "(the `contrib` extra; --config sb3_scratch_ppo/zoo/configs/maskable.yml)",
    )
    cmd.add_argument("--no-control", action="store_true", help="skip the negative control (then power is not shown)")


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
    learners = ("sb3", "scratch") if args.no_control else LEARNERS
    start = time.perf_counter()
    command = "python -m sb3_scratch_ppo " + shlex.join(argv)
    runs = sweep.sweep(
        runnable,
        args.seeds,
        args.results,
        learners,
        args.max_seeds,
        args.margin,
        workers=args.workers,
        n_timesteps=args.timesteps,
        config_path=args.config,
        backend=args.backend,
        command=command,
        budget_minutes=args.budget_minutes,
        algo=args.algo,
    )
    reports = write_report(runs, runnable, args.report, args.margin, skipped)
    if args.results.name == overview.MAIN:  # the classic configs' report also shows the sweeps beside it
        args.report.write_text(overview.rewrite(args.report, args.margin))
    for report in reports:
        print()
        print(format_table(report))
    print("\n" + "\n".join(summary_table(reports)))
    print(f"\nResults: {args.results}; report: {args.report} (plots beside it); {time.perf_counter() - start:.0f} s")
