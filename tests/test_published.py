"""The published-tables section of the parity report: each table's number beside both learners' runs in that table's
metric (the zoo's: deterministic evaluation; CleanRL's: training episodes at the end of training)."""

from sb3_scratch_ppo import parity, zoo
from sb3_scratch_ppo.parity.published import CLEANRL, PUBLISHED, ZOO, published_table


def run(learner: str, seed: int, final: float, last: float) -> parity.Run:
    return parity.Run("Hopper-v4", learner, seed, 1000, [500, 1000], [0.0, last], final, [final], 1.0)


def test_each_table_is_matched_in_its_own_metric():
    runs = [run("sb3", 0, 2000.0, 1000.0), run("sb3", 1, 3000.0, 3000.0), run("scratch", 0, 2500.0, 2500.0)]
    lines = published_table(runs, ["Hopper-v4"])
    [zoo] = [line for line in lines if f"| {ZOO}: Hopper-v3 |" in line]
    [cleanrl] = [line for line in lines if f"| {CLEANRL}: Hopper-v4 |" in line]
    # Zoo: 2410 published; SB3's finals 2000 and 3000 (mean 2500, sd 707, one of two seeds above), ours 2500 (one seed).
    assert "| 2410 +- 10 | 2500 +- 707 (2 seeds; best 3000; 50% of seeds >= it) | 2500 (1 seeds; best 2500; 100%" in zoo
    # CleanRL: the last curve point, not the evaluation: SB3 1000 and 3000 (mean 2000), ours 2500.
    assert "| 2383 +- 272 | 2000 +- 1414 (2 seeds; best 3000) | 2500 (1 seeds; best 2500) |" in cleanrl


def test_envs_without_published_numbers_add_nothing():
    assert published_table([run("sb3", 0, 1.0, 1.0)], ["CartPole-v1"]) == []
    assert set(PUBLISHED) == set(zoo.read_entries(zoo.MUJOCO_PATH))  # every MuJoCo entry has a published number
