"""Soak: does a long run's memory stay flat? 1e7 steps of the zoo CartPole config on the fast path, resident memory
sampled every 100 iterations; after warm-up (the first 1e6 steps) it must not grow.

    python benchmarks/soak.py                    # writes benchmarks/results/soak.md
    python benchmarks/soak.py --steps 2000000    # shorter

Resident memory is read from /proc/self/status (VmRSS), so this runs on Linux. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sb3_scratch_ppo import ScratchPPO, zoo

RESULTS = Path(__file__).resolve().parent / "results" / "soak.md"
WARM_UP = 1_000_000


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Sampler(BaseCallback):
    def __init__(self, every: int = 100):
        super().__init__()
        self.every, self.iteration, self.samples = every, 0, []

    def _on_rollout_end(self) -> None:
        if self.iteration % self.every == 0:
            self.samples.append((self.num_timesteps, rss_mib(), time.perf_counter()))
        self.iteration += 1

    def _on_step(self) -> bool:
        return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    config = zoo.load("CartPole-v1")
    model = ScratchPPO(config.policy, config.make_env(seed=0, fast=True), seed=0, **config.kwargs)
    sampler = Sampler()
    start = time.perf_counter()
    model.learn(args.steps, callback=sampler)
    wall = time.perf_counter() - start
    steps, rss, _ = (np.array(x) for x in zip(*sampler.samples, strict=True))
    after = steps >= min(WARM_UP, steps[-1] // 2)
    slope = np.polyfit(steps[after] / 1e6, rss[after], 1)[0]  # MiB per million steps, least squares
    growth = rss[after][-1] - rss[after][0]
    lines = [
        "# Soak: resident memory over a long run",
        "",
        f"Command: `python benchmarks/soak.py --steps {args.steps}` (zoo CartPole-v1 config, fast path, 8 envs, "
        f"seed 0); {platform.python_version()}, NumPy {np.__version__}; {wall:.0f} s of training "
        f"({args.steps / wall:,.0f} steps/s, sharing the machine with whatever else ran).",
        "",
        f"After warm-up ({steps[after][0]:,} steps on): resident memory {rss[after][0]:.1f} -> {rss[after][-1]:.1f} MiB "
        f"(change {growth:+.1f} MiB over {steps[after][-1] - steps[after][0]:,} steps; least-squares slope "
        f"{slope:+.3f} MiB per million steps). Peak {rss.max():.1f} MiB.",
        "",
        "| steps | resident MiB |",
        "|---:|---:|",
        *[
            f"| {steps[i]:,} | {rss[i]:.1f} |"
            for i in sorted({*range(0, len(steps), max(1, len(steps) // 20)), len(steps) - 1})
        ],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
