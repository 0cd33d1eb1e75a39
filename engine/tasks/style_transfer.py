"""style_transfer: SDEdit. The source is noised to `strength` of the schedule and denoised: low
strength keeps the structure (notes, rhythm), high strength little more than the overall shape.
The result keeps the source's phase and stereo image (`engine.resynthesis`) and its level (`engine.loudness`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from engine.audio import check_audio
from engine.clip import Clip
from engine.diffusion import Diffuser
from engine.job import Render, RenderJob
from engine.loudness import like_source
from engine.resynthesis import Keep

if TYPE_CHECKING:
    from engine.pipeline import Pipeline


def sample(diffuser: Diffuser, mel: Tensor, strength: float) -> Tensor:
    return diffuser.sample(tuple(mel.shape), start=strength, init=mel, device=mel.device)


def run(pipeline: Pipeline, job: RenderJob, audio: Clip, strength: float) -> Render:
    """`strength` 0 returns the source untouched."""
    source = pipeline.check_one_context(check_audio(audio.samples, audio.rate), audio.rate)
    if strength == 0:
        return Render(source.copy(), audio.rate, job.seed)
    wave = pipeline.to_model(source, audio.rate)
    with pipeline.diffuser(job) as diffuser:
        mel = sample(diffuser, pipeline.encode(wave), strength)
    out = pipeline.resynthesize(mel, wave.shape[-1], job, Keep.source(wave, strength))
    styled = pipeline.to_caller(out, audio.rate, source.shape[-1])
    return Render(like_source(styled, source, audio.rate), audio.rate, job.seed)
