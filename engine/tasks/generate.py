"""generate: new music from pure noise, `seconds` long or `bars` at `bpm`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from engine.diffusion import Diffuser
from engine.geometry import length_samples
from engine.job import Render, RenderJob
from engine.limits import check_result_size
from engine.meter import meter_from, time_info

if TYPE_CHECKING:
    from engine.pipeline import Pipeline


# How alike the starting noise of the audio channels is. Measured with the bundled model on 8
# generations of 10 s against 8 held-out clips (docs/engine.md, "Phase and stereo"): independent
# noise (0) made channels that were two different pieces (L/R correlation 0.41, Fréchet distance
# to held-out music 164); 0.5 / 0.75 / 0.9 gave 0.68 / 0.83 / 0.93 and 108 / 91 / 89.
CHANNEL_COHERENCE = 0.75


def sample(diffuser: Diffuser, shape: tuple[int, int, int, int], device: torch.device) -> Tensor:
    return diffuser.sample(shape, device=device, coherence=CHANNEL_COHERENCE)


def run(pipeline: Pipeline, job: RenderJob, seconds: float | None, bars: float | None, bpm: float | None,
        beats_per_bar: int | None, channels: int, sample_rate: int | None, n_variations: int) -> list[Render]:
    """`n_variations` clips; variation k uses seed `seed + k`, so any one of them can be
    re-rendered on its own."""
    out_rate = sample_rate or pipeline.sample_rate
    meter = meter_from(bpm, beats_per_bar, None) if bars is not None or bpm is not None else None
    out_samples = length_samples(seconds, bars, meter, out_rate, pipeline.max_seconds)
    check_result_size(channels, out_samples, out_rate, n_variations)
    job.check_variations(n_variations)
    samples = round(out_samples / out_rate * pipeline.sample_rate)
    spectral = pipeline.model.geometry
    shape = (1, channels, spectral.n_mels, spectral.frames_for(samples))
    renders = []
    for k in range(n_variations):
        variation = job.variation(k, n_variations)
        with pipeline.diffuser(variation) as diffuser:
            mel = sample(diffuser, shape, pipeline.device)
        audio = pipeline.resynthesize(mel, samples, variation)
        renders.append(Render(pipeline.to_caller(audio, out_rate, out_samples), out_rate, variation.seed,
                              time_info(meter, bars=bars)))
    return renders
