"""Every Python example in README.md runs as written (training capped at 2,000 steps: the point is the code, not the
learning)."""

import re
from pathlib import Path

import pytest
from stable_baselines3 import PPO

from sb3_scratch_ppo import ScratchPPO
from tests.extras import EXTRAS, require

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
MAX_STEPS = 2_000


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    for module in EXTRAS:  # an example that imports an optional extra's package needs that extra
        if re.search(rf"^(from|import) {module}\b", BLOCKS[index], flags=re.M):
            require(module)
    monkeypatch.chdir(tmp_path)  # files the examples save land in a temporary folder
    for algo in (PPO, ScratchPPO):  # however an example spells learn()'s arguments, it trains MAX_STEPS at most

        def capped(self, total_timesteps, *args, _learn=algo.learn, **kwargs):
            return _learn(self, min(total_timesteps, MAX_STEPS), *args, **kwargs)

        monkeypatch.setattr(algo, "learn", capped)
    exec(compile(BLOCKS[index], f"README.md python example {index}", "exec"), {"__name__": "__readme__"})
