"""The results file: every run as JSON, extended atomically and idempotently, so a killed sweep resumes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from sb3_scratch_ppo.parity.run import Run


def load_results(path: Path) -> list[Run]:
    if not path.exists():
        return []
    with open(path) as f:
        return [Run(**r) for r in json.load(f)["runs"]]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the results file (a ``.lock`` file beside it) while reading and rewriting it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def merge_results(path: Path, new: list[Run]) -> list[Run]:
    """Add runs to the results file, atomically and idempotently; return everything the file then holds.

    Under an exclusive lock, the file is read again (another sweep may have added runs), the runs
    whose key is not there yet are appended, and the whole is written to a temporary file that
    replaces the old one in one step: a sweep killed at any moment leaves either the old file or
    the new one, never half of one, and merging a run twice keeps one copy."""
    with locked(path):
        runs = load_results(path)
        keys = {r.key for r in runs}
        for run in new:
            if run.key not in keys:
                runs.append(run)
                keys.add(run.key)
        write_results(path, runs)
    return runs


def write_results(path: Path, runs: list[Run]) -> None:
    """Write the whole file in one step: a temporary file, flushed to disk, then renamed over the old one."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump({"runs": [asdict(r) for r in runs]}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
