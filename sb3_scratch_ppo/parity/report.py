"""The parity report: a console table per env, learning-curve plots, the summary table and the Markdown report."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sb3_scratch_ppo.parity import stats
from sb3_scratch_ppo.parity.analysis import EnvReport, analyse
from sb3_scratch_ppo.parity.published import published_table
from sb3_scratch_ppo.parity.run import ALGORITHMS, CONTROL_LR_FACTOR, LEARNERS, Run


def named(text: str, algo: str) -> str:
    """Text written for SB3's PPO and ScratchPPO, with the names of ``algo``'s pair (parity.ALGORITHMS) instead."""
    if algo == "ppo":
        return text
    reference, ours = ALGORITHMS[algo]
    return text.replace("SB3 PPO", reference).replace("SB3", reference).replace("ScratchPPO", ours)


def format_table(report: EnvReport) -> str:
    return named(_format_table(report), report.algo)


def _format_table(report: EnvReport) -> str:
    lines = [
        f"{report.env_id}: {report.comparisons[0].n_ref} SB3 runs, {report.comparisons[0].n_ours} ScratchPPO runs, "
        f"{report.n_timesteps:,} steps each",
        f"{'metric':<18}{'SB3 mean':>10}{'ours mean':>11}{'90% CI of diff':>22}{'margin':>9}{'Welch p':>9}  verdict",
    ]
    rows = [("", c) for c in report.comparisons] + [("control ", c) for c in report.controls]
    for prefix, c in rows:
        ci = f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}]"
        lines.append(
            f"{prefix + c.metric:<18}{c.mean_ref:>10.1f}{c.mean_ours:>11.1f}{ci:>22}{c.margin:>9.1f}"
            f"{c.welch_p:>9.3f}  {c.verdict}"
        )
    if (s := report.success) is not None:
        ci = f"[{s.ci[0]:+.2f}, {s.ci[1]:+.2f}]"
        lines.append(
            f"{'solved (>= ' + f'{s.threshold:g})':<18}{s.ref:>10.0%}{s.ours:>11.0%}{ci:>22}{'':>9}{'':>9}  {s.verdict}"
        )
    verdict = "EQUIVALENT" if report.equivalent else "NOT SHOWN EQUIVALENT"
    power = {
        True: "",
        None: " (no negative control run here)",
        False: ", but the negative control was not rejected either: the test lacks power and this verdict means nothing",
    }[report.has_power]
    lines.append(
        f"=> ScratchPPO vs SB3 on {report.env_id}: {verdict}{power}; "
        f"ScratchPPO trains {report.speedup:.1f}x as many steps per {report.speed_unit}"
    )
    return "\n".join(lines)


def plot(runs: list[Run], env_id: str, path: Path) -> Path:
    """Learning curves: mean over seeds with a 90% bootstrap band, one line per learner, against timesteps; and,
    when every run recorded its clock, beside it against wall-clock time (each point at the median minute of
    ``learn()`` at which the seeds reached it), so time-to-score shows. Where every run also recorded its CPU time,
    each run's clock is scaled by its CPU share (CPU seconds / wall seconds): a one-thread run's time on a core of its
    own, so runs that shared the machine with other work are not drawn slower than they are."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    env_runs = [r for r in runs if r.env_id == env_id]
    timed = all(r.curve_wall_seconds is not None for r in env_runs)
    own_core = timed and all(r.cpu_seconds is not None for r in env_runs)
    fig, axes = plt.subplots(1, 2 if timed else 1, figsize=(12.5 if timed else 7, 4.2), squeeze=False)
    labels = {"sb3": "SB3 PPO", "scratch": "ScratchPPO", "control": f"control (ScratchPPO, lr x {CONTROL_LR_FACTOR})"}
    labels = {k: named(v, env_runs[0].algo) for k, v in labels.items()}
    colours = {"sb3": "tab:blue", "scratch": "tab:orange", "control": "tab:gray"}
    for learner in LEARNERS:
        rs = [r for r in env_runs if r.learner == learner]
        if not rs:
            continue
        curves = np.array([r.curve for r in rs])
        lo, hi = stats.bootstrap_ci(stats.mean_over_seeds, [curves], level=0.90, n_boot=1000)
        xs = [np.array(rs[0].timesteps)]
        if timed:
            share = [(r.cpu_seconds or r.wall_seconds) / r.wall_seconds if own_core else 1.0 for r in rs]
            xs.append(np.median([np.array(r.curve_wall_seconds) * k for r, k in zip(rs, share, strict=True)], axis=0) / 60)
        for ax, x in zip(axes[0], xs, strict=True):
            ax.plot(x, curves.mean(axis=0), color=colours[learner], label=f"{labels[learner]} ({len(rs)} seeds)")
            ax.fill_between(x, lo, hi, color=colours[learner], alpha=0.25)
    axes[0][0].set_xlabel("timesteps")
    axes[0][0].set_title(f"{env_id}: learning curves, mean and 90% bootstrap band", **({"fontsize": 10} if timed else {}))
    if timed:
        axes[0][1].set_xlabel(
            "minutes of learn() on a core of its own (wall clock x CPU share; median of seeds)"
            if own_core
            else "minutes of learn() (median over seeds; one run per core, one thread)"
        )
        axes[0][1].set_title(f"{env_id}: the same curves against wall-clock time", fontsize=10)
    for ax in axes[0]:
        ax.set_ylabel("mean training episode return")
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


