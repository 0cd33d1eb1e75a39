"""Two models at their defaults, in one run, interleaved: 10 s stereo style transfer, 10 s
generation, and the live path's job (2 s at strength 0.4), so a new default can be held
against the one it replaces (the model issue's speed targets: < 1 s, < 2 s, < 300 ms to the
first sample).

    .venv/bin/python bench/bench_models.py --compare previous.safetensors --out docs/benchmarks.md

Medians over interleaved repeats; the machine is shared, so read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from engine.demo import chord_progression
from engine.pipeline import Pipeline

from report import publish

RATE = 44_100


def jobs(pipeline: Pipeline) -> dict:
    ten = chord_progression(10.0, RATE)
    two = ten[:, : 2 * RATE]
    return {"style transfer, 10 s stereo": lambda: pipeline.style_transfer(ten, RATE, 0.5, seed=0),
            "generate 10 s": lambda: pipeline.generate(10.0, seed=0),
            "live job: style 2 s at 0.4": lambda: pipeline.style_transfer(two, RATE, 0.4, seed=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="the model under test (default: the bundled one)")
    parser.add_argument("--compare", type=Path, required=True, help="the model it is held against")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    models = {"this model": Pipeline.from_checkpoint(args.checkpoint, "cpu"),
              "compared": Pipeline.from_checkpoint(args.compare, "cpu")}
    work = {name: jobs(p) for name, p in models.items()}
    for calls in work.values():  # warm-up
        for call in calls.values():
            call()
    times: dict = {name: {job: [] for job in calls} for name, calls in work.items()}
    for _ in range(args.repeats):
        for name, calls in work.items():
            for job, call in calls.items():
                start = time.perf_counter()
                call()
                times[name][job].append(time.perf_counter() - start)
    rows = ["| job | this model (s) | compared (s) | ratio |", "|---|---:|---:|---:|"]
    for job in work["this model"]:
        new, old = (statistics.median(times[name][job]) for name in ("this model", "compared"))
        rows.append(f"| {job} | {new:.3f} | {old:.3f} | {new / old:.2f}x |")
    publish("\n".join(rows), args.out, "bench_models")


if __name__ == "__main__":
    main()
