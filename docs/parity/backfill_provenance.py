"""Give the runs made before results.json recorded provenance their versions, command and speed, after
checking that this tree and this environment remake them bit for bit.

    .venv/bin/python docs/parity/backfill_provenance.py docs/parity/results.json

Runs made before per-run versions were recorded have none. For every (env, learner) among them,
the first, middle and last seed are run again here (``parity.run_one``); both learners are
deterministic per seed (torch on CPU at one thread), so the new run's learning curve and
evaluation returns must equal the stored ones exactly. Only if every rerun does are the old runs
given the rerun's versions, marked ``"backfilled"``, and their speed from their recorded wall
time; if any differs, the file is left as it was and the script says which. Nothing is guessed:
the command is the one the README gave for those runs, marked as such.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

from sb3_scratch_ppo import parity

COMMAND = (
    "python -m sb3_scratch_ppo parity --env CartPole-v1 Pendulum-v1 MountainCarContinuous-v0 --seeds auto "
    "--results docs/parity/results.json --report docs/parity/report.md (and --seeds 237 --no-control for "
    "Pendulum-v1's seeds from 40); recorded after the runs"
)
OUTCOME = ("timesteps", "curve", "final", "eval_returns")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    runs = parity.load_results(args.results)
    legacy = [r for r in runs if r.versions is None]
    if not legacy:
        print("every run already records its versions")
        return 0
    groups: dict[tuple, list[parity.Run]] = {}
    for r in legacy:
        groups.setdefault((r.env_id, r.learner, r.n_timesteps), []).append(r)
    checks = []
    for rs in groups.values():
        rs.sort(key=lambda r: r.seed)
        checks += list({r.key: r for r in (rs[0], rs[len(rs) // 2], rs[-1])}.values())
    print(f"{len(legacy)} runs without versions in {len(groups)} groups; rerunning {len(checks)} of them")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(parity.run_one, r.env_id, r.learner, r.seed, r.n_timesteps) for r in checks]
        reruns = [f.result() for f in futures]

    mismatched = [
        old.key for old, new in zip(checks, reruns, strict=True) if any(getattr(old, f) != getattr(new, f) for f in OUTCOME)
    ]
    for old, new in zip(checks, reruns, strict=True):
        same = old.key not in mismatched
        print(
            f"  {old.env_id} {old.learner} seed {old.seed}: {'identical' if same else 'DIFFERENT'} "
            f"(final {old.final:.2f} stored, {new.final:.2f} now)"
        )
    if mismatched:
        print(f"{len(mismatched)} reruns differ from the stored runs: no versions backfilled", file=sys.stderr)
        return 1

    with parity.locked(args.results):  # a sweep may be merging runs meanwhile: keep what it added
        runs = parity.load_results(args.results)
        versions = {
            **reruns[0].versions,
            "backfilled": f"{len(checks)} of the {len(legacy)} runs without versions "
            "were rerun with these versions and were identical (docs/parity/backfill_provenance.py)",
        }
        backfilled = {
            r.key: replace(r, versions=versions, command=COMMAND, steps_per_second=r.n_timesteps / r.wall_seconds)
            for r in legacy
        }
        runs = [backfilled.get(r.key, r) for r in runs]
        parity.write_results(args.results, runs)
    print(f"backfilled {len(backfilled)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
