"""rl-baselines3-zoo trains, evaluates and tunes ScratchPPO (`python -m sb3_scratch_ppo zoo-train / zoo-enjoy`).

Every zoo command runs in a subprocess: importing rl_zoo3 patches Gymnasium's TimeLimit for the whole process, and no
other test may see that. This process never imports rl_zoo3: it loads the zoo's models with ScratchPPO.load alone.
"""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.zoo import config as zoo_config
from tests.extras import require

pytestmark = pytest.mark.slow  # minutes of training or subprocesses: `make test-fast` leaves it out


@pytest.fixture(autouse=True)
def _rl_zoo3():
    require("rl_zoo3")  # every test here runs the zoo's own programs


ROOT = Path(__file__).resolve().parent.parent


def zoo(tmp_path: Path, *args: str, module: str = "sb3_scratch_ppo", timeout: int = 900) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def test_rl_zoo3_is_not_imported_here():
    assert "rl_zoo3" not in sys.modules


def test_zoo_train_writes_the_zoos_log_folder_and_zoo_enjoy_replays_it(tmp_path):
    zoo(
        tmp_path,
        "zoo-train",
        "--env",
        "CartPole-v1",
        "--n-timesteps",
        "4096",
        "--seed",
        "3",
        "--eval-freq",
        "1024",
        "--eval-episodes",
        "2",
        "-P",
    )
    run = tmp_path / "logs" / "scratch_ppo" / "CartPole-v1_1"
    for name in (
        "CartPole-v1.zip",
        "best_model.zip",
        "evaluations.npz",
        "0.monitor.csv",
        "CartPole-v1/config.yml",
        "CartPole-v1/args.yml",
        "CartPole-v1/command.txt",
    ):
        assert (run / name).exists(), name
    config = (run / "CartPole-v1" / "config.yml").read_text()
    assert "lin_0.001" in config and "n_steps" in config  # the package's configs/ppo.yml's values
    evaluations = np.load(run / "evaluations.npz")
    assert 1 <= len(evaluations["timesteps"]) and evaluations["results"].shape[1] == 2  # the zoo's EvalCallback ran
    model = ScratchPPO.load(run / "CartPole-v1.zip")  # no rl_zoo3 here: the zoo's lin_ schedule rebuilt from text
    assert model.num_timesteps == 4096 and model.learning_rate(0.5) == 0.0005
    out = zoo(tmp_path, "zoo-enjoy", "--env", "CartPole-v1", "-f", "logs/", "--exp-id", "1", "--no-render", "-n", "300")
    assert "Mean reward" in out and "Episodes" in out


def test_zoo_enjoy_replays_a_dict_observation_agent(tmp_path):
    """A Dict space cannot be rebuilt from the model file alone: zoo-enjoy hands load() the env the zoo made."""
    conf = str(zoo_config.OBSERVATIONS_PATH)
    zoo(
        tmp_path,
        "zoo-train",
        "--env",
        "SimpleMultiObs-v0",
        "--gym-packages",
        "scratch_envs",
        "--conf-file",
        conf,
        "--n-timesteps",
        "512",
        "--seed",
        "0",
    )
    out = zoo(
        tmp_path,
        "zoo-enjoy",
        "--env",
        "SimpleMultiObs-v0",
        "--gym-packages",
        "scratch_envs",
        "-f",
        "logs/",
        "--exp-id",
        "1",
        "--no-render",
        "-n",
        "200",
    )
    assert "Mean reward" in out


