"""Stable-Baselines3's own test suite, run against ScratchPPO: every PPO of SB3's tests replaced by ScratchPPO; and
sb3-contrib's, every MaskablePPO replaced by ScratchMaskablePPO (``--suite contrib``).

    python tools/sb3_own_tests.py               # both runs, then the comparison (what tests/test_sb3_own_suite.py runs)
    python tools/sb3_own_tests.py --suite contrib                                 # sb3-contrib's MaskablePPO tests
    python tools/sb3_own_tests.py --learner scratch --report runs/sb3_own.json   # one run, its per-test results

SB3's tests ship in its sdist on the package index: the installed SB3's version is downloaded once (``pip download
--no-binary``) into a cache folder (default: beside the running Python's venv) and its ``tests/`` extracted. A
``conftest.py`` written beside them swaps ``stable_baselines3.PPO`` (and ``stable_baselines3.ppo.PPO``) for
ScratchPPO (for sb3-contrib: ``sb3_contrib.MaskablePPO`` for ScratchMaskablePPO) before any test module is imported,
and stops the run if a test module still holds another. Each run records, per test, its outcome and whether it built
one. The comparison keeps the tests that built one and that the reference passes (so a version or environment
mismatch is never counted against us), and checks them against ``tests/sb3_expected_failures.txt`` (for sb3-contrib:
``tests/sb3_contrib_expected_failures.txt``; a test id and its reason per line): a test that newly fails, or an
expected failure that passes, fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Suite:
    """A reference library whose own tests run against our learner in place of its algorithm."""

    dist: str  # its name on the package index
    module: str  # its import name (and its sdist's folder prefix)
    cls: str  # the algorithm its tests build
    ours: str  # ours, in sb3_scratch_ppo
    targets: tuple[str, ...]  # the modules whose ``cls`` is swapped for ours
    label: str  # the reference, as the counts name it
    expected: Path  # tests that fail with ours, each with its reason
    listed: Path  # which of its tests build one, found by --discover
    # The test files that name the class, less the tests parametrized with other algorithms only; each run records
    # which tests really build one, and only those count.
    selection: str


SUITES = {
    "sb3": Suite(
        "stable-baselines3",
        "stable_baselines3",
        "PPO",
        "ScratchPPO",
        ("stable_baselines3", "stable_baselines3.ppo"),
        "SB3 PPO",
        ROOT / "tests" / "sb3_expected_failures.txt",
        ROOT / "tests" / "sb3_ppo_tests.txt",
        "PPO or ppo or not (A2C or DQN or SAC or TD3 or DDPG or Her or HER)",
    ),
    "contrib": Suite(
        "sb3-contrib",
        "sb3_contrib",
        "MaskablePPO",
        "ScratchMaskablePPO",
        ("sb3_contrib", "sb3_contrib.ppo_mask"),
        "MaskablePPO",
        ROOT / "tests" / "sb3_contrib_expected_failures.txt",
        ROOT / "tests" / "sb3_contrib_maskable_tests.txt",
        "MaskablePPO or not (QRDQN or TQC or TRPO or ARS or RecurrentPPO or CrossQ)",
    ),
}
SUITE = SUITES["sb3"]  # the one a function runs when not told

CONFTEST = '''"""Written by sb3-scratch-ppo's tools/sb3_own_tests.py: which PPO SB3's tests build, and what each test did."""

import json
import os
import sys

import importlib

import pytest

LEARNER = os.environ["SB3_OWN_TESTS_LEARNER"]
CLASS = os.environ["SB3_OWN_TESTS_CLASS"]
TARGETS = [importlib.import_module(name) for name in os.environ["SB3_OWN_TESTS_TARGETS"].split(",")]
if LEARNER == "scratch":
    import sb3_scratch_ppo

    for target in TARGETS:
        setattr(target, CLASS, getattr(sb3_scratch_ppo, os.environ["SB3_OWN_TESTS_OURS"]))
PPO_CLASS = getattr(TARGETS[0], CLASS)
RESULTS = {}
_current = [None]
_init = PPO_CLASS.__init__


def _recording_init(self, *args, **kwargs):
    RESULTS.setdefault(_current[0], {})["built"] = True
    _init(self, *args, **kwargs)


PPO_CLASS.__init__ = _recording_init


def pytest_collection_modifyitems(session, config, items):
    for module in {item.module for item in items if getattr(item, "module", None) is not None}:
        held = getattr(module, CLASS, PPO_CLASS)
        if held is not PPO_CLASS:
            pytest.exit(f"the swap did not take: {module.__name__}.{CLASS} is {held!r}, not {PPO_CLASS!r}", returncode=3)


def pytest_runtest_setup(item):
    _current[0] = item.nodeid


def pytest_runtest_logreport(report):
    entry = RESULTS.setdefault(report.nodeid, {})
    entry.setdefault("built", False)
    if report.when == "call" or report.outcome != "passed":
        if entry.get("outcome") in (None, "passed"):
            entry["outcome"] = report.outcome
            if report.outcome == "failed":
                entry["message"] = str(report.longrepr).strip().splitlines()[-1][:300] if report.longrepr else ""


def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["SB3_OWN_TESTS_REPORT"], "w") as f:
        json.dump({"learner": LEARNER, "ppo": f"{PPO_CLASS.__module__}.{PPO_CLASS.__qualname__}", "tests": RESULTS}, f,
                  indent=1)
'''


def sb3_tests(cache: Path, suite: Suite = SUITE) -> Path:
    """The suite's ``tests/`` (SB3's by default) for the installed version, downloaded and extracted once into ``cache``.

    Under a lock, into a temporary folder renamed into place: test processes running side by side (pytest -n 2) on
    a fresh venv wait for the one that fetches it, and never see half of it."""
    import fcntl

    version = installed_version(suite.dist)
    folder = cache / f"{suite.module}-{version}"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "tests").is_dir():
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--no-deps",
                        "--no-binary",
                        ":all:",
                        "-q",
                        "-d",
                        tmp,
                        f"{suite.dist}=={version}",
                    ],
                    check=True,
                )
                with tarfile.open(Path(tmp) / f"{suite.module}-{version}.tar.gz") as tar:
                    members = [m for m in tar.getmembers() if m.name.startswith(f"{suite.module}-{version}/tests/")]
                    tar.extractall(tmp, members=members, filter="data")
                if (Path(tmp) / f"{suite.module}-{version}" / "tests").is_dir():
                    shutil.rmtree(folder, ignore_errors=True)  # an earlier fetch's remains, without tests/
                    os.replace(Path(tmp) / f"{suite.module}-{version}", folder)
    if not (folder / "tests" / "test_run.py").is_file():
        raise SystemExit(f"{folder}: {suite.dist} {version}'s sdist holds no tests/; cannot run its own tests")
    return folder / "tests"


def run(learner: str, tests: Path, report: Path, only: list[str] | None = None, suite: Suite = SUITE) -> dict:
    """One run of the suite's tests with ``learner``'s algorithm (in a copy of its tests folder): ``only`` these test
    ids, or the whole selection; the per-test results."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "tests"
        subprocess.run(["cp", "-r", str(tests), str(copy)], check=True)
        (copy / "conftest.py").write_text(CONFTEST)
        env = {
            **os.environ,
            "SB3_OWN_TESTS_LEARNER": learner,
            "SB3_OWN_TESTS_REPORT": str(report),
            "SB3_OWN_TESTS_CLASS": suite.cls,
            "SB3_OWN_TESTS_OURS": suite.ours,
            "SB3_OWN_TESTS_TARGETS": ",".join(suite.targets),
        }
        files = sorted(f"tests/{f.name}" for f in copy.glob("test_*.py") if f" {suite.cls}" in f.read_text())
        if only is not None and learner == "scratch":
            only = [renamed(t, suite.cls, suite.ours) for t in only]
        chosen = only if only is not None else [*files, "-k", suite.selection]
        options = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", tmp]
        out = subprocess.run(
            [sys.executable, "-m", "pytest", *chosen, *options], cwd=tmp, env=env, capture_output=True, text=True
        )
        if out.returncode not in (0, 1):
            raise SystemExit(
                f"{suite.dist}'s tests did not run with {learner} (exit {out.returncode}):\n{out.stdout[-3000:]}\n"
                f"{out.stderr[-3000:]}"
            )
    results = json.loads(report.read_text())
    results["tests"] = {renamed(t, suite.ours, suite.cls): r for t, r in results["tests"].items()}
    return results


