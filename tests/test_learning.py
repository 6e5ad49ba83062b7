"""ScratchPPO learns CartPole-v1 with the zoo's tuned values: mean evaluation return >= 475 within 1e5 steps on most seeds.

Runtime: about 7 s per seed; 5 seeds in 2 worker processes, about 20 s.
"""

from concurrent.futures import ProcessPoolExecutor

import numpy as np

N_SEEDS = 5


def train_and_evaluate(seed: int) -> float:
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    from sb3_scratch_ppo import ScratchPPO, zoo

    config = zoo.load("CartPole-v1")
    model = ScratchPPO(config.policy, config.make_env(seed=seed), seed=seed, **config.kwargs).learn(config.n_timesteps)
    eval_env = Monitor(gym.make("CartPole-v1"))
    eval_env.reset(seed=10_000 + seed)
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    return mean


def test_zoo_cartpole_reaches_475_on_most_seeds():
    with ProcessPoolExecutor(max_workers=2) as pool:
        returns = list(pool.map(train_and_evaluate, range(N_SEEDS)))
    print("mean evaluation returns per seed:", returns)
    assert sum(r >= 475 for r in returns) >= 4, returns
    assert np.median(returns) >= 475
