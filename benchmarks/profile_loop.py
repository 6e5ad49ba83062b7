"""Where ScratchPPO's loop spends its time above the floor: each piece alone, then the training step in the loop
against the floor's forward+backward, interleaved.

    python benchmarks/profile_loop.py [--config zoo|defaults] [--reps 40]

Each piece alone: the best of 5 timings of many calls (per minibatch: the epoch's shuffle and gather, the PPO loss's
arithmetic without the network, the network's forward and backward, gradient clipping, Adam; per env step: the
observation's copy and check, the NaN check of the env's output, the storage writes, SB3's callback hooks). Then,
interleaved --reps times, 20 grad steps of: the floor (forward+backward on one fixed minibatch) and the real step (a new
minibatch, the loss, backward, clipping, Adam): the difference is what the pieces cost inside the loop.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import timeit

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("zoo", "defaults"), default="zoo")
    parser.add_argument("--reps", type=int, default=40, help="interleaved repetitions of the in-loop comparison")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from stable_baselines3.common.callbacks import ConvertCallback
    from stable_baselines3.common.env_util import make_vec_env
    from threadpoolctl import threadpool_limits

    from sb3_scratch_ppo import ScratchPPO, zoo
    from sb3_scratch_ppo.checks import check_env_data
    from sb3_scratch_ppo.loss import ppo_loss
    from sb3_scratch_ppo.optimizer import clip_grad_norm_

    n_envs, kwargs = (8, dict(zoo.load("CartPole-v1").kwargs)) if args.config == "zoo" else (1, {})
    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    model = ScratchPPO("MlpPolicy", env, seed=0, **kwargs)
    with threadpool_limits(1, "blas"):
        model.learn(5_000)
    policy, storage, batch = model.policy, model.rollout_buffer, model.batch_size
    data = next(storage.minibatches(batch))
    evaluated = policy.evaluate_with_cache(data.observations, data.actions)
    g = np.full(len(data.actions), 1.0 / len(data.actions), dtype=np.float32)

    def loss_arithmetic():  # the loss and its gradient down to dL/dV, dL/dlog_prob, without the network
        forward, backward = policy.evaluate_with_cache, policy.backprop
        policy.evaluate_with_cache, policy.backprop = (lambda x, a: evaluated), (lambda *a: None)
        try:
            ppo_loss(policy, data, 0.2, None, 0.0, 0.5, True).backprop()
        finally:
            policy.evaluate_with_cache, policy.backprop = forward, backward

    obs, rewards, dones = model._last_obs, np.zeros(n_envs, np.float32), np.zeros(n_envs, bool)
    actions, values, log_probs = policy.rollout_net(n_envs)(policy.preprocess(obs))
    callback = ConvertCallback(None)
    callback.init_callback(model)
    per_minibatch = {
        "shuffle and gather (per epoch / minibatches)": lambda: list(storage.minibatches(batch)),
        "PPO loss arithmetic": loss_arithmetic,
        "forward (evaluate_with_cache)": lambda: policy.evaluate_with_cache(data.observations, data.actions),
        "backward (policy.backprop)": lambda: policy.backprop(evaluated[3], g, g, None),
        "clip_grad_norm_": lambda: clip_grad_norm_(policy.grads, np.inf),
        "Adam.step": policy.optimizer.step,
    }
    per_step = {
        "observation copy and check (preprocess)": lambda: policy.preprocess(obs, out=storage.observation_row(0)),
        "check_env_data": lambda: check_env_data(obs, rewards, 1),
        "storage.add": lambda: storage.add(0, actions, rewards, dones, values, log_probs),
        # collect_rollouts hands the callback its locals() (about 20 names) every step, as SB3's does
        "SB3 callback hooks": lambda: (callback.update_locals(dict.fromkeys("abcdefghijklmnopqrst")), callback.on_step()),
    }
    print(f"{args.config} config: {n_envs} envs, batch {batch}; each piece alone (best of 5):")
    with threadpool_limits(1, "blas"):
        for title, pieces in (("per minibatch", per_minibatch), ("per env step", per_step)):
            print(f"  {title}:")
            for name, fn in pieces.items():
                best = min(timeit.repeat(fn, number=2000, repeat=5)) / 2000
                print(f"    {name:45s} {best * 1e6:7.1f} us")

        features, acts = data.observations.copy(), data.actions.copy()

        def floor():
            for _ in range(20):
                policy.backprop(policy.evaluate_with_cache(features, acts)[3], g, g, None)

        # epoch after epoch of minibatches, as train() walks them (one shuffle per epoch, not per grad step)
        minibatch_stream = itertools.chain.from_iterable(storage.minibatches(batch) for _ in itertools.count())

        def real():
            for _ in range(20):
                terms = ppo_loss(policy, next(minibatch_stream), 0.2, None, 0.0, 0.5, True)
                terms.backprop()
                clip_grad_norm_(policy.grads, 0.5)
                policy.optimizer.step()

        times = {"floor (forward+backward, fixed data)": [], "real step (+ minibatch, loss, clip, Adam)": []}
        for _ in range(args.reps):
            for samples, fn in zip(times.values(), (floor, real), strict=True):
                start = time.process_time()
                fn()
                samples.append((time.process_time() - start) / 20)
    print(f"  in the loop, per grad step (median of {args.reps} x 20, CPU time):")
    for name, samples in times.items():
        print(f"    {name:45s} {statistics.median(samples) * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
