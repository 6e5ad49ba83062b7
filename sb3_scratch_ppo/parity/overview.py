"""Every sweep's verdicts on one page: the classic configs' report (``results.json`` -> ``report.md``) also shows the
summary of every other sweep whose results file sits beside it (images and Dict, masking, MuJoCo), with the published
MuJoCo numbers, each linking its own report.

The ``parity`` command puts the block in when it writes the classic configs' report; another sweep rewrites only its
own report, so after one ``python tools/readme_tables.py`` rewrites the block (and ``--check``, run by a test, fails
while it is stale)."""

from __future__ import annotations

from pathlib import Path

from sb3_scratch_ppo import zoo
from sb3_scratch_ppo.parity.analysis import analyse
from sb3_scratch_ppo.parity.published import published_table
from sb3_scratch_ppo.parity.report import named, not_compared, summary_table
from sb3_scratch_ppo.parity.results import load_results

# results file -> (its config in sb3_scratch_ppo/zoo/configs, its algo (parity.ALGORITHMS), its title, its report):
# the sweeps `make parity` and `make parity-mujoco` run, the first the one whose report holds the others.
SWEEPS = {
    "results.json": ("ppo.yml", "ppo", "The zoo's classic configs", "report.md"),
    "observations.json": ("observations.yml", "ppo", "CnnPolicy and MultiInputPolicy", "observations.md"),
    "maskable.json": ("maskable.yml", "maskable_ppo", "Action masking, against sb3-contrib's MaskablePPO", "maskable.md"),
    "mujoco.json": ("mujoco.yml", "ppo", "MuJoCo", "mujoco.md"),
}
MAIN = next(iter(SWEEPS))
START = "<!-- start:other-sweeps: generated from the results files beside this report (tools/readme_tables.py) -->"
END = "<!-- end:other-sweeps -->"


def other_sweeps(folder: Path, rel_margin: float = 0.1) -> list[str]:
    """Markdown lines between START and END: each other sweep's summary table (its envs with at least 2 runs a side;
    the rest "not compared yet"), from the results files in ``folder``; no lines if there are none."""
    sweeps = [(name, *spec) for name, spec in SWEEPS.items() if name != MAIN and (folder / name).exists()]
    if not sweeps:
        return []
    lines = [
        START,
        "## The other sweeps",
        "",
        "Their summary tables, from the results files beside this report; each sweep's own report has the plots, the "
        "per-env tables and the seeds needed.",
        "",
    ]
    for name, config, algo, title, report in sweeps:
        runs = load_results(folder / name)
        env_ids = list(zoo.read_entries(zoo.CONFIGS / config))
        waiting = not_compared(runs, env_ids)
        compared = [e for e in env_ids if e not in waiting]
        lines += [f"### {title} ([{report}]({report}), from {name})", ""]
        lines += summary_table([analyse(runs, e, rel_margin) for e in compared]) if compared else []
        said = [named(line, algo) for line in waiting.values()]
        lines += ["", *said] if compared and said else said
        lines.append("")
        if published := published_table(runs, compared):
            lines += [f"#### {title}: against the published tables", *published[1:]]
    return [*lines, END]


def rewrite(report: Path, rel_margin: float = 0.1) -> str:
    """``report`` (the classic configs' report) with its block of other sweeps made anew from the results files beside
    it: in place of the old block, or else before the first per-env section. Returns the new text, not written."""
    lines = report.read_text().split("\n")
    if START in lines and END in lines:
        at, end = lines.index(START), lines.index(END) + 1
        del lines[at : end + (end < len(lines) and not lines[end])]  # the block and the blank line after it
    else:
        at = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    block = other_sweeps(report.parent, rel_margin)
    return "\n".join(lines[:at] + ([*block, ""] if block else []) + lines[at:])
