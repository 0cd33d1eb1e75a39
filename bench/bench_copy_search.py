"""How far the copy fill (`guide 0`) of a gap should search: up to the model's 8 s context on
each side, or `engine.guide.SEARCH_SECONDS` (60 s), on long held-out clips, against loop-repeat
and shaped noise. Same judge and scores as `daw-diffusion evaluate`. (Extensions search their
context only: see docs/benchmarks.md.)

    python bench/bench_copy_search.py --data data/real --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine import guide
from engine.pipeline import Pipeline
from engine.settings import RenderSettings
from engine.splice import splice
from engine.train import baselines
from engine.train.evaluate import load_clips
from engine.train.prepare import read_manifest
from engine.train.scores import JUDGE, chroma, log_mel, region_scores

from report import publish

RATE = 44_100
REACHES = {"copy, 8 s around": 8.0, "copy, 60 s around": 60.0}
GAPS = (0.5, 1.0, 2.0, 4.0)  # seconds


def fills(pipeline: Pipeline, audio: np.ndarray, start: int, end: int, seed: int) -> dict[str, np.ndarray]:
    """Each method's version of `audio` with `[start, end)` made anew (nothing sees the truth)."""
    fade = round(RenderSettings().crossfade * RATE)
    known = audio.copy()
    known[:, start:end] = 0
    out = {}
    for name, reach in REACHES.items():
        guide.SEARCH_SECONDS = reach
        rendered = pipeline.inpaint(known, RATE, [(start / RATE, end / RATE)], seed=seed).audio
        out[name] = splice(audio, rendered[:, start:end], start, end, fade)
    patches = {"loop-repeat": baselines.loop_repeat(known, start, end),
               "shaped noise": baselines.shaped_noise(known, start, end, JUDGE, round(4 * RATE), seed)}
    for name, patch in patches.items():
        out[name] = splice(audio, patch, start, end, fade)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/real"))
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--clip-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    clips = load_clips(read_manifest(args.data, "heldout"), args.clips, args.clip_seconds, args.seed)
    pipeline = Pipeline.from_checkpoint(None)
    rows: dict[tuple[str, str], list[dict]] = {}
    for k, (audio, _) in enumerate(clips):
        truth = (log_mel(audio), chroma(audio))
        middle = audio.shape[-1] // 2
        for seconds in GAPS:
            start = middle - round(seconds * RATE / 2)
            end = start + round(seconds * RATE)
            for name, out in fills(pipeline, audio, start, end, k).items():
                rows.setdefault((f"gap {seconds:g} s", name), []).append(region_scores(audio, out, start, end, truth))
    lines = [f"Copy search reach, {len(clips)} held-out clips of {args.clip_seconds:g} s (edits in the middle), "
             "bundled model's analysis; lower L1 and higher chroma are better.", "",
             "| region | method | log-mel L1 (dB) | chroma corr. | seam |", "|---|---|---:|---:|---:|"]
    for (case, name), scores in rows.items():
        mean = {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}
        lines.append(f"| {case} | {name} | {mean['log_mel_l1_db']:.2f} | {mean['chroma_correlation']:.3f} | "
                     f"{mean['seam']:.2f} |")
    publish("\n".join(lines), args.out, "bench_copy_search")


if __name__ == "__main__":
    main()
