"""`python -m sb3_scratch_ppo run`: the main job trains an entry of the zoo config, evaluates and saves it."""

import subprocess
import sys

import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecNormalize

from sb3_scratch_ppo import load_checkpoint, zoo

pytestmark = pytest.mark.slow  # minutes of training or subprocesses: `make test-fast` leaves it out


def test_run_trains_evaluates_and_saves_a_gsde_entry(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "sb3_scratch_ppo",
        "run",
        "--env",
        "Pendulum-v1",
        "--timesteps",
        "4096",
        "--eval-episodes",
        "2",
        "--out",
        str(tmp_path / "model"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "use_sde=True" in out.stdout and "Mean evaluation return" in out.stdout
    assert (tmp_path / "model.zip").exists()


def test_run_saves_vecnormalize_statistics_without_pickle(tmp_path):
    """MountainCarContinuous-v0's entry normalizes: the saved file carries the statistics (checkpoint.npz), and
    load_checkpoint puts them into a new VecNormalize."""
    cmd = [
        sys.executable,
        "-m",
        "sb3_scratch_ppo",
        "run",
        "--env",
        "MountainCarContinuous-v0",
        "--timesteps",
        "2000",
        "--eval-episodes",
        "1",
        "--out",
        str(tmp_path / "mcc"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "VecNormalize statistics" in out.stdout
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
