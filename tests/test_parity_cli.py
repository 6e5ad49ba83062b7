"""`python -m sb3_scratch_ppo parity` end to end on tiny runs: table, Markdown report, PNG plot, extendable results."""

import json
import subprocess
import sys

import pytest

from sb3_scratch_ppo import zoo
from tests.extras import require

pytestmark = pytest.mark.slow  # minutes of training or subprocesses: `make test-fast` leaves it out


def parity(tmp_path, *args):
    cmd = [
        sys.executable,
        "-m",
        "sb3_scratch_ppo",
        "parity",
        "--timesteps",
        "1024",
        "--workers",
        "2",
        "--results",
        str(tmp_path / "results.json"),
        "--report",
        str(tmp_path / "report.md"),
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_cli_writes_table_report_plot_and_extends_results(tmp_path):
    config = zoo.DEFAULT_PATH.read_text()
    cartpole = config[config.index("CartPole-v1:") : config.index("# ScratchCartPole-v0")]
    (tmp_path / "ppo.yml").write_text(cartpole + cartpole.replace("CartPole-v1:", "NoSuchEnv-v0:"))
    out = parity(tmp_path, "--config", str(tmp_path / "ppo.yml"), "--env", "NoSuchEnv-v0", "CartPole-v1", "--seeds", "2")
    assert "NoSuchEnv-v0: cannot run: the environment cannot be created here" in out
    for text in (
        "CartPole-v1: 2 SB3 runs, 2 ScratchPPO runs, 1,024 steps each",
        "90% CI of diff",
        "control auc",
        "solved (>= 475)",
        "=> ScratchPPO vs SB3 on CartPole-v1",
        "| CartPole-v1 | 2 / 2 |",
    ):
        assert text in out
    report = (tmp_path / "report.md").read_text()
    assert "![CartPole-v1 learning curves](parity_CartPole-v1.png)" in report and "## How to read this" in report
    assert "Not run: NoSuchEnv-v0: the environment cannot be created here" in report
    summary = report.split("## CartPole-v1")[0]  # the summary table opens the report, one row per env
    assert "| env | seeds (SB3 / ours) |" in summary and "| CartPole-v1 | 2 / 2 |" in summary
    assert "Seeds whose final evaluation reaches the reward threshold (475)" in report
    assert "x SB3's steps per CPU second" in report  # new runs record their CPU time
    assert (tmp_path / "parity_CartPole-v1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    expected = [(name, s) for name in ("control", "sb3", "scratch") for s in (0, 1)]
    assert sorted((r["learner"], r["seed"]) for r in runs) == expected

    out = parity(tmp_path, "--env", "CartPole-v1", "--seeds", "3", "--no-control")  # extends: only seed 2 runs
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert len(runs) == 8 and "3 SB3 runs, 3 ScratchPPO runs" in out


def _runs(learner, finals, sps):
    from sb3_scratch_ppo import parity

    return [
        parity.Run(
            "MountainCarContinuous-v0", learner, seed, 20_000, [20_000], [final], final, [final], 1.0, steps_per_second=sps
        )
        for seed, final in enumerate(finals)
    ]


def test_success_rate_and_speed_in_the_analysis():
    """Bimodal outcomes: the share of seeds reaching the threshold (90 here) tells a learner that solves half as
    often apart; the speed ratio is the ratio of the medians of the recorded steps per second."""
    from sb3_scratch_ppo import parity

    solves_always, solves_half = [93.0] * 20, [93.0, -1.0] * 10
    report = parity.analyse(
        _runs("sb3", solves_always, 400.0) + _runs("scratch", solves_half, 2800.0), "MountainCarContinuous-v0"
    )
    assert report.success.threshold == 90 and (report.success.ref, report.success.ours) == (1.0, 0.5)
    assert report.success.verdict == "different" and report.success.ci[1] < 0
    assert report.speedup == 7.0
    same = parity.analyse(
        _runs("sb3", solves_half, 400.0) + _runs("scratch", solves_half[::-1], 400.0), "MountainCarContinuous-v0"
    )
    assert same.success.verdict == "no difference shown" and same.success.ci[0] < 0 < same.success.ci[1]
    pendulum = [
        parity.Run(**{**r.__dict__, "env_id": "Pendulum-v1"})
        for r in _runs("sb3", solves_half, 1.0) + _runs("scratch", solves_half, 1.0)
    ]
    assert parity.analyse(pendulum, "Pendulum-v1").success is None  # no reward threshold: no such row


def test_equivalence_without_power_is_inconclusive():
    """When the negative control passes too (here nobody ever leaves -200, as on MountainCar-v0 when nothing
    learns), equal means say nothing: the verdict is inconclusive, and the summary says why."""
    from sb3_scratch_ppo import parity

    stuck = [-200.0] * 10
    runs = _runs("sb3", stuck, 1000.0) + _runs("scratch", stuck, 1000.0) + _runs("control", stuck, 1000.0)
    report = parity.analyse(runs, "MountainCarContinuous-v0")
    assert report.equivalent and report.has_power is False and report.verdict == "inconclusive"
    assert "**inconclusive** (the control passes too: no power)" in parity.summary_table([report])[-1]
    learns = [-120.0 + i for i in range(10)]
    runs = _runs("sb3", learns, 1000.0) + _runs("scratch", learns[::-1], 1000.0) + _runs("control", stuck, 1000.0)
    assert parity.analyse(runs, "MountainCarContinuous-v0").verdict == "equivalent"


def test_a_reference_mean_near_zero_is_named_not_given_billions_of_seeds():
    """The margin is 10% of |mean(SB3)|: where that mean is about 0 (Taxi-v4's final return), no feasible number of
    seeds meets it, and the report says so instead of a count in the billions (or 0, for a zero margin). Here auc
    and final are the same numbers."""
    from sb3_scratch_ppo import parity

    around_zero = [-8.0, 8.0] * 10  # mean 0: margin 0
    report = parity.analyse(
        _runs("sb3", around_zero, 1.0) + _runs("scratch", around_zero[::-1], 1.0), "MountainCarContinuous-v0"
    )
    assert report.verdict == "inconclusive" and report.seeds_needed["final"] == 0  # a zero margin: no count at all
    assert "(needs over 10,000 seeds: auc's margin, 0.0, is too narrow for its spread)" in parity.summary_table([report])[-1]
    nearly = [-8.0, 8.01] * 10  # mean 0.005: margin 0.0005, about a billion seeds
    report = parity.analyse(_runs("sb3", nearly, 1.0) + _runs("scratch", nearly[::-1], 1.0), "MountainCarContinuous-v0")
    assert report.seeds_needed["final"] > 10**8
    row = parity.summary_table([report])[-1]
    assert "(needs over 10,000 seeds: auc's margin, 0.0, is too narrow for its spread)" in row, row


def test_maskable_algo_runs_maskable_ppo_against_ours_and_keeps_its_own_results(tmp_path):
    """--algo maskable_ppo: sb3-contrib's MaskablePPO is the reference, against ScratchMaskablePPO and its control;
    the report names them; a results file of one algo refuses runs of the other."""
    require("sb3_contrib")
    config = ("--config", str(zoo.MASKABLE_PATH), "--env", "InvalidActionEnvDiscrete-v0", "--seeds", "2")
    out = parity(tmp_path, "--algo", "maskable_ppo", *config)
    assert "InvalidActionEnvDiscrete-v0: 2 MaskablePPO runs, 2 ScratchMaskablePPO runs, 1,024 steps each" in out
    assert "=> ScratchMaskablePPO vs MaskablePPO on InvalidActionEnvDiscrete-v0" in out
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# Reward parity: ScratchMaskablePPO vs MaskablePPO") and "SB3" not in report
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert {r["algo"] for r in runs} == {"maskable_ppo"} and len(runs) == 6
    # One rollout and update (1,024 steps ask for one of 2,048) lifts both learners above a random masked policy (1 in
    # 20 valid actions right: 5 a 100-step episode).
    assert all(r["final"] > 5 for r in runs if r["learner"] != "control")
    cmd = [sys.executable, "-m", "sb3_scratch_ppo", "parity", "--results", str(tmp_path / "results.json"), *config]
    out = subprocess.run([*cmd, "--report", str(tmp_path / "r.md")], capture_output=True, text=True, timeout=600)
    assert out.returncode != 0 and "holds runs of maskable_ppo, not ppo: give each algo its own file" in out.stderr


def test_speed_counts_cpu_seconds_where_every_run_recorded_them():
    """Runs that shared the machine take longer on the clock but not in CPU time (one thread each): where every run
    recorded its CPU seconds, the speed ratio is theirs; otherwise the steps per wall second."""
    from sb3_scratch_ppo import parity

    finals = [90.0 + i for i in range(10)]
    sb3, ours = _runs("sb3", finals, 1000.0), _runs("scratch", finals, 2000.0)  # 2x on the clock
    assert parity.analyse(sb3 + ours, "MountainCarContinuous-v0").speedup == 2.0
    for r in sb3:
        r.cpu_seconds = 60.0
    for r in ours:
        r.cpu_seconds = 20.0  # 3x in CPU time: SB3's runs shared their cores
    report = parity.analyse(sb3 + ours, "MountainCarContinuous-v0")
    assert report.speedup == 3.0 and report.speed_unit == "CPU second"
    assert "3.0x as many steps per CPU second" in parity.format_table(report)
