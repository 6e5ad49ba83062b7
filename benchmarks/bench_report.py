"""Shared by the benchmarks: print a Markdown table and write it to a file; export a git revision to compare with."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_report(lines: list[str], out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten to {out}")


def export_revision(rev: str, folder: str) -> str:
    """Write the repository's files at git revision ``rev`` into ``folder``; return the short commit hash. With
    ``folder`` first on PYTHONPATH, ``import sb3_scratch_ppo`` then imports the package as it was at ``rev``."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return commit
