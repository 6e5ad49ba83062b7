"""Steps per second of ScratchCartPole-v0 against Gymnasium's CartPole-v1, measured side by side.

Single env: both through gymnasium.make (same wrappers). Vectorized: both through
gymnasium.make_vec(..., vectorization_mode="vector_entry_point") for N = 8, 256, 4096.
Runs alternate A B A B; the table gives the median of the repeats and the ratio.

    python benchmarks/bench_cartpole_env.py [--repeats 5] [--out benchmarks/results/cartpole_env.md]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import gymnasium as gym
import numpy as np
from bench_report import write_report

import scratch_envs  # noqa: F401


def single_env_rate(env_id: str, n_steps: int) -> float:
    env = gym.make(env_id)
    actions = np.random.default_rng(0).integers(0, 2, size=n_steps).tolist()
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return n_steps / (time.perf_counter() - start)


def vector_env_rate(env_id: str, num_envs: int, n_steps: int) -> float:
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    actions = np.random.default_rng(0).integers(0, 2, size=(n_steps, num_envs))
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return n_steps * num_envs / (time.perf_counter() - start)


def measure(fn, repeats: int) -> dict[str, float]:
    """Alternate ours and the reference `repeats` times; median steps/s of each."""
    rates = {"ScratchCartPole-v0": [], "CartPole-v1": []}
    for _ in range(repeats):
        for env_id in rates:
            rates[env_id].append(fn(env_id))
    return {k: statistics.median(v) for k, v in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/cartpole_env.md")
    args = parser.parse_args()

    cases = [("single env", lambda env_id: single_env_rate(env_id, 20_000))]
    for n, steps in [(8, 5_000), (256, 1_000), (4096, 200)]:
        cases.append((f"vector, N={n}", lambda env_id, n=n, steps=steps: vector_env_rate(env_id, n, steps)))

    lines = [
        "# ScratchCartPole-v0 vs CartPole-v1: env steps per second",
        "",
        f"gymnasium {gym.__version__}, numpy {np.__version__}, Python {platform.python_version()}, "
        f"median of {args.repeats} alternating runs.",
        "",
        "| case | ScratchCartPole-v0 (steps/s) | CartPole-v1 (steps/s) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, fn in cases:
        r = measure(fn, args.repeats)
        ours, ref = r["ScratchCartPole-v0"], r["CartPole-v1"]
        lines.append(f"| {name} | {ours:,.0f} | {ref:,.0f} | {ours / ref:.2f}x |")
        print(lines[-1], flush=True)
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
