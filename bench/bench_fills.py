"""Guided fills at their defaults against the model alone (unguided, `guide 1`) and what a
musician does without us (loop-repeat, noise shaped like the surroundings), on long held-out
clips: gaps of 0.5-4 s in the middle, and extensions of 1, 2 and 4 bars after the middle at the
tempo heard in the clip (what `extend --bars` does). Same judge and scores as `daw-diffusion
evaluate`.

    python bench/bench_fills.py --data data/real --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.pipeline import Pipeline
from engine.settings import RenderSettings
from engine.splice import splice
from engine.train import baselines
from engine.train.data import load_clips
from engine.train.manifest import read_manifest
from engine.train.scores import JUDGE, audio_chroma, log_mel, mean_rows, region_scores

from report import publish

RATE = 44_100
GAPS = (0.5, 1.0, 2.0, 4.0)  # seconds
BARS = (1, 2, 4)


def gap_fills(pipeline: Pipeline, audio: np.ndarray, start: int, end: int, seed: int) -> dict[str, np.ndarray]:
    """Each method's version of `audio` with `[start, end)` made anew (nothing sees the truth)."""
    fade = round(RenderSettings().crossfade * RATE)
    known = audio.copy()
    known[:, start:end] = 0
    out = {}
    for name, settings in (("default (copy)", pipeline.settings), ("model alone", replace(pipeline.settings, guide=1.0))):
        rendered = pipeline.inpaint(known, RATE, [(start / RATE, end / RATE)], seed=seed, settings=settings).audio
        out[name] = splice(audio, rendered[:, start:end], start, end, fade)
    patches = {"loop-repeat": baselines.loop_repeat(known, start, end),
               "shaped noise": baselines.shaped_noise(known, start, end, JUDGE, round(4 * RATE), seed)}
    for name, patch in patches.items():
        out[name] = splice(audio, patch, start, end, fade)
    return out


def extension_fills(pipeline: Pipeline, audio: np.ndarray, start: int, bars: int,
                    seed: int) -> tuple[int, dict[str, np.ndarray]]:
    """The end of the extension by `bars` of `audio[:, :start]`, and each method's version of
    `audio` up to there with `[start, end)` made anew."""
    fade = round(RenderSettings().crossfade * RATE)
    out = {}
    for name, settings in (("default (copy)", pipeline.settings), ("model alone", replace(pipeline.settings, guide=1.0))):
        rendered = pipeline.outpaint(audio[:, :start], RATE, bars=bars, seed=seed, settings=settings).audio
        out[name] = rendered
    end = next(iter(out.values())).shape[-1]
    known = audio[:, :end].copy()
    known[:, start:end] = 0
    patches = {"loop-repeat": baselines.loop_repeat(known, start, end),
               "shaped noise": baselines.shaped_noise(known[:, :start], start, end, JUDGE, round(4 * RATE), seed)}
    for name, patch in patches.items():
        out[name] = splice(audio[:, :end], patch, start, end, fade, fade_end=False)
    return end, out


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
        truth = (log_mel(audio), audio_chroma(audio))
        middle = audio.shape[-1] // 2
        for seconds in GAPS:
            start = middle - round(seconds * RATE / 2)
            end = start + round(seconds * RATE)
            for name, out in gap_fills(pipeline, audio, start, end, k).items():
                rows.setdefault((f"gap {seconds:g} s", name), []).append(region_scores(audio, out, start, end, truth))
        for bars in BARS:
            end, fills = extension_fills(pipeline, audio, middle, bars, k)
            for name, out in fills.items():
                rows.setdefault((f"extension {bars} bar{'s' * (bars > 1)}", name), []).append(
                    region_scores(audio[:, :end], out, middle, end))
    lines = [f"Guided fills, {len(clips)} held-out clips of {args.clip_seconds:g} s (gaps in the middle, extensions "
             "after it, by bars at the tempo heard in the clip), bundled model at its defaults; lower L1 and higher "
             "chroma are better.", "",
             "| region | method | log-mel L1 (dB) | chroma corr. | seam |", "|---|---|---:|---:|---:|"]
    for (case, name), scores in rows.items():
        mean = mean_rows(scores)
        lines.append(f"| {case} | {name} | {mean['log_mel_l1_db']:.2f} | {mean['chroma_correlation']:.3f} | "
                     f"{mean['seam']:.2f} |")
    publish("\n".join(lines), args.out, "bench_fills")


if __name__ == "__main__":
    main()
