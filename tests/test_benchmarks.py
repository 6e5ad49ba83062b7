"""The benchmarks run and report what they promise (tiny settings: this checks the script, it times nothing)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_ppo_runs_and_reports(tmp_path):
    out = tmp_path / "ppo.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_ppo.py"), "--repeats", "1", "--timesteps", "512",
                    "--eval-freq", "256", "--no-scaling", "--out", str(out)], check=True, capture_output=True, timeout=600)
    report = out.read_text()
    for runner in ("SB3 PPO, 1 thread", "SB3 PPO, default threads", "ScratchPPO", "ScratchPPO, fast path"):
        assert report.count(f"| {runner} |") == 2, runner  # one row per config
    assert report.count("| zoo | (") == 4 and report.count("| defaults | (") == 4
    assert "## The floor" in report and report.count("%") >= 4