def renamed(test_id: str, old: str, new: str) -> str:
    """A test id with the parameter id ``old`` replaced by ``new``: SB3's tests name a parameter by the class's
    ``__name__``, so with the swap ``test_save_load[PPO]`` is collected as ``test_save_load[ScratchPPO]``."""
    name, bracket, params = test_id.partition("[")
    if not bracket:
        return test_id
    return name + "[" + "-".join(new if part == old else part for part in params[:-1].split("-")) + "]"


def ppo_tests(version: str, suite: Suite = SUITE) -> list[str] | None:
    """The test ids of the suite's list (``tests/sb3_ppo_tests.txt``) if it was made for this version, else None."""
    if not suite.listed.is_file():
        return None
    lines = suite.listed.read_text().splitlines()
    if not lines or lines[0] != f"# {suite.dist} {version}":
        return None
    return [line for line in lines[1:] if line.strip() and not line.startswith("#")]


def expected_failures(suite: Suite = SUITE) -> dict[str, str]:
    """The suite's ``tests/sb3_expected_failures.txt``: a test id, two spaces and ``#``, and the reason, per line."""
    out = {}
    for line in suite.expected.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            test, _, reason = line.partition("  # ")
            out[test.strip()] = reason.strip()
    return out


def compare(sb3: dict, scratch: dict, suite: Suite = SUITE) -> tuple[list[str], dict]:
    """The problems (empty: as expected), and the counts."""
    built = {t for t, r in scratch["tests"].items() if r.get("built")} | {t for t, r in sb3["tests"].items() if r.get("built")}
    baseline_ok = {t for t in built if sb3["tests"].get(t, {}).get("outcome") == "passed"}
    failing = {t for t in baseline_ok if scratch["tests"].get(t, {}).get("outcome") != "passed"}
    expected = expected_failures(suite)
    problems = [
        f"newly failing: {t}: {scratch['tests'].get(t, {}).get('message', '')}" for t in sorted(failing - set(expected))
    ]
    problems += [
        f"expected to fail but passes (remove it from {suite.expected.name}): {t}"
        for t in sorted(set(expected) & (baseline_ok - failing))
    ]
    problems += [f"listed in {suite.expected.name} but not run: {t}" for t in sorted(set(expected) - baseline_ok)]
    counts = {
        f"built a {suite.cls}": len(built),
        f"{suite.label} passed": len(baseline_ok),
        f"{suite.label} failed or skipped": len(built - baseline_ok),
        f"{suite.ours} passed": len(baseline_ok - failing),
        f"{suite.ours} failed": len(failing),
        "expected failures": len(expected),
    }
    return problems, counts


