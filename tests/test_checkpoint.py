"""Exact resume (sb3_scratch_ppo/checkpoint.py): training killed with SIGKILL and resumed in a new process from its
last checkpoint ends with the weights of an uninterrupted run, bit for bit, on the fast path. The kill comes from
inside the process at a point drawn by a seeded generator and printed (mid-rollout, mid-update, or mid-write of a
checkpoint), so it does not depend on the machine's speed and a failure replays."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_scratch_ppo import ResumableCheckpointCallback, ScratchPPO, latest, load_checkpoint, zoo
from sb3_scratch_ppo.checkpoint import checkpoints
from sb3_scratch_ppo.files import model_file

TOTAL = 30_000
SCRIPT = textwrap.dedent("""
    import itertools
    import os
    import signal
    import sys
    import numpy as np
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList
    from stable_baselines3.common.vec_env import VecNormalize
    from sb3_scratch_ppo import ResumableCheckpointCallback, ScratchPPO, latest, load_checkpoint, zoo

    mode, folder, total, normalize = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    kill_where, kill_at = (sys.argv[5].split(":") + ["0"])[:2] if len(sys.argv) > 5 else ("", "0")
    kill_at = int(kill_at)
    config = zoo.load("CartPole-v1")

    def make():
        env = config.make_env(seed=0, fast=True)  # the fast path: 8 envs in one vectorized CartPole
        return VecNormalize(env, gamma=config.kwargs["gamma"]) if normalize else env

    if mode == "resume":
        model = load_checkpoint(latest(folder), env=make())
        print("resumed at", model.num_timesteps, flush=True)
        model.learn(total - model.num_timesteps, reset_num_timesteps=False)
    else:
        model = ScratchPPO(config.policy, make(), seed=0, **config.kwargs)
        callbacks = [ResumableCheckpointCallback(2_048, folder)] if mode == "run" else []
        if kill_where == "rollout":  # at env step kill_at, between two steps of a rollout
            class Kill(BaseCallback):
                def _on_step(self):
                    if self.num_timesteps >= kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return True
            callbacks.append(Kill())
        elif kill_where == "update":  # before the kill_at-th Adam step, in the middle of an update
            step, count = model.policy.optimizer.step, itertools.count(1)
            model.policy.optimizer.step = lambda: os.kill(os.getpid(), signal.SIGKILL) if next(count) == kill_at else step()
        elif kill_where == "write":  # the kill_at-th checkpoint written to its temporary file, not yet renamed
            replace, count = os.replace, itertools.count(1)
            os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL) if next(count) == kill_at else replace(*a)
        model.learn(total, callback=CallbackList(callbacks))
    np.save(f"{folder}/{mode}.npy", model.policy.params)
""")


def python(tmp_path: Path, *args: str, **kwargs) -> subprocess.Popen:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.Popen(
        [sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs
    )


def kill_point(where: str, seed: int) -> str:
    """Where the run kills itself, after its first checkpoint (2,048 steps: 8 rollouts of 256, 20 Adam steps each), at
    a seeded draw: an env step, the Adam step it dies before, or which checkpoint (2nd to 12th) dies unrenamed."""
    rng = np.random.default_rng(seed)
    low, high = {"rollout": (2_100, TOTAL - 256), "update": (170, TOTAL // 256 * 20 - 20), "write": (2, 13)}[where]
    return f"{where}:{rng.integers(low, high)}"


@pytest.mark.slow
@pytest.mark.parametrize("normalize, where", [(False, "rollout"), (True, "update"), (False, "write"), (True, "write")])
def test_killed_training_resumes_to_the_same_weights(tmp_path, normalize, where):
    flag, kill = ("1" if normalize else "0"), kill_point(where, seed=int(normalize))
    full = python(tmp_path, "full", str(tmp_path), str(TOTAL), flag)
    run = python(tmp_path, "run", str(tmp_path), str(TOTAL), flag, kill)
    run.wait(timeout=600)
    assert run.returncode == -signal.SIGKILL, f"{kill}: {run.stdout.read()}"  # it died where it was told to
    assert checkpoints(tmp_path), run.stdout.read()
    resumed = python(tmp_path, "resume", str(tmp_path), str(TOTAL), flag)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert full.wait(timeout=600) == 0, full.stdout.read()
    at = int(out.split("resumed at ")[1].split()[0])
    assert 0 < at < TOTAL, kill
    np.testing.assert_array_equal(np.load(tmp_path / "resume.npy"), np.load(tmp_path / "full.npy"), err_msg=kill)


def test_a_checkpoint_is_a_model_file_without_pickles(tmp_path):
    """Beside the model zip's members, the checkpoint's own are JSON and an npz read with allow_pickle=False;
    ScratchPPO.load reads the checkpoint as a plain model."""
    config = zoo.load("CartPole-v1")
    model = ScratchPPO(config.policy, config.make_env(seed=0, fast=True), seed=0, **config.kwargs)
    model.learn(2_000, callback=ResumableCheckpointCallback(512, tmp_path, keep=2))
    kept = checkpoints(tmp_path)
    assert [p.name for p in kept] == ["checkpoint_1536_steps.zip", "checkpoint_2048_steps.zip"]
    with zipfile.ZipFile(kept[-1]) as z:
        assert {"data", "policy.pth", "checkpoint.json", "checkpoint.npz"} <= set(z.namelist())
        state = json.loads(z.read("checkpoint.json"))
        assert state["format"] == 1 and state["env"]["vector_env"]["state"] == {"__array__": "/env/vector_env/state"}
    assert ScratchPPO.load(kept[-1]).num_timesteps == 2048
    with pytest.raises(model_file.ModelFileError, match="a model file, not a checkpoint"):
        model.save(tmp_path / "plain.zip")
        load_checkpoint(tmp_path / "plain.zip")


def test_an_env_without_state_is_reset_with_a_warning(tmp_path):
    """SB3's DummyVecEnv cannot give its envs' state: the resumed run keeps weights, optimizer and generators,
    and says that the env starts new episodes."""

    class Stop(BaseCallback):
        def _on_step(self):
            return self.num_timesteps < 1_000

    make = lambda: sb3_make_vec_env("CartPole-v1", n_envs=2, seed=0)  # noqa: E731
    model = ScratchPPO("MlpPolicy", make(), n_steps=128, batch_size=64, seed=0)
    model.learn(4_000, callback=CallbackList([ResumableCheckpointCallback(256, tmp_path), Stop()]))
    with pytest.warns(UserWarning, match=r"cannot save and restore its state \(DummyVecEnv\), so it is reset"):
        resumed = load_checkpoint(latest(tmp_path), env=make())
    assert resumed._last_obs is None and resumed.num_timesteps == 768  # the rollout stopped at 1000 began at 768
    resumed.learn(4_000 - resumed.num_timesteps, reset_num_timesteps=False)
    assert resumed.num_timesteps == 4096


def test_resuming_with_another_kind_of_env_is_refused(tmp_path):
    config = zoo.load("CartPole-v1")
    model = ScratchPPO(config.policy, config.make_env(seed=0, fast=True), seed=0, **config.kwargs)
    model.learn(600, callback=ResumableCheckpointCallback(256, tmp_path))
    with pytest.raises(ValueError, match="was not taken with VecNormalize"):
        load_checkpoint(latest(tmp_path), env=VecNormalize(config.make_env(seed=0, fast=True)))
