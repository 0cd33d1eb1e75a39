"""inpaint: regenerate regions given in seconds (moved to the nearest beat or bar lines with
`snap`, at `bpm` or else at the tempo heard in the audio). Every other sample comes back
bit-identical, with an equal-power crossfade inside each region's edges. Below `guide` 1 each
region starts as the clip's best-matching copy (`engine.guide`), which the model refines from
noise level `guide`, Griffin-Lim starting from its phase; at 0 the copy is the result, and the
search for a gap reaches `engine.guide.SEARCH_SECONDS` on each side (a chorus a minute earlier), not
only the model's context."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from engine import guide as matching
from engine.audio import check_audio
from engine.bars import Grids, chord_parts, chord_shift, from_window, heard_grid
from engine.clip import Clip
from engine.diffusion import Diffuser
from engine.geometry import frames_touching, group_spans, merge_spans, region_samples
from engine.job import Render, RenderJob
from engine.loudness import copy_gain, like_surroundings
from engine.meter import meter_from, time_info
from engine.phrase import phrase_offsets, phrase_period, phrase_pieces
from engine.resynthesis import Keep
from engine.splice import splice

if TYPE_CHECKING:
    from engine.pipeline import Pipeline


def sample(diffuser: Diffuser, mel: Tensor, unknown: Tensor, mode: str,
           draft: Tensor | None = None, guide: float = 1.0) -> Tensor:
    """Regenerate the frames where `unknown` `[frames]` is True, keeping all others; from a
    `draft` of the whole mel noised to `guide` of the schedule when given (SDEdit)."""
    return diffuser.sample(tuple(mel.shape), start=guide if draft is not None else 1.0, init=draft,
                           known=mel, unknown=unknown, mode=mode, device=mel.device)


def run(pipeline: Pipeline, job: RenderJob, audio: Clip, regions: list, mode: str, snap: str | None,
        bpm: float | None, beats_per_bar: int | None, beat_offset: float | None) -> Render:
    rate = audio.rate
    source = check_audio(audio.samples, rate)
    spans = region_samples(regions, source.shape[-1], rate)
    meter = None
    if snap is not None or bpm is not None:
        meter = meter_from(bpm, beats_per_bar, beat_offset, source, rate, downbeat=snap is not None)
    if snap is not None and meter is not None:
        duration = source.shape[-1] / rate
        snapped = [meter.snap(a / rate, b / rate, snap, duration) for a, b in spans]
        spans = sorted((round(a * rate), round(b * rate)) for a, b in snapped)
    render = fill(pipeline, job, source, rate, spans, mode, grids=heard_grid(meter, source, rate, beats_per_bar, spans))
    regions = [[round(a / rate, 6), round(b / rate, 6)] for a, b in spans]
    return replace(render, info=time_info(meter, regions=regions))


def fill(pipeline: Pipeline, job: RenderJob, source: np.ndarray, rate: int, spans: list[tuple[int, int]],
         mode: str, reach: float | None = None, grids: Grids | None = None) -> Render:
    """Inpaint the sample `spans` of `source` (checked, at `rate`): at `guide` 0 each with its
    best-matching copy from up to `reach` seconds around it (default `SEARCH_SECONDS`); otherwise (and where nothing in
    reach can be copied) context group by context group, each group diffused once with
    `context_seconds` of audio on either side."""
    if job.settings.guide == 0:
        source, spans = copy_in(pipeline, job, source, rate, spans, matching.SEARCH_SECONDS if reach is None else reach,
                                grids)
        if not spans:
            job.check_cancel()
            job.report(1.0, "done")
            return Render(source, rate, job.seed)
    s, spectral = job.settings, pipeline.model.geometry
    margin = round(s.context_seconds * rate)
    groups = group_spans(spans, margin)
    job.segments = len(groups)
    fade = round(s.crossfade * rate)
    scale = pipeline.sample_rate / rate
    out = source
    for group in groups:
        lo, hi = max(0, group[0][0] - margin), min(source.shape[-1], group[-1][1] + margin)
        wave = pipeline.to_model(source[:, lo:hi], rate)
        mel = pipeline.encode(wave)
        runs = [frames_touching(math.floor((a - lo) * scale), math.ceil((b - lo) * scale), mel.shape[-1],
                                spectral.hop_length, spectral.n_fft) for a, b in group]
        unknown = torch.stack(runs).any(0)
        local = [(a - lo, b - lo) for a, b in group]
        copy = draft(pipeline, source[:, lo:hi], local, runs, wave, mel, unknown, rate, fade, from_window(grids, lo),
                     local) if 0 < s.guide < 1 else None
        start = pipeline.to_model(copy, rate) if copy is not None else None  # the model, from the copy if any
        init = pipeline.encode(start) if start is not None else None
        with pipeline.diffuser(job) as diffuser:
            mel = sample(diffuser, mel, unknown, mode, init, s.guide)
        patch = pipeline.to_caller(pipeline.resynthesize(mel, wave.shape[-1], job, Keep.draft(start)), rate, hi - lo)
        for a, b in group:  # a refined copy keeps the copy's level; the model alone takes the music's around it
            new = patch[:, a - lo:b - lo]
            out = splice(out, new if copy is not None else like_surroundings(new, out, a, b, rate), a, b, fade)
    return Render(out, rate, job.seed)


def copy_in(pipeline: Pipeline, job: RenderJob, source: np.ndarray, rate: int, spans: list[tuple[int, int]],
            seconds: float, grids: Grids | None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """`source` with each span replaced by its best-matching copy found within `seconds` on
    either side (every span counts as unknown there), crossfaded in; and the spans that had
    nothing in reach to copy."""
    spectral = pipeline.model.geometry
    fade, scale = round(job.settings.crossfade * rate), pipeline.sample_rate / rate
    # the copy may come from `seconds` away, so the window also holds what it is compared by
    reach = round((seconds + matching.NEIGHBOURHOOD_SECONDS) * rate) + spectral.n_fft
    merged = merge_spans(spans)
    out, left = source, []
    for a, b in merged:
        job.check_cancel()
        lo, hi = max(0, a - reach), min(source.shape[-1], b + reach)
        wave = pipeline.to_model(source[:, lo:hi], rate)
        mel = pipeline.encode(wave)

        def run_of(c: int, d: int) -> Tensor:
            return frames_touching(math.floor((max(c, lo) - lo) * scale), math.ceil((min(d, hi) - lo) * scale),
                                   mel.shape[-1], spectral.hop_length, spectral.n_fft)

        unknown = torch.stack([run_of(a, b)] + [run_of(c, d) for c, d in merged if c < hi and d > lo]).any(0)
        holes = [(c - lo, d - lo) for c, d in merged if c < hi and d > lo]
        copy = draft(pipeline, source[:, lo:hi], [(a - lo, b - lo)], [run_of(a, b)], wave, mel, unknown, rate, fade,
                     from_window(grids, lo), holes)
        if copy is None:
            left.append((a, b))
            continue
        out = splice(out, copy[:, a - lo:b - lo], a, b, fade)
    return out, left


def draft(pipeline: Pipeline, audio: np.ndarray, spans: list[tuple[int, int]], runs: list[Tensor], wave: Tensor,
          mel: Tensor, unknown: Tensor, rate: int, fade: int, grids: Grids,
          holes: list[tuple[int, int]]) -> np.ndarray | None:
    """`audio` (the caller's; `wave` and `mel` are it at the model's rate) with each span
    replaced by its best-matching copy, crossfaded in: from another repetition of the phrase
    where there is one, else each part of the span whose bar is heard (`grids`: the lines where
    chords change in `audio`) from material of that bar's chord, else the span's best match,
    never reading the `holes` (every span to fill in `audio`); None when some span has nothing
    in reach to copy (the model then works alone)."""
    spectral = pipeline.model.geometry
    magnitude = pipeline.model.stft(wave[0]).abs()
    pitch = matching.harmony(magnitude, pipeline.sample_rate, spectral.n_fft)
    features = matching.match_features(mel[0], pitch, ~unknown)
    frame_rate = spectral.frame_rate
    period = phrase_period(pitch, ~unknown, frame_rate, mel[0].mean(0))  # where the harmony repeats, copy from there
    same_place = phrase_offsets(period, mel.shape[-1]) if period else None
    hop = spectral.hop_length * rate / pipeline.sample_rate  # samples per frame at the caller's rate

    def by_chord(c: int, d: int, keep: int | None) -> list[tuple[int, int, int | None]]:
        """`[c, d)` split at bar lines, each part whose bar is heard copied from material of its
        chord (`keep`, the gap's best-matching copy, where that already has it), the rest `keep`."""
        grid = grids() if period else None
        if grid is None:  # without a phrase heard to repeat, the surroundings' likeness decides (held-out music)
            return [(c, d, keep)]
        samples = audio.shape[-1]
        return [(e, f, keep if heard is None else
                 chord_shift(pitch, ~unknown, hop, samples, holes, (e, f), heard, grid.beat, keep))
                for e, f, heard in chord_parts(c, d, grid, samples)]

    out = audio.copy()
    for (a, b), run_ in zip(spans, runs):
        frames = torch.nonzero(run_).flatten()
        first, last = int(frames[0]), int(frames[-1]) + 1
        offset = matching.best_offset(features, ~unknown, first, last, frame_rate, allowed=same_place)
        if offset is not None:  # a whole number of phrases away: one copy
            parts: list[tuple[int, int, int | None]] = [(a, b, round(offset * hop))]
        else:  # across a phrase's end, or at the clip's: each part from its own repetition, the rest by its chord
            pieces = (phrase_pieces(a, b, period * hop, ~unknown, hop, out.shape[-1]) if period else None) or [(a, b, None)]
            keep = None
            if any(shift is None for _, _, shift in pieces):  # the gap's best-matching copy, for what no repetition covers
                anywhere = matching.best_offset(features, ~unknown, first, last, frame_rate)
                keep = None if anywhere is None else round(anywhere * hop)
            parts = [part for c, d, shift in pieces
                     for part in ([(c, d, shift)] if shift is not None else by_chord(c, d, keep))]
        merged: list[tuple[int, int, int]] = []
        for c, d, shift in parts:
            if shift is None:  # nothing in reach to copy
                return None
            if merged and merged[-1][2] == shift:  # neighbours from the same place are one copy
                merged[-1] = (merged[-1][0], d, shift)
            else:
                merged.append((c, d, shift))
        for k, (c, d, shift) in enumerate(merged):
            inner = k < len(merged) - 1  # runs on under the next part's fade-in: the two copies crossfade
            e = min(b, d + fade, out.shape[-1] + min(0, shift)) if inner else d  # (reading nothing past the end)
            out = splice(out, matching.copy_fill(out, c, e, shift, fade) * copy_gain(out, c, e, shift, rate), c, e, fade,
                         fade_end=not inner)
    return out
