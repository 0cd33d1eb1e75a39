"""The clip's phrase: the lag at which its harmony repeats (a four-chord progression played
again), found from the chroma's self-similarity over the known frames. A gap is best filled
from the same place in another repetition of the phrase: the bars around a gap in a chord
progression differ from the gap itself, so matching surroundings alone picks a neighbouring bar
with the wrong chord (measured on FluidSynth progressions: `bench/bench_chords.py`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

SHORTEST_SECONDS = 1.5  # no shorter phrase (a bar of a fast 4/4, two of a slow one)
SMOOTH_SECONDS = 0.25  # chroma averaged over this much first: chords, not single notes
COMPARED_SECONDS = 1.5  # the least known audio a lag must have on both ends to count
CLEAR = 0.9  # a phrase's harmony must repeat at least this alike (cosine of smoothed chroma) ...
ABOVE_TYPICAL = 0.08  # ... and this much more than at a typical lag (else nothing repeats: one chord, noise)
NEAR_BEST = 0.02  # the shortest lag within this of the best wins (one phrase rather than two)
HEARD_TIMES = 1.45  # a repeat counts as the phrase only where the clip (first to last known frame) plays it
# this often: a 43-52 s loop heard 1.2 times, or an 8 s lag in 10 s before an extension, matched by chance
REFINE = 0.04  # the detail moves the period by at most this share of it


def lagged(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For every lag >= 0, the sum over t of `a[..., t] * b[..., t + lag]` (`[..., T]`, by FFT)."""
    frames = a.shape[-1]
    size = 1 << (2 * frames - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(b, size) * np.fft.rfft(a, size).conj(), size)[..., :frames]


def self_similarity(pitch: Tensor, known: Tensor, frame_rate: float) -> np.ndarray:
    """`[T]` mean cosine similarity of the smoothed chroma `pitch` `[12, T]` between known
    frames `lag` apart, for every lag (NaN where fewer than `COMPARED_SECONDS` pairs exist)."""
    mask = known.cpu().numpy().astype(float)
    width = max(1, round(SMOOTH_SECONDS * frame_rate))
    kernel = np.ones(width) / width
    smooth = np.stack([np.convolve(row, kernel, mode="same") for row in pitch.cpu().numpy() * mask])  # gaps unseen
    unit = smooth / np.maximum(np.linalg.norm(smooth, axis=0, keepdims=True), 1e-9) * mask
    pairs = lagged(mask, mask)
    alike = lagged(unit, unit).sum(0)
    out = np.full(pitch.shape[-1], np.nan)
    enough = pairs >= COMPARED_SECONDS * frame_rate
    out[enough] = alike[enough] / pairs[enough]
    return out


def phrase_period(pitch: Tensor, known: Tensor, frame_rate: float, detail: Tensor | None = None) -> float | None:
    """The phrase's length in frames (to a fraction of a frame), or None when the known harmony
    does not clearly repeat or the clip plays it fewer than `HEARD_TIMES` times; `detail` `[D, T]`
    (e.g. the mel, whose onsets are sharp in time) places it to the frame within `REFINE` of where
    the smoothed chroma put it."""
    similarity = self_similarity(pitch, known, frame_rate)
    similarity[: round(SHORTEST_SECONDS * frame_rate)] = np.nan
    if np.all(np.isnan(similarity)):
        return None
    best = np.nanmax(similarity)
    if best < CLEAR or best - np.nanmedian(similarity) < ABOVE_TYPICAL:
        return None
    near = np.nan_to_num(similarity, nan=-1) >= best - NEAR_BEST
    first = int(np.argmax(near))
    end = first + int(np.argmin(near[first:])) if not near[first:].all() else len(near)
    top = first + int(np.nanargmax(similarity[first:end]))  # the top of the first peak that high
    if detail is not None:
        top = sharpest(detail, known, top, max(1, round(REFINE * top)))
    around = similarity[top - 1: top + 2]
    period = float(top)
    if len(around) == 3 and not np.isnan(around).any():
        bend = around[0] - 2 * around[1] + around[2]  # a parabola through the top and its neighbours
        period += float(np.clip(0.5 * (around[0] - around[2]) / bend, -0.5, 0.5)) if bend < 0 else 0.0
    played = torch.nonzero(known).flatten()
    return period if int(played[-1] - played[0]) + 1 >= HEARD_TIMES * period else None


