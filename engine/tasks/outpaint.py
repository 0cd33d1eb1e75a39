"""outpaint (extend): add `seconds`, or `bars` at `bpm` (else at the tempo heard in the audio:
an exact number of samples per bar), to the right or left. The original comes back
bit-identical except the `crossfade` seconds at the seam, where it blends into the
continuation. Below `guide` 1 the continuation is a region to fill (`inpaint.fill`, from the
clip's best-matching copy); at 1 the model continues the clip window after window."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from engine.audio import check_audio
from engine.clip import Clip
from engine.diffusion import Diffuser
from engine.errors import BadParameter
from engine.geometry import edge_frames, length_samples
from engine.job import Render, RenderJob
from engine.limits import check_result_size
from engine.loudness import like_surroundings
from engine.meter import meter_from, time_info
from engine.splice import splice
from engine.tasks import inpaint

if TYPE_CHECKING:
    from engine.pipeline import Pipeline


def sample(diffuser: Diffuser, mel: Tensor, new_frames: int, direction: str,
           context_frames: int, window_frames: int, mode: str) -> Tensor:
    """Extend `mel` by `new_frames`. Each window sees up to `context_frames` of what is already
    there and adds at most `window_frames - context_frames` frames, so an extension longer than
    one model context is built window after window, each continuing the last. Returns the whole
    extended mel."""
    context_frames = min(context_frames, window_frames // 2)
    out = mel
    remaining = new_frames
    while remaining > 0:
        context = min(out.shape[-1], context_frames)
        grow = min(remaining, window_frames - context)
        blank = torch.zeros(*out.shape[:-1], grow, device=out.device)
        unknown = torch.zeros(context + grow, dtype=torch.bool)
        if direction == "right":
            window = torch.cat((out[..., out.shape[-1] - context:], blank), dim=-1)
            unknown[context:] = True
            filled = inpaint.sample(diffuser, window, unknown, mode)
            out = torch.cat((out, filled[..., context:]), dim=-1)
        else:
            window = torch.cat((blank, out[..., :context]), dim=-1)
            unknown[:grow] = True
            filled = inpaint.sample(diffuser, window, unknown, mode)
            out = torch.cat((filled[..., :grow], out), dim=-1)
        remaining -= grow
    return out


def run(pipeline: Pipeline, job: RenderJob, audio: Clip, seconds: float | None, direction: str, mode: str,
        bars: float | None, bpm: float | None, beats_per_bar: int | None, beat_offset: float | None) -> Render:
    rate = audio.rate
    source = check_audio(audio.samples, rate)
    meter = None
    if bars is not None or bpm is not None:
        meter = meter_from(bpm, beats_per_bar, beat_offset, source, rate)
    grow = length_samples(seconds, bars, meter, rate, 4 * pipeline.max_seconds)
    check_result_size(source.shape[0], source.shape[-1] + grow, rate)
    info = time_info(meter, bars=bars)
    s, right, samples = job.settings, direction == "right", source.shape[-1]
    fade = min(round(s.crossfade * rate), samples // 2)
    silence = np.zeros((source.shape[0], grow), dtype=np.float32)
    if s.guide < 1:  # the continuation as a region to fill, the seam's crossfade inside it
        if s.guide > 0 and grow / rate + s.context_seconds > pipeline.max_seconds:
            raise BadParameter(f"a guided extension reaches up to {pipeline.max_seconds - s.context_seconds:.0f} s "
                               "beyond its context; extend in steps, or with guide 1 (the model alone)")
        padded = np.concatenate((source, silence) if right else (silence, source), axis=1)
        span = (samples - fade, samples + grow) if right else (0, grow + fade)
        # one side to compare: a search wider than the context found copies with rougher seams (benchmarks.md)
        return replace(inpaint.fill(pipeline, job, padded, rate, [span], mode, s.context_seconds), info=info)
    return replace(continue_alone(pipeline, job, source, rate, grow, right, mode, fade), info=info)


def continue_alone(pipeline: Pipeline, job: RenderJob, source: np.ndarray, rate: int, grow: int, right: bool,
                   mode: str, fade: int) -> Render:
    """The model alone continues the last `context_seconds` of `source` by `grow` samples."""
    spectral, samples = pipeline.model.geometry, source.shape[-1]
    hop = spectral.hop_length
    keep = min(samples, round(job.settings.context_seconds * rate))
    wave = pipeline.to_model(source[:, samples - keep:] if right else source[:, :keep], rate)
    mel = pipeline.encode(wave)
    edge = edge_frames(spectral.n_fft, hop)  # the outermost frames saw padding, not music: redo them
    grow_model = math.ceil(grow * pipeline.sample_rate / rate)
    if right:
        known = mel[..., : mel.shape[-1] - edge]
        new_frames = (wave.shape[-1] + grow_model) // hop + 2 - known.shape[-1]
    else:
        known = mel[..., edge:]
        new_frames = edge + math.ceil(grow_model / hop) + 1
    window = pipeline.model.window_frames
    per_window = window - min(known.shape[-1], window // 2)
    job.segments = math.ceil(new_frames / per_window)
    with pipeline.diffuser(job) as diffuser:
        mel = sample(diffuser, known, new_frames, "right" if right else "left", known.shape[-1], window, mode)
    patch = pipeline.to_caller(pipeline.resynthesize(mel, (mel.shape[-1] - 1) * hop, job), rate, None)
    silence = np.zeros((source.shape[0], grow), dtype=np.float32)
    if right:  # the patch starts where the context starts
        base = np.concatenate((source, silence), axis=1)
        new = like_surroundings(patch[:, keep - fade: keep + grow], base, samples - fade, samples + grow, rate)
        out = splice(base, new, samples - fade, samples + grow, fade, fade_end=False)
    else:  # the patch starts `lead` samples before the context
        lead = round((new_frames - edge) * hop * rate / pipeline.sample_rate)
        base = np.concatenate((silence, source), axis=1)
        new = like_surroundings(patch[:, lead - grow: lead + fade], base, 0, grow + fade, rate)
        out = splice(base, new, 0, grow + fade, fade, fade_start=False)
    return Render(out, rate, job.seed)
