"""Benchmarks write their table into docs/benchmarks.md between two `<!-- name -->` markers,
leaving the rest of the page (the prose that reads the numbers) as it is."""

from __future__ import annotations

from pathlib import Path


def publish(table: str, out: Path | None, name: str) -> None:
    """Print the table, and put it into `out` (when given) between the `name` markers."""
    print(table)
    if out is None:
        return
    text = out.read_text() if out.exists() else ""
    marker = f"<!-- {name} -->"
    body = f"{marker}\n{table}\n{marker}"
    parts = text.split(marker)
    out.write_text(parts[0] + body + parts[2] if len(parts) >= 3 else text.rstrip() + "\n\n" + body + "\n")