def test_the_zoo_saves_vecnormalize_statistics_for_normalized_entries(tmp_path):
    """MountainCarContinuous-v0's entry normalizes (and uses gSDE): the zoo wraps ScratchPPO's env in VecNormalize and
    saves its statistics beside the model, as for SB3's PPO; zoo-enjoy replays with them."""
    zoo(tmp_path, "zoo-train", "--env", "MountainCarContinuous-v0", "--n-timesteps", "1000", "--seed", "0")
    run = tmp_path / "logs/scratch_ppo/MountainCarContinuous-v0_1"
    assert (run / "MountainCarContinuous-v0" / "vecnormalize.pkl").exists()
    assert ScratchPPO.load(run / "MountainCarContinuous-v0.zip").use_sde
    out = zoo(
        tmp_path, "zoo-enjoy", "--env", "MountainCarContinuous-v0", "-f", "logs/", "--exp-id", "1", "--no-render", "-n", "1000"
    )
    assert "Mean reward" in out


def test_the_zoo_optimizes_scratch_ppo(tmp_path):
    out = zoo(
        tmp_path,
        "zoo-train",
        "--env",
        "CartPole-v1",
        "-optimize",
        "--n-trials",
        "2",
        "--n-timesteps",
        "2048",
        "--eval-episodes",
        "2",
        "--n-evaluations",
        "1",
        "--sampler",
        "random",
        "--pruner",
        "none",
        "--seed",
        "0",
    )
    assert re.search(r"Number of finished trials:\s+2\n", out)
    [report] = (tmp_path / "logs" / "scratch_ppo").glob("report_CartPole-v1_2-trials-*.csv")
    with open(report) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(row["state"] == "COMPLETE" for row in rows)


def test_scratch_cartpole_through_gym_packages(tmp_path):
    zoo(
        tmp_path,
        "zoo-train",
        "--env",
        "ScratchCartPole-v0",
        "--gym-packages",
        "scratch_envs",
        "--n-timesteps",
        "2048",
        "--seed",
        "1",
    )
    assert ScratchPPO.load(tmp_path / "logs/scratch_ppo/ScratchCartPole-v0_1/ScratchCartPole-v0.zip").num_timesteps == 2048


@pytest.mark.parametrize("override", ["sb3_scratch_ppo.zoo.override", "sb3_scratch_ppo.zoo_override"])
def test_the_stock_cli_with_the_override_module(tmp_path, override):
    """`python -m rl_zoo3.train --algo ppo --gym-packages sb3_scratch_ppo.zoo.override` trains ScratchPPO, filed
    under ppo; the module's name before the zoo wing became a folder works too."""
    out = zoo(
        tmp_path,
        "--algo",
        "ppo",
        "--env",
        "CartPole-v1",
        "--gym-packages",
        override,
        "--n-timesteps",
        "1024",
        "--seed",
        "1",
        module="rl_zoo3.train",
    )
    assert "--algo ppo is ScratchPPO in this run" in out
    assert ScratchPPO.load(tmp_path / "logs/ppo/CartPole-v1_1/CartPole-v1.zip").num_timesteps == 1024


@pytest.mark.parametrize("algo", ["sac", "dqn"])
def test_other_algorithms_are_sent_to_the_zoo(tmp_path, algo):
    out = subprocess.run(
        [sys.executable, "-m", "sb3_scratch_ppo", "zoo-train", "--algo", algo],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0 and f"for --algo {algo} use python -m rl_zoo3.train" in out.stderr


def test_the_zoo_trained_cartpole_agent_reaches_500(tmp_path):
    """The zoo's whole CartPole run (1e5 steps, 8 envs, the package's configs/ppo.yml) through the zoo's trainer."""
    zoo(tmp_path, "zoo-train", "--env", "CartPole-v1", "--seed", "0", "--eval-freq", "-1")
    model = ScratchPPO.load(tmp_path / "logs/scratch_ppo/CartPole-v1_1/CartPole-v1.zip")
    assert model.num_timesteps >= 100_000
    returns, _ = evaluate_policy(
        model,
        make_vec_env("CartPole-v1", n_envs=1, seed=1000),
        n_eval_episodes=10,
        deterministic=True,
        return_episode_rewards=True,
    )
    assert np.mean(returns) == 500.0, returns
