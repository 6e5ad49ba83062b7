"""Training speed on every shared config: ScratchPPO against SB3's PPO on the zoo's values, and the share of time
each spends inside the env.

    python benchmarks/bench_configs.py [--timesteps 100000] [--repeats 2] [--out benchmarks/results/configs.md]
    python benchmarks/bench_configs.py --env HalfCheetah-v4 Hopper-v4 Walker2d-v4 Ant-v4 Swimmer-v4 \
        --out benchmarks/results/configs_mujoco.md   # the MuJoCo entries alone
    make bench                                  # runs this after bench_ppo.py

Every entry of the package's configs/ppo.yml, configs/observations.yml (CnnPolicy, MultiInputPolicy) and
configs/mujoco.yml (the zoo's MuJoCo entries; the ``mujoco`` extra), each built as
the parity runs build it (``zoo.load(...).make_env``: SB3's make_vec_env, the zoo's wrappers and VecNormalize),
with the same env for both learners. Each run trains ``--timesteps`` steps (or the entry's n_timesteps if fewer) in
a fresh process, torch and BLAS at one thread; the runs alternate SB3, ScratchPPO, SB3, ScratchPPO, ... per entry.

Env share: the time spent in the learner's ``env.step`` (the env, its wrappers and VecNormalize) over the time of
``learn``. Where it is large for both, the env bounds the run and the algorithm's speed matters little; the
"algorithm time" column is the rest (rollout forward, storage, update), whose ratio is what ScratchPPO changes.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
CONFIG_FILES = (
    "sb3_scratch_ppo/zoo/configs/ppo.yml",
    "sb3_scratch_ppo/zoo/configs/observations.yml",
    "sb3_scratch_ppo/zoo/configs/mujoco.yml",
)
LEARNERS = {"sb3": "SB3 PPO", "scratch": "ScratchPPO"}


def worker(spec: dict) -> dict:
    """One training run; returns its wall time, steps per second and time inside env.step."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import PPO
    from threadpoolctl import threadpool_limits

    from sb3_scratch_ppo import ScratchPPO, zoo

    config = zoo.load(spec["env_id"], REPO / spec["config_file"])
    with threadpool_limits(1):
        env = config.make_env(seed=spec["seed"])
        algo = ScratchPPO if spec["learner"] == "scratch" else PPO
        model = algo(config.policy, env, seed=spec["seed"], **config.kwargs)
        step, in_env = model.env.step, [0.0]

        def timed_step(actions):
            start = time.perf_counter()
            out = step(actions)
            in_env[0] += time.perf_counter() - start
            return out

        model.env.step = timed_step  # the instance's step: what collect_rollouts calls
        start = time.perf_counter()
        model.learn(spec["timesteps"])
        wall = time.perf_counter() - start
    return {"wall": wall, "steps_per_s": model.num_timesteps / wall, "env_s": in_env[0]}


def run_worker(spec: dict) -> dict:
    out = subprocess.run([sys.executable, str(HERE), "--worker", json.dumps(spec)], capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def entries() -> list[tuple[str, str]]:
    from sb3_scratch_ppo import zoo

    return [(path, env_id) for path in CONFIG_FILES for env_id in zoo.read_entries(REPO / path)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=100_000, help="steps per run (fewer if the entry has fewer)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each learner per entry")
    parser.add_argument("--env", nargs="*", help="only these env ids")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/configs.md"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    import numpy as np
    import stable_baselines3
    import torch

    from sb3_scratch_ppo import zoo

    rows = []
    for config_file, env_id in entries():
        if args.env and env_id not in args.env:
            continue
        config = zoo.load(env_id, REPO / config_file)
        steps = min(args.timesteps, config.n_timesteps)
        results = {learner: [] for learner in LEARNERS}
        for repeat in range(args.repeats):
            for learner in LEARNERS:
                r = run_worker(dict(env_id=env_id, config_file=config_file, learner=learner, seed=repeat, timesteps=steps))
                results[learner].append(r)
                print(
                    f"{env_id} {learner} seed {repeat}: {r['steps_per_s']:,.0f} steps/s, {r['wall']:.1f} s, "
                    f"env {r['env_s'] / r['wall']:.0%}",
                    flush=True,
                )
        med = {
            learner: {key: statistics.median(r[key] for r in rs) for key in ("wall", "steps_per_s", "env_s")}
            for learner, rs in results.items()
        }
        sb3, ours = med["sb3"], med["scratch"]
        algo_ratio = (sb3["wall"] - sb3["env_s"]) / (ours["wall"] - ours["env_s"])
        rows.append(
            f"| {env_id} | {config.policy} | {config.n_envs} | {steps:,} | {sb3['steps_per_s']:,.0f} | "
            f"{ours['steps_per_s']:,.0f} | {ours['steps_per_s'] / sb3['steps_per_s']:.1f}x | "
            f"{sb3['env_s'] / sb3['wall']:.0%} | {ours['env_s'] / ours['wall']:.0%} | {algo_ratio:.1f}x |"
        )

    command = f"python benchmarks/bench_configs.py --timesteps {args.timesteps} --repeats {args.repeats}"
    if args.env:
        command += " --env " + " ".join(args.env)
    lines = [
        "# ScratchPPO vs SB3 PPO on every shared config",
        "",
        f"stable-baselines3 {stable_baselines3.__version__}, torch {torch.__version__} at 1 thread, numpy "
        f"{np.__version__}, Python {platform.python_version()}, {platform.machine()}. The zoo's values for each "
        f"entry of {' and '.join(CONFIG_FILES)}, both learners on the same env (SB3's make_vec_env, the zoo's "
        f"wrappers and VecNormalize); {args.repeats} runs of each, alternating, each in a fresh process; medians.",
        f"Command: `{command}` (or `make bench`).",
        "",
        "Env share: time inside the learner's env.step over the training time. Algorithm: the rest (rollout "
        "forward, storage, update), SB3's over ScratchPPO's.",
        "",
        "| env | policy | n_envs | steps per run | SB3 steps/s | ScratchPPO steps/s | ratio | env share SB3 | "
        "env share ScratchPPO | algorithm ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    from bench_report import write_report

    write_report(lines, args.out)


if __name__ == "__main__":
    main()