REASONING = """\
## How to read this

- **Equivalence, not absence of difference.** For each metric, the 90% bootstrap interval of
  mean(ScratchPPO) - mean(SB3) must lie inside +-margin (default: 10% of |mean(SB3)|). This is
  the interval form of two one-sided tests at 5%. A failed difference test (Welch's p > 0.05)
  is *not* evidence of equivalence; Welch's t is reported only for reference.
- **Metrics.** `auc`: the mean of the learning curve (mean return of training episodes in 20
  equal windows of timesteps), i.e. how fast it learns; `final`: the mean deterministic
  evaluation return over 10 episodes on evaluation seeds apart from the training seeds.
- **Negative control.** ScratchPPO with the learning rate divided by 100 is really a different
  learner. The same test must call it NOT equivalent; if it does not, the test lacks power
  (too few seeds or too wide a margin) and its "equivalent" verdicts mean nothing.
- **Seeds.** With n seeds each, the interval's half-width is about
  z * sqrt((s_ours^2 + s_sb3^2) / n) (z = 1.645). Equivalent learners pass reliably when that
  half-width uses at most half the margin, which needs n >= (z * sqrt(s_ours^2 + s_sb3^2) /
  (0.5 * margin))^2 seeds; the table gives that number from the measured spreads. Where it
  is above the seeds run, an "inconclusive" verdict is expected and more seeds are the remedy
  (`--seeds`, results are extended, not recomputed).
- **Solved.** Where the env has a reward threshold, the share of seeds whose final evaluation
  reaches it, with the 90% bootstrap interval of the difference. Where runs split into seeds
  that solve and seeds that never do, this says what the means cannot; it is a difference test
  only ("no difference shown" is not equivalence).
- **Speed.** ScratchPPO's median training steps per second over SB3's, from these same runs
  (one worker per core, torch and BLAS at one thread, `learn()` alone).
- **Provenance.** `results.json` keeps every run with the versions its worker had installed,
  the project's git commit and the command of the sweep that made it.
"""


# Past this, "needs N seeds" says only that the margin is too narrow for the spread: with the margin 10% of
# |mean(SB3)|, a reference mean near 0 (SimpleMultiObs-v0's auc, Taxi-v4's final) asks for billions.
FEASIBLE_SEEDS = 10_000


def _seeds(n: int) -> str:
    """stats.seeds_needed's count; 0 is its answer to a zero margin, which no number of seeds meets."""
    return f"{n:,}" if 0 < n <= FEASIBLE_SEEDS else f"over {FEASIBLE_SEEDS:,}"


def _needs(r: EnvReport) -> str:
    metric, n = max(r.seeds_needed.items(), key=lambda item: item[1] or math.inf)
    if 0 < n <= FEASIBLE_SEEDS:
        return f"needs ~{n:,} seeds"
    margin = next(c.margin for c in r.comparisons if c.metric == metric)
    return f"needs {_seeds(n)} seeds: {metric}'s margin, {margin:.1f}, is too narrow for its spread"


def _ci(c: stats.Comparison) -> str:
    return f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}] ({c.margin:.1f}): {c.verdict}"


def summary_table(reports: list[EnvReport]) -> list[str]:
    """One row per env: the verdicts at a glance (the README shows a shorter one: tools/readme_tables.py)."""
    algo = reports[0].algo if reports else "ppo"
    return [named(line, algo) for line in _summary_table(reports)]


def _summary_table(reports: list[EnvReport]) -> list[str]:
    lines = [
        "| env | seeds (SB3 / ours) | auc: SB3 / ours | 90% CI of diff (margin): verdict | final: SB3 / ours "
        "| 90% CI of diff (margin): verdict | solved: SB3 / ours | control | verdict | speed: ours / SB3 |",
        "|---|---:|---:|---|---:|---|---:|---|---|---:|",
    ]
    for r in reports:
        auc, final = r.comparisons
        solved = "-" if r.success is None else f"{r.success.ref:.0%} / {r.success.ours:.0%}"
        control = {True: "rejected", False: "NOT rejected", None: "not run"}[r.has_power]
        verdict = f"**{r.verdict}**"
        if r.verdict == "inconclusive":
            verdict += " (the control passes too: no power)" if r.equivalent else f" ({_needs(r)})"
        lines.append(
            f"| {r.env_id} | {auc.n_ref} / {auc.n_ours} | {auc.mean_ref:.1f} / {auc.mean_ours:.1f} | {_ci(auc)} "
            f"| {final.mean_ref:.1f} / {final.mean_ours:.1f} | {_ci(final)} | {solved} | {control} "
            f"| {verdict} | {r.speedup:.1f}x |"
        )
    return lines


