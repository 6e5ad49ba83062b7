"""Training speed of ScratchPPO against SB3's PPO, side by side in one run; the floor; scaling.

    python benchmarks/bench_ppo.py [--repeats 3] [--timesteps 100000] [--out benchmarks/results/ppo.md]
    make bench                      # the same, plus the env benchmark (about 20 minutes in all)
    python benchmarks/bench_ppo.py --against REV [--repeats 5]   # ScratchPPO here against ScratchPPO at git REV

Each training run is a fresh process (so peak memory is its own), and the runs alternate
A B C D, A B C D, ... over:

    SB3 PPO, torch 1 thread       SB3's DummyVecEnv of CartPole-v1 (make_vec_env), as users run it
    SB3 PPO, torch default threads  the same, at torch's default thread count
    ScratchPPO                    the same DummyVecEnv: (a) the algorithms alone
    ScratchPPO, fast path         sb3_scratch_ppo.make_vec_env("ScratchCartPole-v0"): (b)

on two configs: the zoo's tuned CartPole-v1 and SB3's defaults. Reported per run: env-steps per
second and wall time to ``--timesteps`` (evaluation time excluded), training time until the
mean return of a deterministic evaluation (10 episodes, every ``--eval-freq`` steps) first
reaches 475, and peak resident memory; the tables give medians and ranges, and ratios of medians.

The floor, for the same shapes: the env step alone, the policy's rollout forward alone and its
training forward+backward alone, each timed for as many calls as the training run makes; the
overhead is how far ScratchPPO's full loop is above their sum.

Scaling: ScratchPPO on the fast path (zoo config) for n_envs 8, 64, 512 and widths 64, 256, with
one SB3 run (1 thread) each for the ratio.

``--against REV`` times only ScratchPPO, this working tree against the package as it was at git revision REV
(exported to a temporary folder and put first on the worker's PYTHONPATH), alternating, on both configs and both
envs: whether a change made training slower, measured in one run. Written to ``results/ppo_vs_REV.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_report import export_revision, write_report

HERE = Path(__file__).resolve()
RUNNERS = {  # name -> (algorithm, env kind, torch threads; 0 = torch's default)
    "SB3 PPO, 1 thread": ("sb3", "dummy", 1),
    "SB3 PPO, default threads": ("sb3", "dummy", 0),
    "ScratchPPO": ("scratch", "dummy", 1),
    "ScratchPPO, fast path": ("scratch", "fast", 1),
}
CONFIGS = {
    "zoo CartPole-v1 (8 envs, n_steps 32, batch 256, 20 epochs)": "zoo",
    "SB3 defaults (1 env, n_steps 2048, batch 64, 10 epochs)": "defaults",
}


def config_kwargs(config: str) -> tuple[int, dict]:
    from sb3_scratch_ppo import zoo

    if config == "zoo":
        return 8, dict(zoo.load("CartPole-v1").kwargs)
    return 1, {}


# --- one training run, in its own process ---------------------------------------------------------


def worker(spec: dict) -> dict:
    import resource

    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    threads = torch.get_num_threads()
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    import sb3_scratch_ppo
    from sb3_scratch_ppo import ScratchPPO, make_vec_env

    if spec.get("src"):
        assert sb3_scratch_ppo.__file__.startswith(spec["src"]), sb3_scratch_ppo.__file__
    n_envs, kwargs = config_kwargs(spec["config"])
    n_envs = spec.get("n_envs") or n_envs
    if spec.get("width"):
        kwargs["policy_kwargs"] = dict(kwargs.get("policy_kwargs") or {}, net_arch=[spec["width"]] * 2)
    seed = spec["seed"]
    env = (
        make_vec_env("ScratchCartPole-v0", n_envs=n_envs, seed=seed)
        if spec["env"] == "fast"
        else sb3_make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed)
    )
    algo = ScratchPPO if spec["algo"] == "scratch" else PPO
    model = algo("MlpPolicy", env, seed=seed, **kwargs)

    class Clock(BaseCallback):
        """Training time with evaluations taken out; the first time the evaluation mean reaches 475."""

        def __init__(self):
            super().__init__()
            self.eval_time, self.reached, self.next_eval = 0.0, None, spec["eval_freq"]
            self.eval_env = sb3_make_vec_env("CartPole-v1", n_envs=10, seed=10_000 + seed)

        def _on_training_start(self):
            self.start = time.perf_counter()

        def _on_step(self):
            return True

        def _on_rollout_end(self):
            if not self.next_eval or self.num_timesteps < self.next_eval or self.reached is not None:
                return
            self.next_eval += spec["eval_freq"]
            t0 = time.perf_counter()
            mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, deterministic=True)
            if mean >= 475:
                self.reached = t0 - self.start - self.eval_time
            self.eval_time += time.perf_counter() - t0

    clock = Clock()
    model.learn(spec["timesteps"], callback=clock)
    wall = time.perf_counter() - clock.start - clock.eval_time
    return {
        "steps_per_s": model.num_timesteps / wall,
        "wall": wall,
        "to_475": clock.reached,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": threads,
    }


def run_worker(spec: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=spec["src"]) if spec.get("src") else None  # --against: the other revision first
    out = subprocess.run([sys.executable, str(HERE), "--worker", json.dumps(spec)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the floor: the pieces alone, for the same shapes and call counts ------------------------------


def floor(config: str, timesteps: int, env_kind: str) -> dict:
    """Seconds for the env steps alone, the rollout forwards alone and the training forward+backward alone."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
    from threadpoolctl import threadpool_limits

    from sb3_scratch_ppo import make_vec_env
    from sb3_scratch_ppo.policy import ActorCriticPolicy

    n_envs, kwargs = config_kwargs(config)
    n_steps, batch, epochs = kwargs.get("n_steps", 2048), kwargs.get("batch_size", 64), kwargs.get("n_epochs", 10)
    rollouts = -(-timesteps // (n_envs * n_steps))
    vec_steps = rollouts * n_steps
    grad_steps = rollouts * epochs * -(-(n_envs * n_steps) // batch)
    if env_kind == "fast":
        env = make_vec_env("ScratchCartPole-v0", n_envs, seed=0)
    else:
        env = sb3_make_vec_env("CartPole-v1", n_envs, seed=0)
    env.reset()
    actions = np.random.default_rng(0).integers(0, 2, (vec_steps, n_envs))
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        for a in actions:
            env.step(a)
        env_time = time.perf_counter() - t0

        policy = ActorCriticPolicy(
            env.observation_space, env.action_space, lambda _: 3e-4, seed=0, **(kwargs.get("policy_kwargs") or {})
        )
        obs = np.random.default_rng(1).standard_normal((n_envs, 4)).astype(np.float32)
        net = policy.rollout_net(n_envs)  # as collect_rollouts runs it
        t0 = time.perf_counter()
        for _ in range(vec_steps):
            net(obs)
        forward_time = time.perf_counter() - t0

        features = np.random.default_rng(2).standard_normal((batch, 4)).astype(np.float32)
        acts = np.random.default_rng(3).integers(0, 2, batch)
        g = np.full(batch, 1.0 / batch, dtype=np.float32)
        g_entropy = g if kwargs.get("ent_coef", 0.0) else None  # as ppo_loss: no entropy backward when ent_coef = 0
        t0 = time.perf_counter()
        for _ in range(grad_steps):
            _, _, _, cache = policy.evaluate_with_cache(features, acts)
            policy.backprop(cache, g, g, g_entropy)
        train_time = time.perf_counter() - t0
    return {"env": env_time, "forward": forward_time, "fwd_bwd": train_time, "vec_steps": vec_steps, "grad_steps": grad_steps}


# --- the report ------------------------------------------------------------------------------------


def med_range(values: list[float], fmt: str = "{:,.0f}") -> str:
    if not values:
        return "n/a"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def against(rev: str, args) -> None:
    """ScratchPPO in this working tree against ScratchPPO at git revision ``rev``, alternating, fresh processes."""
    with tempfile.TemporaryDirectory() as old_tree:
        commit = export_revision(rev, old_tree)
        trees = {"this tree": None, f"at {commit}": old_tree}
        results: dict[tuple, list[dict]] = {}
        for config in CONFIGS.values():
            for seed in range(args.repeats):
                for env_kind in ("dummy", "fast"):
                    for tree, src in trees.items():
                        spec = dict(
                            algo="scratch",
                            env=env_kind,
                            threads=1,
                            config=config,
                            seed=seed,
                            timesteps=args.timesteps,
                            eval_freq=0,
                            src=src,
                        )
                        r = run_worker(spec)
                        results.setdefault((config, env_kind, tree), []).append(r)
                        print(f"{config} {env_kind} seed {seed} {tree}: {r['steps_per_s']:,.0f} steps/s", flush=True)
    lines = [
        f"# ScratchPPO in this tree against ScratchPPO at {commit}",
        "",
        f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}; {args.timesteps:,} steps "
        f"per run, {args.repeats} runs of each, alternating, each in a fresh process; env-steps per second, median "
        "(min-max).",
        f"Command: `python benchmarks/bench_ppo.py --against {rev} --repeats {args.repeats} --timesteps {args.timesteps}`.",
        "",
        f"| config | env | this tree | at {commit} | ratio of medians |",
        "|---|---|---:|---:|---:|",
    ]
    for config_name, config in CONFIGS.items():
        for env_kind in ("dummy", "fast"):
            new, old = ([r["steps_per_s"] for r in results[(config, env_kind, tree)]] for tree in trees)
            lines.append(
                f"| {config_name} | {'DummyVecEnv' if env_kind == 'dummy' else 'fast path'} | {med_range(new)} | "
                f"{med_range(old)} | {statistics.median(new) / statistics.median(old):.2f} |"
            )
    write_report(lines, args.out or str(HERE.parent / "results" / f"ppo_vs_{commit}.md"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--eval-freq", type=int, default=5_000)
    parser.add_argument("--scaling-timesteps", type=int, default=50_000)
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling table")
    parser.add_argument("--out", help="the report (default: results/ppo.md, with --against results/ppo_vs_REV.md)")
    parser.add_argument("--against", metavar="REV", help="time ScratchPPO here against ScratchPPO at git revision REV")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.against:
        against(args.against, args)
        return
    args.out = args.out or str(HERE.parent / "results" / "ppo.md")

    import stable_baselines3
    import torch

    results: dict[tuple[str, str], list[dict]] = {}
    for config in CONFIGS.values():
        for seed in range(args.repeats):
            for runner, (algo, env, threads) in RUNNERS.items():
                spec = dict(
                    algo=algo,
                    env=env,
                    threads=threads,
                    config=config,
                    seed=seed,
                    timesteps=args.timesteps,
                    eval_freq=args.eval_freq,
                )
                r = run_worker(spec)
                results.setdefault((config, runner), []).append(r)
                print(
                    f"{config} seed {seed} {runner}: {r['steps_per_s']:,.0f} steps/s, {r['wall']:.1f} s, "
                    f"475 at {r['to_475']}, {r['peak_mb']:.0f} MB",
                    flush=True,
                )

    lines = [
        "# ScratchPPO vs SB3 PPO: training speed",
        "",
        f"stable-baselines3 {stable_baselines3.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}, {torch.get_num_threads()} torch threads by default; "
        f"{args.timesteps:,} steps per run, {args.repeats} runs of each, alternating, each in a fresh process. "
        "Median (min-max). Time to 475: training time (evaluations excluded) until the mean return of 10 "
        f"deterministic evaluation episodes, run every {args.eval_freq:,} steps, first reaches 475.",
        f"Command: `python benchmarks/bench_ppo.py --repeats {args.repeats} --timesteps {args.timesteps}` (or `make bench`).",
        "",
    ]
    ratio_lines = [
        "| config | comparison | ScratchPPO steps/s | SB3 steps/s | ratio | ratio per run pair (min-max) | target |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for config_name, config in CONFIGS.items():
        lines += [
            f"## {config_name}",
            "",
            "| runner | env-steps/s | wall time (s) | time to 475 (s) | reached 475 | peak memory (MB) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for runner in RUNNERS:
            rs = results[(config, runner)]
            reached = [r["to_475"] for r in rs if r["to_475"] is not None]
            lines.append(
                f"| {runner} | {med_range([r['steps_per_s'] for r in rs])} | "
                f"{med_range([r['wall'] for r in rs], '{:.1f}')} | {med_range(reached, '{:.1f}')} | "
                f"{len(reached)}/{len(rs)} | {med_range([r['peak_mb'] for r in rs])} |"
            )
        lines.append("")
        speed = {runner: statistics.median(r["steps_per_s"] for r in results[(config, runner)]) for runner in RUNNERS}
        # The fast path's target is the floor's (overhead at most 25%, in the floor table below), not a ratio.
        target_a, target_b = (5, None) if config == "zoo" else (8, None)
        for label, ours, ref, target in (
            ("(a) same DummyVecEnv, SB3 at 1 thread", "ScratchPPO", "SB3 PPO, 1 thread", target_a),
            ("(a) same DummyVecEnv, SB3 at default threads", "ScratchPPO", "SB3 PPO, default threads", None),
            ("(b) fast path vs SB3's make_vec_env, 1 thread", "ScratchPPO, fast path", "SB3 PPO, 1 thread", target_b),
            (
                "(b) fast path vs SB3's make_vec_env, default threads",
                "ScratchPPO, fast path",
                "SB3 PPO, default threads",
                None,
            ),
        ):
            ratio = speed[ours] / speed[ref]
            # Run i of each runner ran back to back (alternating): the spread of their ratios is the run-to-run noise.
            pairs = [
                a["steps_per_s"] / b["steps_per_s"]
                for a, b in zip(results[(config, ours)], results[(config, ref)], strict=True)
            ]
            verdict = "" if target is None else f"{target}x: {'met' if ratio >= target else 'NOT met'}"
            ratio_lines.append(
                f"| {config} | {label} | {speed[ours]:,.0f} | {speed[ref]:,.0f} | {ratio:.1f}x | "
                f"{min(pairs):.1f}x-{max(pairs):.1f}x | {verdict} |"
            )

    lines += ["## Ratios (medians)", "", *ratio_lines, ""]

    lines += [
        "## The floor",
        "",
        "The pieces alone, for the same shapes and as many calls as a training run makes: the env step, "
        "the rollout forward (batch n_envs), the training forward+backward (batch batch_size), each the median "
        f"of {args.repeats} measurements; the overhead "
        "is ScratchPPO's median wall time above their sum (PPO loss, Adam, clipping, GAE, minibatches, "
        "rollout storage, SB3's callbacks and logger).",
        "",
        "| config | env | env steps (s) | rollout forward (s) | train fwd+bwd (s) | floor (s) | ScratchPPO (s) "
        "| overhead | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config in CONFIGS.values():
        for env_kind, runner in (("dummy", "ScratchPPO"), ("fast", "ScratchPPO, fast path")):
            # Each piece's median over as many measurements as there were runs: one measurement alone varies by
            # 10-15% between sessions on this machine, as much as the overhead it is compared with.
            samples = [floor(config, args.timesteps, env_kind) for _ in range(args.repeats)]
            f = {piece: statistics.median(s[piece] for s in samples) for piece in ("env", "forward", "fwd_bwd")}
            total = f["env"] + f["forward"] + f["fwd_bwd"]
            wall = statistics.median(r["wall"] for r in results[(config, runner)])
            overhead = 100 * (wall / total - 1)
            target = f"25%: {'met' if overhead <= 25 else 'NOT met'}" if (config, env_kind) == ("zoo", "fast") else ""
            lines.append(
                f"| {config} | {'DummyVecEnv' if env_kind == 'dummy' else 'fast path'} | {f['env']:.2f} | "
                f"{f['forward']:.2f} | {f['fwd_bwd']:.2f} | {total:.2f} | {wall:.2f} | "
                f"{overhead:.0f}% | {target} |"
            )
    lines.append("")

    if args.no_scaling:
        write_report(lines, args.out)
        return
    lines += [
        "## Scaling (zoo config, fast path; SB3 on its make_vec_env at 1 thread, one run each)",
        "",
        f"{args.scaling_timesteps:,} steps per run.",
        "",
        "| n_envs | net width | ScratchPPO steps/s | SB3 steps/s | ratio |",
        "|---:|---:|---:|---:|---:|",
    ]
    for width in (64, 256):
        for n_envs in (8, 64, 512):
            common = dict(config="zoo", seed=0, timesteps=args.scaling_timesteps, eval_freq=0, n_envs=n_envs, width=width)
            ours = run_worker(dict(common, algo="scratch", env="fast", threads=1))["steps_per_s"]
            ref = run_worker(dict(common, algo="sb3", env="dummy", threads=1))["steps_per_s"]
            lines.append(f"| {n_envs} | {width} | {ours:,.0f} | {ref:,.0f} | {ours / ref:.1f}x |")
            print(lines[-1], flush=True)
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