def discover(tests: Path, version: str, suite: Suite = SUITE) -> list[str]:
    """Run the suite's whole selection with its own algorithm and write the ids of the tests that build one to its
    list (sb3_ppo_tests.txt for SB3)."""
    with tempfile.TemporaryDirectory() as tmp:
        found = run("sb3", tests, Path(tmp) / "discover.json", suite=suite)
    ids = sorted(t for t, r in found["tests"].items() if r.get("built"))
    option = "" if suite is SUITE else " --suite contrib"
    suite.listed.write_text(
        f"# {suite.dist} {version}\n# the tests of its suite that build a {suite.cls}: python tools/sb3_own_tests.py"
        f"{option} --discover\n" + "".join(f"{t}\n" for t in ids)
    )
    print(f"{suite.listed.relative_to(ROOT)}: {len(ids)} of {suite.dist} {version}'s tests build a {suite.cls}")
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite", choices=sorted(SUITES), default="sb3", help="SB3's tests (PPO) or sb3-contrib's (MaskablePPO)"
    )
    parser.add_argument("--learner", choices=("sb3", "scratch", "both"), default="both")
    parser.add_argument("--discover", action="store_true", help="find the tests that build a PPO (the whole selection)")
    parser.add_argument("--cache", type=Path, default=Path(sys.prefix) / "sb3-own-tests")
    parser.add_argument("--report", type=Path, default=None, help="with one learner: where its per-test results go")
    args = parser.parse_args()
    suite = SUITES[args.suite]
    version = installed_version(suite.dist)
    tests = sb3_tests(args.cache, suite)
    only = None if args.discover else ppo_tests(version, suite)
    if only is None:  # asked for, or the list was made for another version
        only = discover(tests, version, suite)
    with tempfile.TemporaryDirectory() as tmp:
        learners = ("sb3", "scratch") if args.learner == "both" else (args.learner,)
        results = {}
        for learner in learners:
            report = args.report if args.report and len(learners) == 1 else Path(tmp) / f"{learner}.json"
            results[learner] = run(learner, tests, report, only, suite)
            outcomes = [r.get("outcome") for r in results[learner]["tests"].values() if r.get("built")]
            print(
                f"{learner} ({results[learner]['ppo']}): {len(outcomes)} tests built a {suite.cls}, "
                f"{outcomes.count('passed')} passed, {outcomes.count('failed')} failed"
            )
    if len(learners) == 1:
        return 0
    problems, counts = compare(results["sb3"], results["scratch"], suite)
    problems += [
        f"listed in {suite.listed.name} but built no {suite.cls} with the reference's (run --discover): {t}"
        for t in only
        if not results["sb3"]["tests"].get(t, {}).get("built")
    ]
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
