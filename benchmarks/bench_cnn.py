"""NatureCNN's forward + backward on a 256 x 4 x 84 x 84 uint8 batch (one Atari minibatch): ours in NumPy against
SB3's torch module, torch at one thread and at its default threads.

Each timed call is what one PPO minibatch costs the extractor: the frames divided by 255, the forward pass, and the
backward pass from a gradient on the 512 features to every parameter (not to the frames, which nobody needs).
Calls alternate ours / torch(1) / torch(default), after a warm-up; the table gives the median of the repeats.

    python benchmarks/bench_cnn.py [--repeats 7] [--batch 256] [--out benchmarks/results/cnn.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections import OrderedDict

import numpy as np
import torch
from bench_report import write_report
from gymnasium import spaces
from stable_baselines3.common.torch_layers import NatureCNN as SB3NatureCNN
from threadpoolctl import threadpool_limits

from sb3_scratch_ppo.nn.extractors import NatureCNN
from sb3_scratch_ppo.nn.layers import FlatParameters


def ours_step(cnn: NatureCNN, obs: np.ndarray, g: np.ndarray) -> None:
    cache: list = []
    cnn.forward(obs, cache)
    cnn.backprop(g, cache)


def torch_step(cnn: torch.nn.Module, obs: torch.Tensor, g: torch.Tensor) -> None:
    cnn.zero_grad(set_to_none=True)
    features = cnn(obs.float() / 255.0)
    features.backward(g)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", default="benchmarks/results/cnn.md")
    args = parser.parse_args()

    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (args.batch, 4, 84, 84), dtype=np.uint8)
    g = rng.standard_normal((args.batch, 512)).astype(np.float32)

    torch.manual_seed(0)
    ref = SB3NatureCNN(space, 512)
    ours = NatureCNN(space, 512)
    params = FlatParameters(OrderedDict(ours.parameter_shapes("features_extractor")), np.float32)
    for name, value in ref.state_dict().items():
        params.views[f"features_extractor.{name}"][:] = value.numpy()
    ours.bind(params, "features_extractor")
    obs_t, g_t = torch.from_numpy(obs), torch.from_numpy(g)

    default_threads = torch.get_num_threads()
    times: dict[str, list[float]] = {"ours": [], "torch, 1 thread": [], f"torch, {default_threads} threads": []}

    def torch_at(threads: int) -> float:
        torch.set_num_threads(threads)
        return timed(torch_step, ref, obs_t, g_t)

    with threadpool_limits(1, user_api="blas"):  # as ScratchPPO.learn runs it
        for repeat in range(args.repeats + 1):  # the first round warms up and is dropped
            samples = (timed(ours_step, ours, obs, g), torch_at(1), torch_at(default_threads))
            if repeat:
                for key, seconds in zip(times, samples, strict=True):
                    times[key].append(seconds)

    median = {key: statistics.median(ts) for key, ts in times.items()}
    lines = [
        f"# NatureCNN forward + backward, batch {args.batch} x 4 x 84 x 84 uint8",
        "",
        f"`python benchmarks/bench_cnn.py --repeats {args.repeats} --batch {args.batch}`; median of {args.repeats} "
        f"alternating repeats on {platform.processor() or platform.machine()}, {os.cpu_count()} cores; NumPy "
        f"{np.__version__} (BLAS at one thread, as in `learn()`), torch {torch.__version__}.",
        "",
        "| implementation | seconds per minibatch | ours / this (>1: ours slower) |",
        "|---|---:|---:|",
    ]
    for key, seconds in median.items():
        lines.append(f"| {key} | {seconds:.3f} | {median['ours'] / seconds:.2f} |")
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
