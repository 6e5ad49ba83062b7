"""Every Python example in README.md runs as written (training shortened: the point is the code, not the learning)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the examples save land in a temporary folder
    code = BLOCKS[index].replace("learn(100_000", "learn(2_000").replace("learn(20_000", "learn(2_000").replace("learn(config.n_timesteps)", "learn(2_000)")
    exec(compile(code, f"README.md python example {index}", "exec"), {"__name__": "__readme__"})
