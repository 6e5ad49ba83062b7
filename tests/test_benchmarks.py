"""The benchmarks run and report what they promise (tiny settings: this checks the script, it times nothing)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.extras import require

pytestmark = pytest.mark.slow  # minutes of training or subprocesses: `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parent.parent


def test_bench_ppo_runs_and_reports(tmp_path):
    out = tmp_path / "ppo.md"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_ppo.py"),
            "--repeats",
            "1",
            "--timesteps",
            "512",
            "--eval-freq",
            "256",
            "--no-scaling",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    report = out.read_text()
    for runner in ("SB3 PPO, 1 thread", "SB3 PPO, default threads", "ScratchPPO", "ScratchPPO, fast path"):
        assert report.count(f"| {runner} |") == 2, runner  # one row per config
    assert report.count("| zoo | (") == 4 and report.count("| defaults | (") == 4
    assert "## The floor" in report and report.count("%") >= 4
    assert report.count("| 25%: ") == 1  # the fast path's target, in the floor table (zoo config only)
    assert report.count("x-") == 8  # every ratio row gives the spread of its run pairs


def test_bench_ppo_against_a_revision_imports_that_revision(tmp_path):
    """--against exports the revision and its workers import the package from there (the worker asserts it)."""
    out = tmp_path / "vs.md"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_ppo.py"),
            "--against",
            "HEAD",
            "--repeats",
            "1",
            "--timesteps",
            "256",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    report = out.read_text()
    assert report.count("| DummyVecEnv |") == 2 and report.count("| fast path |") == 2
    assert "| this tree | at " in report


def test_fingerprints_are_reproducible_and_compare_revisions():
    """The same code trains to the same hash in two fresh processes; --against prints both trees' hashes."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "fingerprint.py"), "--cases", "multidiscrete"]
    first, second = (subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout for _ in range(2))
    assert first == second and first.startswith("multidiscrete ")
    out = subprocess.run([*cmd, "--against", "HEAD"], capture_output=True, text=True, timeout=600)
    row = out.stdout.splitlines()[-1].split()
    assert row[0] == "multidiscrete" and len(row[1]) == len(row[2]) == 16 and row[3] in ("identical", "DIFFERENT")
    assert out.returncode == (0 if row[3] == "identical" else 1)


def test_bench_cnn_runs_and_reports(tmp_path):
    out = tmp_path / "cnn.md"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_cnn.py"), "--repeats", "1", "--batch", "2", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    report = out.read_text()
    assert "| ours |" in report and "| torch, 1 thread |" in report and "batch 2 x 4 x 84 x 84" in report


def bench_configs_rows(tmp_path, *env_ids: str) -> list[list[str]]:
    out = tmp_path / "configs.md"
    script = str(ROOT / "benchmarks" / "bench_configs.py")
    subprocess.run(
        [sys.executable, script, "--repeats", "1", "--timesteps", "256", "--env", *env_ids, "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    rows = [line.split("|")[1:-1] for line in out.read_text().splitlines() if line.startswith("| ") and "x |" in line]
    assert [r[0].strip() for r in rows] == list(env_ids)
    for r in rows:
        sb3, ours = (float(r[i].replace(",", "")) for i in (4, 5))
        assert sb3 > 0 and ours > 0 and abs(float(r[6].strip()[:-1]) - ours / sb3) < 0.06  # from unrounded medians
        assert all(0 <= int(r[i].strip().rstrip("%")) <= 100 for i in (7, 8))
    return rows


def test_bench_configs_runs_and_reports(tmp_path):
    """One row per entry asked for, both learners' speeds and env shares (a discrete and a VecNormalize'd Box entry)."""
    bench_configs_rows(tmp_path, "CartPole-v1", "MountainCarContinuous-v0")


def test_bench_configs_covers_the_mujoco_entries(tmp_path):
    """The zoo's MuJoCo entries are benchmarked too (one, the cheapest, here: its config path, not its speed)."""
    require("mujoco")
    [row] = bench_configs_rows(tmp_path, "Swimmer-v4")
    assert row[1].strip() == "MlpPolicy"


def test_profile_loop_reports_every_piece():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "profile_loop.py"), "--config", "defaults", "--reps", "2"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    for piece in (
        "shuffle and gather",
        "PPO loss arithmetic",
        "Adam.step",
        "check_env_data",
        "storage.add",
        "SB3 callback hooks",
        "floor (forward+backward",
        "real step",
    ):
        line = next(line for line in out.splitlines() if piece in line)
        assert float(line.split()[-2]) > 0, line