def not_compared(runs: list[Run], env_ids: list[str]) -> dict[str, str]:
    """The envs with fewer than 2 runs of either learner (too few to compare), each with its line for the report."""
    counts = {e: [sum(r.env_id == e and r.learner == k for r in runs) for k in ("sb3", "scratch")] for e in env_ids}
    return {
        e: f"Not compared yet: {e}: {n_ref} SB3 and {n_ours} ScratchPPO runs so far (2 of each needed)."
        for e, (n_ref, n_ours) in counts.items()
        if min(n_ref, n_ours) < 2
    }


def write_report(
    runs: list[Run], env_ids: list[str], out: Path, rel_margin: float = 0.1, skipped: dict[str, str] | None = None
) -> list[EnvReport]:
    out.parent.mkdir(parents=True, exist_ok=True)
    waiting = not_compared(runs, env_ids)
    reports = [analyse(runs, env_id, rel_margin) for env_id in env_ids if env_id not in waiting]
    lines = [
        "# Reward parity: ScratchPPO vs SB3 PPO",
        "",
        f"Margin: {rel_margin:.0%} of |mean(SB3)|; intervals: 90% percentile bootstrap (10,000 resamples). "
        "Speed: the median training steps per second of these same runs (`learn()` alone).",
        "",
        *summary_table(reports),
        "",
    ]
    lines += [f"Not run: {env_id}: {why}" for env_id, why in (skipped or {}).items()]
    lines += [line for e, line in waiting.items() if e not in (skipped or {})]
    if lines[-1]:  # a paragraph of "Not run" / "Not compared yet" lines ends before what follows
        lines.append("")
    if table := published_table(runs, [r.env_id for r in reports]):
        lines += table
    for report in reports:
        env_id = report.env_id
        png = plot(runs, env_id, out.parent / f"parity_{env_id}.png")
        lines += [
            f"## {env_id}",
            "",
            f"![{env_id} learning curves]({png.name})",
            "",
            "| learner | metric | SB3 mean | mean | 90% CI of diff | margin | Welch p | SB3 IQM (90% CI) "
            "| IQM (90% CI) | verdict |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, cs in (("ScratchPPO", report.comparisons), ("control", report.controls)):
            for c in cs:
                lines.append(
                    f"| {name} | {c.metric} | {c.mean_ref:.1f} | {c.mean_ours:.1f} | "
                    f"[{c.ci[0]:+.1f}, {c.ci[1]:+.1f}] | {c.margin:.1f} | {c.welch_p:.3f} | "
                    f"{c.iqm_ref:.1f} [{c.iqm_ref_ci[0]:.1f}, {c.iqm_ref_ci[1]:.1f}] | "
                    f"{c.iqm_ours:.1f} [{c.iqm_ours_ci[0]:.1f}, {c.iqm_ours_ci[1]:.1f}] | {c.verdict} |"
                )
        verdict = f"**{report.verdict}**"
        power = {True: "yes", False: "NO (the test lacks power)", None: "no control run"}[report.has_power]
        lines += [
            "",
            f"Verdict: {verdict}; negative control rejected: {power}. "
            f"Seeds run: {report.comparisons[0].n_ours}; seeds needed from the measured spread: "
            + ", ".join(f"{m} {_seeds(n)}" for m, n in report.seeds_needed.items())
            + ".",
        ]
        if (s := report.success) is not None:
            lines += [
                "",
                f"Seeds whose final evaluation reaches the reward threshold ({s.threshold:g}): SB3 {s.ref:.0%}, "
                f"ScratchPPO {s.ours:.0%}; 90% CI of the difference [{s.ci[0]:+.2f}, {s.ci[1]:+.2f}]: "
                f"{s.verdict}.",
            ]
        lines += [
            "",
            "Median per run: "
            + ", ".join(
                f"{k} {report.wall_seconds[k]:.1f} s ({report.steps_per_second[k]:,.0f} steps/s"
                + (f", {report.cpu_seconds[k]:.0f} CPU s)" if report.cpu_seconds else ")")
                for k in report.wall_seconds
            )
            + f"; ScratchPPO {report.speedup:.1f}x SB3's steps per {report.speed_unit}"
            + (
                " (one thread a run: the speed on an idle core, whatever else shared the machine)."
                if report.cpu_seconds
                else "."
            ),
            "",
        ]
    lines.append(REASONING)
    out.write_text(named("\n".join(lines), runs[0].algo if runs else "ppo"))
    return reports
