"""mypy against a list of known errors: new errors fail, and so do listed errors that are gone (the list only shrinks).

    python tools/mypy_baseline.py            # what `make lint` runs
    python tools/mypy_baseline.py --update   # rewrite the list from this run (after fixing errors)

An error is compared without its line number ("path: message  [code]"), so moving code does not touch the list.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "tools" / "mypy-baseline.txt"


def errors() -> Counter[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--no-pretty", "--show-error-codes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode not in (0, 1):
        raise SystemExit(f"mypy did not run:\n{out.stdout}{out.stderr}")
    found = (re.sub(r"^([^:]+):\d+:(\d+:)? error:", r"\1:", line) for line in out.stdout.splitlines() if ": error:" in line)
    return Counter(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the list from this run")
    args = parser.parse_args()
    now = errors()
    if args.update:
        BASELINE.write_text("".join(f"{line}\n" for line in sorted(now.elements())))
        print(f"{BASELINE.relative_to(ROOT)}: {sum(now.values())} known errors")
        return 0
    known = Counter(line for line in BASELINE.read_text().splitlines() if line.strip())
    new, gone = now - known, known - now
    for line in sorted(new.elements()):
        print(f"new mypy error: {line}")
    for line in sorted(gone.elements()):
        print(f"fixed, so remove it from {BASELINE.relative_to(ROOT)} (python tools/mypy_baseline.py --update): {line}")
    print(
        f"mypy: {sum(now.values())} errors, {sum(known.values())} known, {sum(new.values())} new, {sum(gone.values())} fixed"
    )
    return 1 if new or gone else 0


if __name__ == "__main__":
    sys.exit(main())
