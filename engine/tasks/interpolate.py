"""interpolate: a blend of two clips. Both are noised to `strength`, blended by `ratio` (0 = all
the first) and denoised. Noising each with independent noise and mixing the noises with
power-preserving weights is, in distribution, the same as noising the linear blend once, which
is what is done. The result has the first clip's length, channels and sample rate: the second is
trimmed or looped to its length, and a mono second clip is spread over its channels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from engine.audio import check_audio, fit_length
from engine.clip import Clip
from engine.diffusion import Diffuser
from engine.errors import BadAudio
from engine.job import Render, RenderJob
from engine.loudness import like_sources
from engine.resynthesis import Keep

if TYPE_CHECKING:
    from engine.pipeline import Pipeline


def sample(diffuser: Diffuser, mel_a: Tensor, mel_b: Tensor, ratio: float, strength: float) -> Tensor:
    blend = torch.lerp(mel_a, mel_b, ratio)
    return diffuser.sample(tuple(blend.shape), start=strength, init=blend, device=blend.device)


def run(pipeline: Pipeline, job: RenderJob, a: Clip, b: Clip, ratio: float, strength: float) -> Render:
    first = pipeline.check_one_context(check_audio(a.samples, a.rate, "first clip"), a.rate)
    second = check_audio(b.samples, b.rate, "second clip")
    if second.shape[0] not in (1, first.shape[0]):
        raise BadAudio(f"the clips have {first.shape[0]} and {second.shape[0]} channels; give the second clip "
                       f"{first.shape[0]} channels or one")
    wave_a = pipeline.to_model(first, a.rate)
    wave_b = fit_length(pipeline.to_model(second, b.rate), wave_a.shape[-1]).expand_as(wave_a)
    with pipeline.diffuser(job) as diffuser:
        mel = sample(diffuser, pipeline.encode(wave_a), pipeline.encode(wave_b), ratio, strength)
    nearer = wave_a if ratio <= 0.5 else wave_b  # whose phase and stereo image the blend keeps
    out = pipeline.resynthesize(mel, wave_a.shape[-1], job, Keep.source(nearer, strength))
    blend = pipeline.to_caller(out, a.rate, first.shape[-1])
    # at the sources' loudness, blended in dB by the ratio; never above either's true peak or -1 dBTP
    level = like_sources(blend, a.rate, [(first, a.rate, 1 - ratio), (second, b.rate, ratio)])
    return Render(level, a.rate, job.seed)
