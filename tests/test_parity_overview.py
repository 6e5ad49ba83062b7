"""The classic configs' report shows every other sweep's summary (parity/overview.py): rows from the results files
beside it, envs not compared yet named, the published MuJoCo numbers, the reference's own name, and a block that a
rewrite replaces (so tools/readme_tables.py --check can tell a stale one)."""

import subprocess
import sys

from sb3_scratch_ppo import parity, zoo
from sb3_scratch_ppo.parity import overview
from tests.extras import require

REPORT = "# Reward parity: ScratchPPO vs SB3 PPO\n\n| env | summary |\n\n## CartPole-v1\n\nits section\n"


def _runs(env_id, n, algo="ppo", final=300.0):
    return [
        parity.Run(env_id, learner, seed, 1000, [1000], [final + seed], final + seed, [final], 10.0, algo=algo)
        for learner in parity.LEARNERS
        for seed in range(n)
    ]


def test_the_other_sweeps_join_the_report_before_its_env_sections(tmp_path):
    report = tmp_path / "report.md"
    report.write_text(REPORT)
    assert overview.rewrite(report) == REPORT  # no other sweep beside it: nothing to add
    parity.write_results(tmp_path / "mujoco.json", _runs("Swimmer-v4", 2) + _runs("Ant-v4", 1))
    parity.write_results(tmp_path / "maskable.json", _runs("Taxi-v4", 2, algo="maskable_ppo", final=-50.0))
    text = overview.rewrite(report)
    head, rest = text.split(overview.START)
    assert head == REPORT[: REPORT.index("## CartPole-v1")]  # the block comes after the summary, before the envs
    block, tail = rest.split(overview.END)
    assert tail == "\n\n## CartPole-v1\n\nits section\n"
    assert "### MuJoCo ([mujoco.md](mujoco.md), from mujoco.json)" in block
    assert "| Swimmer-v4 | 2 / 2 |" in block  # a summary row, as in mujoco.md
    assert "Not compared yet: Ant-v4: 1 SB3 and 1 ScratchPPO runs so far (2 of each needed)." in block
    assert "Not compared yet: Hopper-v4: 0 SB3 and 0 ScratchPPO runs so far" in block  # every entry of mujoco.yml
    assert "| Swimmer-v4 | rl-baselines3-zoo benchmark.md (PPO, 1M steps): Swimmer-v3 |" in block  # the published row
    masking = block[block.index("### Action masking") : block.index("### MuJoCo")]
    assert "| Taxi-v4 | 2 / 2 |" in masking and "MaskablePPO" in masking and "SB3" not in masking
    assert "InvalidActionEnvDiscrete-v0: 0 MaskablePPO and 0 ScratchMaskablePPO runs" in masking
    assert "observations.md" not in block  # no results file for that sweep here

    report.write_text(text)
    assert overview.rewrite(report) == text  # made anew from the same results: the same text
    parity.write_results(tmp_path / "mujoco.json", _runs("Swimmer-v4", 2) + _runs("Ant-v4", 2))
    again = overview.rewrite(report)  # a new run replaces the block, not appends a second one
    assert again.count(overview.START) == 1 and "| Ant-v4 | 2 / 2 |" in again and "Ant-v4: 1 SB3" not in again
    assert again.endswith("\n\n## CartPole-v1\n\nits section\n")


def test_the_parity_command_writes_the_block_into_the_classic_configs_report_only(tmp_path):
    """`parity --seeds 0` rewrites a report from the runs on file: results.json's gathers the sweeps beside it,
    mujoco.json's does not."""
    require("mujoco")
    for results, runs in (("results.json", _runs("CartPole-v1", 2, final=400.0)), ("mujoco.json", _runs("Swimmer-v4", 2))):
        parity.write_results(tmp_path / results, runs)
    for results, report, env_id, config in (
        ("results.json", "report.md", "CartPole-v1", zoo.DEFAULT_PATH),
        ("mujoco.json", "mujoco.md", "Swimmer-v4", zoo.MUJOCO_PATH),
    ):
        cmd = [sys.executable, "-m", "sb3_scratch_ppo", "parity", "--env", env_id, "--seeds", "0", "--config", str(config)]
        cmd += ["--results", str(tmp_path / results), "--report", str(tmp_path / report)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
    classic, mujoco = (tmp_path / "report.md").read_text(), (tmp_path / "mujoco.md").read_text()
    assert overview.START in classic and "| Swimmer-v4 | 2 / 2 |" in classic.split("## CartPole-v1")[0]
    assert overview.START not in mujoco and "| Swimmer-v4 | 2 / 2 |" in mujoco
