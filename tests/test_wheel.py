"""Installed the way users install it: a wheel built from this tree, installed (not editable) into a fresh virtual
environment with the CPU build of torch first, then run from a folder outside the checkout: the main job (console
script and ``python -m``), a training from a zoo config read from the package's own data, and a save/load round trip.
Nothing may come from the source tree: the test checks where the package is imported from."""

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"  # as the Makefile: the CPU build first, or pip resolves the CUDA one

pytestmark = pytest.mark.slow


def run(cmd: list[str], cwd: Path, timeout: int = 900) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)], out)
    [wheel] = out.glob("sb3_scratch_ppo-*.whl")
    return wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    folder = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(folder)], folder)
    python = folder / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", TORCH], folder)
    run([str(python), "-m", "pip", "install", "-q", str(wheel)], folder)
    return folder


def test_the_wheel_holds_the_configs_the_envs_and_the_license(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for name in (
        "sb3_scratch_ppo/zoo/configs/ppo.yml",
        "sb3_scratch_ppo/zoo/configs/atari.yml",
        "sb3_scratch_ppo/zoo/configs/observations.yml",
        "sb3_scratch_ppo/zoo/configs/mujoco.yml",
        "sb3_scratch_ppo/zoo/configs/maskable.yml",
        "sb3_scratch_ppo/py.typed",
        "scratch_envs/cartpole.py",
        "scratch_envs/cartpole_vector.py",
        "scratch_envs/masked.py",
        "sb3_scratch_ppo/nn/layers.py",
        "sb3_scratch_ppo/parity/stats.py",
    ):
        assert name in names, name
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)
    assert any(n.endswith("LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/", "zoo_configs/", "envs/")) for n in names)


def test_the_main_job_runs_from_a_wheel_install_outside_the_checkout(venv, tmp_path):
    python, script = venv / "bin" / "python", venv / "bin" / "sb3-scratch-ppo"
    where = run(
        [
            str(python),
            "-c",
            "import sb3_scratch_ppo, scratch_envs; print(sb3_scratch_ppo.__file__); print(scratch_envs.__file__)",
        ],
        tmp_path,
    )
    assert str(ROOT) not in where and where.count(str(venv)) == 2, where  # the installed copy, not this tree
    for cmd in ([str(script)], [str(python), "-m", "sb3_scratch_ppo"]):
        out = run([*cmd, "run", "--timesteps", "1024", "--eval-episodes", "2", "--out", "model"], tmp_path)
        assert "Mean evaluation return" in out and "n_steps=32, batch_size=256" in out, out
        assert (tmp_path / "model.zip").is_file()
    assert "--max-seeds" in run([str(script), "parity", "--help"], tmp_path)


def test_a_zoo_config_trains_and_a_model_round_trips_from_a_wheel_install(venv, tmp_path):
    code = textwrap.dedent("""
        import numpy as np
        from sb3_scratch_ppo import ScratchPPO, zoo

        config = zoo.load("Pendulum-v1")  # gSDE, 4 envs: read from the installed package's data
        assert config.kwargs["use_sde"] and config.n_envs == 4, config
        model = ScratchPPO(config.policy, config.make_env(seed=0), seed=0, **config.kwargs).learn(4 * 1024)
        model.save("pendulum")
        loaded = ScratchPPO.load("pendulum", env=config.make_env(seed=1))
        np.testing.assert_array_equal(loaded.policy.params, model.policy.params)
        obs = loaded.env.reset()
        np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
        print("round trip ok", model.num_timesteps)
    """)
    out = run([str(venv / "bin" / "python"), "-c", code], tmp_path)
    assert "round trip ok 4096" in out, out