def sharpest(detail: Tensor, known: Tensor, lag: int, reach: int) -> int:
    """The lag within `reach` of `lag` at which `detail` `[D, T]` repeats best (mean squared
    difference between known frames that far apart, its rows standardised)."""
    rows = detail.cpu().numpy().astype(float)
    rows = (rows - rows.mean(1, keepdims=True)) / np.maximum(rows.std(1, keepdims=True), 1e-6)
    mask = known.cpu().numpy().astype(float)
    rows = rows * mask
    energy = (rows ** 2).sum(0)
    pairs = lagged(mask, mask)
    # |x_t - x_t+lag|^2 over the known pairs: both energies, less twice the cross term
    distance = (lagged(energy, mask) + lagged(mask, energy) - 2 * lagged(rows, rows).sum(0)) / \
        np.maximum(pairs * rows.shape[0], 1e-9)
    lags = np.arange(max(1, lag - reach), min(rows.shape[1] - 1, lag + reach) + 1)
    lags = lags[pairs[lags] > 0.5]
    return int(lags[np.argmin(distance[lags])]) if len(lags) else lag


def phrase_offsets(period: float, frames: int) -> Tensor:
    """`[2 * frames - 1]` bool over the offsets `-(frames - 1) .. frames - 1`: those near a
    whole number of phrases (within two frames and 1 %: a tempo that drifts a little), zero
    excluded. The search among them aligns the copy with its surroundings."""
    offsets = torch.arange(-(frames - 1), frames)
    count = torch.round(offsets / period)
    return (count != 0) & ((offsets - count * period).abs() <= 2 + 0.01 * offsets.abs())


def phrase_pieces(start: int, end: int, period: float, known: Tensor, hop: float,
                  samples: int) -> list[tuple[int, int, int | None]] | None:
    """How to fill samples `[start, end)` from the same place in other repetitions of a phrase
    `period` samples long: `(from, to, offset)` pieces, each copied from `offset` samples
    earlier (negative: later), the nearest repetition whose audio is known (`known` `[T]` over
    frames `hop` samples apart) and inside the clip's `samples`; a gap across a phrase's end
    takes each side from its own repetition (each piece nudged by up to a frame where it would
    read past the clip). A part that no repetition covers is a piece with offset None (for the
    caller to fill otherwise); None when no part is covered."""
    step = max(1, round(hop))
    positions = np.arange(start, end, step)
    known_frames = known.cpu().numpy()
    choice = np.zeros(len(positions), dtype=int)
    reach = int(samples // period) + 1
    for k in sorted((k for k in range(-reach, reach + 1) if k), key=lambda k: (abs(k), -k)):  # nearest, earlier first
        shift = round(k * period)
        source = positions - shift
        # inside the clip, give or take a frame (the period is known to a fraction of one)
        inside = (source >= -step) & (np.minimum(positions + step, end) - shift <= samples + step)
        frames = np.clip(np.round(source / hop).astype(int), 0, len(known_frames) - 1)
        usable = inside & known_frames[frames] & (choice == 0)
        choice[usable] = k
    if (choice == 0).all():
        return None
    pieces, first = [], 0
    for j in range(1, len(positions) + 1):
        if j == len(positions) or choice[j] != choice[first]:
            piece_end = end if j == len(positions) else int(positions[j])
            shift = round(choice[first] * period)
            shift = min(max(shift, piece_end - samples), int(positions[first]))  # nudged to read only the clip
            pieces.append((int(positions[first]), piece_end, shift if choice[first] and shift else None))
            first = j
    return pieces
