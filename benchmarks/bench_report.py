"""Shared by the benchmarks: print a Markdown table and write it to a file."""

from pathlib import Path


def write_report(lines: list[str], out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten to {out}")
