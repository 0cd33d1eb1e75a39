"""vary: a variation of a loop that stays a loop, the same length to the sample (so the same
tempo and bars) with a seamless wrap. The loop is re-imagined as it plays three times over (so
the model hears what comes before and after it); the middle pass is kept, and its first
`crossfade` seconds fade in from what followed its end, so that the end runs into the start. It
comes back at the loop's own level (`engine.loudness`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.audio import below_full_scale, check_audio
from engine.clip import Clip
from engine.errors import BadAudio
from engine.job import Render, RenderJob
from engine.loudness import like_source
from engine.resynthesis import Keep
from engine.tasks.style_transfer import sample

if TYPE_CHECKING:
    from engine.pipeline import Pipeline


def run(pipeline: Pipeline, job: RenderJob, audio: Clip, strength: float) -> Render:
    rate = audio.rate
    source = check_audio(audio.samples, rate)
    samples = source.shape[-1]
    if 3 * samples > pipeline.max_seconds * rate:
        raise BadAudio(f"the loop is {samples / rate:.1f} s long; vary hears it three times over, so it "
                       f"works on loops of up to {pipeline.max_seconds / 3:.1f} s")
    if strength == 0:
        return Render(source.copy(), rate, job.seed)
    played = pipeline.to_model(np.tile(source, 3), rate)
    with pipeline.diffuser(job) as diffuser:
        mel = sample(diffuser, pipeline.encode(played), strength)
    out = pipeline.resynthesize(mel, played.shape[-1], job, Keep.source(played, strength))
    three = pipeline.to_caller(out, rate, 3 * samples)
    fade = min(round(job.settings.crossfade * rate), samples // 2)
    loop = three[:, samples: 2 * samples].copy()
    if fade:  # the wrap: what followed the end, fading into the loop's own start (amplitudes
        # sum to one: the two are the same material, not the unrelated signals of `splice`)
        ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
        loop[:, :fade] = three[:, 2 * samples: 2 * samples + fade] * (1 - ramp) + loop[:, :fade] * ramp
    return Render(like_source(below_full_scale(loop), source, rate), rate, job.seed)
