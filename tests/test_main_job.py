"""`python -m sb3_scratch_ppo run`: the main job trains an entry of the zoo config, evaluates and saves it."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecNormalize

from sb3_scratch_ppo import load_checkpoint, zoo

pytestmark = pytest.mark.slow  # minutes of training or subprocesses: `make test-fast` leaves it out


def main_job(env_id: str, timesteps: int, eval_episodes: int, out: Path) -> str:
    """`python -m sb3_scratch_ppo run` on one zoo entry, in a fresh interpreter; its output."""
    args = ["--env", env_id, "--timesteps", str(timesteps), "--eval-episodes", str(eval_episodes), "--out", str(out)]
    done = subprocess.run([sys.executable, "-m", "sb3_scratch_ppo", "run", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_run_trains_evaluates_and_saves_a_gsde_entry(tmp_path):
    out = main_job("Pendulum-v1", 4096, 2, tmp_path / "model")
    assert "use_sde=True" in out and "Mean evaluation return" in out
    assert (tmp_path / "model.zip").exists()


def test_run_saves_vecnormalize_statistics_without_pickle(tmp_path):
    """MountainCarContinuous-v0's entry normalizes: the saved file carries the statistics (checkpoint.npz), and
    load_checkpoint puts them into a new VecNormalize."""
    assert "VecNormalize statistics" in main_job("MountainCarContinuous-v0", 2000, 1, tmp_path / "mcc")
    env = zoo.load("MountainCarContinuous-v0").make_env(seed=5)
    model = load_checkpoint(tmp_path / "mcc.zip", env=env)
    assert model.num_timesteps >= 2000 and env.obs_rms.count > 2000 and np.all(env.obs_rms.var != 1)


def test_normalized_entries_are_evaluated_with_the_training_statistics():
    config = zoo.load("MountainCarContinuous-v0")
    train_env = config.make_env(seed=0)
    train_env.reset()
    for _ in range(50):
        train_env.step(np.array([[train_env.action_space.sample()[0]]]))
    env = config.make_eval_env(train_env, seed=1)
    assert isinstance(env, VecNormalize) and not env.training and not env.norm_reward
    assert env.obs_rms is train_env.obs_rms and env.obs_rms.count > 50
    assert not isinstance(zoo.load("CartPole-v1").make_eval_env(None, seed=1), VecNormalize)
