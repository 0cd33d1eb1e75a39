"""style_transfer: SDEdit. The source is noised to `strength` of the schedule and denoised: low
strength keeps the structure (notes, rhythm), high strength little more than the overall shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from engine.audio import check_audio
from engine.clip import Clip
from engine.diffusion import Diffuser
from engine.job import Render, RenderJob

if TYPE_CHECKING:
    from engine.pipeline import Pipeline

# Below this strength phase recovery starts from the source's phase: it then keeps the source's
# stereo image (L/R correlation within 0.02 at 0.1); from 0.2 up a fresh common phase for all
# channels keeps it better (docs/engine.md, "Phase and stereo").
SOURCE_PHASE_BELOW = 0.2


def sample(diffuser: Diffuser, mel: Tensor, strength: float) -> Tensor:
    return diffuser.sample(tuple(mel.shape), start=strength, init=mel, device=mel.device)


def phase_source(wave: Tensor, strength: float) -> Tensor | None:
    """Where phase recovery starts after an SDEdit of `wave` at `strength`: its own phase when
    the model changed it little, else a fresh one."""
    return wave if strength < SOURCE_PHASE_BELOW else None


def run(pipeline: Pipeline, job: RenderJob, audio: Clip, strength: float) -> Render:
    """`strength` 0 returns the source untouched."""
    source = pipeline.check_one_context(check_audio(audio.samples, audio.rate), audio.rate)
    if strength == 0:
        return Render(source.copy(), audio.rate, job.seed)
    wave = pipeline.to_model(source, audio.rate)
    mel = pipeline.sample(job, sample, pipeline.encode(wave), strength)
    out = pipeline.vocode(mel, wave.shape[-1], job, phase_source(wave, strength))
    return Render(pipeline.to_caller(out, audio.rate, source.shape[-1]), audio.rate, job.seed)
