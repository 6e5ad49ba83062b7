"""The README and the documentation site: every code block in README.md and docs/ runs as written (training capped
at 2,000 steps: the point is the code, not the learning), or is an excerpt of the source the site includes, or is
marked ``<!-- not run: why -->``; the README's summary tables are what the results files say; the site builds with
``mkdocs build --strict``."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stable_baselines3 import PPO

from sb3_scratch_ppo import ScratchMaskablePPO, ScratchPPO
from tests.extras import EXTRAS, require

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>[^\n`]*)\n(?P<body>.*?)\n```", flags=re.S)
NOT_RUN = re.compile(r"<!-- not run: .+ -->")
SNIPPET = re.compile(r'--8<-- "(?P<path>[^":]+):(?P<section>[a-z_-]+)"')
MAX_STEPS = 2_000


def blocks() -> list[tuple[str, str, str, str]]:
    """(where, language, body, the line before) for every fenced block of every page."""
    found = []
    for page in PAGES:
        text = "\n" + page.read_text()
        for i, m in enumerate(FENCE.finditer(text)):
            where = f"{page.relative_to(ROOT)} block {i}"
            found.append((where, m["lang"].split()[0] if m["lang"].strip() else "", m["body"], m["before"]))
    return found


BLOCKS = blocks()
PYTHON = [(where, body) for where, lang, body, _ in BLOCKS if lang == "python" and not SNIPPET.search(body)]
EXCERPTS = [(where, body) for where, lang, body, _ in BLOCKS if lang == "python" and SNIPPET.search(body)]


def test_every_block_runs_is_an_excerpt_or_says_why_not():
    """Python runs (below); ``text`` is output or equations, not code; anything else says why it is not run."""
    assert len(PYTHON) >= 15 and len(EXCERPTS) >= 8
    unmarked = [where for where, lang, _, before in BLOCKS if lang not in ("python", "text") and not NOT_RUN.search(before)]
    assert not unmarked, f"code blocks neither run nor marked <!-- not run: why -->: {unmarked}"


@pytest.mark.parametrize("where, body", EXCERPTS, ids=[w for w, _ in EXCERPTS])
def test_source_excerpts_name_sections_that_exist(where, body):
    """The learner page shows the source through snippet sections: each names a file and a section marked in it."""
    for m in SNIPPET.finditer(body):
        source = (ROOT / m["path"]).read_text()
        assert f"--8<-- [start:{m['section']}]" in source and f"--8<-- [end:{m['section']}]" in source, m[0]


@pytest.mark.parametrize("where, body", PYTHON, ids=[w for w, _ in PYTHON])
def test_example_runs(where, body, tmp_path, monkeypatch):
    for module in EXTRAS:  # an example that imports an optional extra's package needs that extra
        if re.search(rf"^(from|import) {module}\b", body, flags=re.M):
            require(module)
    monkeypatch.chdir(tmp_path)  # files the examples save land in a temporary folder
    for algo in (PPO, ScratchPPO, ScratchMaskablePPO):  # however an example spells learn(), it trains MAX_STEPS at most

        def capped(self, total_timesteps, *args, _learn=algo.learn, **kwargs):
            return _learn(self, min(total_timesteps, MAX_STEPS), *args, **kwargs)

        monkeypatch.setattr(algo, "learn", capped)
    exec(compile(body, where, "exec"), {"__name__": "__docs__"})


def test_readme_tables_are_the_results():
    """The README's parity and speed tables are generated from the results files (tools/readme_tables.py)."""
    out = subprocess.run([sys.executable, "tools/readme_tables.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    """`make docs`: mkdocs --strict fails on a broken link, a missing snippet or an API reference it cannot resolve."""
    require("mkdocs")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")]
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's notice about its successor
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    for page in ("index.html", "ppo-from-scratch.html", "api.html", "parity/report.html", "results/speed.html"):
        assert (tmp_path / "site" / page).is_file(), page
    learner = (tmp_path / "site" / "ppo-from-scratch.html").read_text()
    assert "--8&lt;--" not in learner and "# Clipped surrogate (eq. 7)." in learner  # the source, included
