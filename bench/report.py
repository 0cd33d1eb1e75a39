"""What the benchmarks share: a median timer, and the table writer (into docs/benchmarks.md
between two `<!-- name -->` markers, leaving the rest of the page, the prose that reads the
numbers, as it is)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable


def median_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
