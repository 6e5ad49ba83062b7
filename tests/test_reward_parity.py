"""Reward parity, live: ScratchPPO learns CartPole like SB3's PPO, and the test can tell a different learner apart.

Zoo CartPole-v1 config (1e5 steps). SB3's PPO on CartPole-v1 is the reference for both
ScratchPPO on CartPole-v1 and ScratchPPO on ScratchCartPole-v0: the two envs are identical step
for step (tests/test_cartpole_parity.py), and two SB3 runs on ScratchCartPole-v0 here show SB3
learns bit-identically on both. Seeds: with the AUC's seed-to-seed spread (docs/guides/parity-suite.md)
and a 10% margin, equivalent learners pass reliably from about 30 seeds each (stats.seeds_needed);
the negative control (learning rate / 100) needs few. The same runs show ScratchPPO solves the task:
its final deterministic evaluation reaches CartPole's threshold, 475, on most seeds.
"""

import numpy as np
import pytest

from sb3_scratch_ppo import parity
from sb3_scratch_ppo.parity import sweep

pytestmark = pytest.mark.slow  # minutes of training or subprocesses: `make test-fast` leaves it out

SEEDS = 30
CONTROL_SEEDS = 8


def test_cartpole_reward_parity_with_negative_control(tmp_path):
    tasks = sweep.plan(["CartPole-v1"], SEEDS, ("sb3", "scratch"))
    tasks += sweep.plan(["ScratchCartPole-v0"], SEEDS, ("scratch",))
    tasks += sweep.plan(["CartPole-v1"], CONTROL_SEEDS, ("control",))
    tasks += sweep.plan(["ScratchCartPole-v0"], 2, ("sb3",))
    runs = sweep.run_all(tasks, tmp_path / "results.json", workers=2, progress=False)
    assert len(parity.load_results(tmp_path / "results.json")) == len(tasks)  # every run was saved

    # Both learners learn exactly the same on ScratchCartPole-v0 as on CartPole-v1 (same seeds, bit for bit),
    # so SB3 on CartPole-v1 is a fair shared reference for both envs.
    for learner, seeds in (("sb3", 2), ("scratch", SEEDS)):
        for seed in range(seeds):
            on_scratch, on_v1 = (
                next(r for r in runs if r.learner == learner and r.seed == seed and r.env_id == e)
                for e in ("ScratchCartPole-v0", "CartPole-v1")
            )
            assert on_scratch.curve == on_v1.curve and on_scratch.eval_returns == on_v1.eval_returns, (learner, seed)

    for env_id in ("CartPole-v1", "ScratchCartPole-v0"):
        report = parity.analyse(runs, env_id, rel_margin=0.1, ref_env_id="CartPole-v1")
        print(parity.format_table(report))
        for c in report.comparisons:
            assert c.verdict == "equivalent", (env_id, c)
    # The negative control: the same test must refuse a learner that is really different.
    control = parity.analyse(runs, "CartPole-v1", rel_margin=0.1)
    assert control.has_power and all(c.verdict == "different" for c in control.controls), control.controls
    assert np.mean([r.final for r in runs if r.learner == "control"]) < 250

    # It learns the task, not only like SB3: 475 is CartPole-v1's reward threshold.
    finals = np.array([r.final for r in runs if r.learner == "scratch" and r.env_id == "CartPole-v1"])
    assert np.mean(finals >= 475) >= 0.8 and np.median(finals) >= 475, finals
