"""The clip's own material as the first draft of an edit: what a musician does by hand when a
bar is missing (copy the bar that fits), done by search.

For a region to fill, every offset `p` is scored by how well the audio around the region
matches the audio around the region shifted by `p` (mel and chroma frames, nearer frames
weighing more, both sides where both are known); the best offset's material is copied in. A
copy that would read the region itself repeats with period `p`, as a loop does (an extension
longer than the context it continues). `engine.tasks.inpaint` crossfades the copy in, and the model refines
it from noise level `guide` (0: the copy alone).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import conv1d

from engine.metrics import chroma
from engine.splice import equal_power_fade

Signal = TypeVar("Signal", np.ndarray, Tensor)

NEIGHBOURHOOD_SECONDS = 2.0  # audio compared on each side of a gap
ONE_SIDE_SECONDS = 1.0  # ... where only one side is known (an extension): the nearer second decides
MIN_PERIOD_SECONDS = 1.0  # no shorter loops than this (a beat or two at any usual tempo)
SEARCH_SECONDS = 60.0  # how far a gap's copy may come from, on each side (an earlier chorus)


def harmony(magnitude: Tensor, sample_rate: int, n_fft: int) -> Tensor:
    """`[12, T]` chroma of the channels' mean STFT magnitude `[C, bins, T]`."""
    return torch.from_numpy(chroma(magnitude.mean(0).cpu().numpy(), sample_rate, n_fft)).float()


def match_features(mel: Tensor, pitch: Tensor, known: Tensor) -> Tensor:
    """`[F + 12, T]` features to compare: the channels' mean scaled mel `[C, F, T]`, and the
    chroma `pitch` (`harmony`) standardised over the known frames (weight 1 against the mel:
    measured on held-out tracks, it keeps the key without losing the timbre)."""
    reference = pitch[:, known.cpu()] if known.any() else pitch
    pitch = (pitch - reference.mean()) / reference.std().clamp(min=1e-6)
    return torch.cat((mel.mean(0).float().cpu(), pitch), dim=0)


def proximity_weights(frames: int) -> Tensor:
    """`[frames]` weights falling linearly from the region's edge (first) outwards."""
    return torch.linspace(1.0, 1.0 / frames, frames)


def side_distances(features: Tensor, known: Tensor, first: int, width: int, weights: Tensor) -> Tensor:
    """Weighted mean squared distance between the `width` frames from `first` and the `width`
    frames at every position `j` (`[T - width + 1]`); infinite where those are not all known."""
    template = features[:, first: first + width] * weights
    cross = conv1d(features[None], template[None])[0, 0]
    energy = conv1d(features.square().sum(0)[None, None], weights[None, None])[0, 0]
    distance = (energy - 2 * cross + (template * features[:, first: first + width]).sum()) / weights.sum()
    whole = conv1d((~known).float()[None, None], torch.ones(1, 1, width))[0, 0] == 0
    return torch.where(whole, distance, torch.inf)


def best_offset(features: Tensor, known: Tensor, start: int, end: int, frame_rate: float,
                neighbourhood: float | None = None, allowed: Tensor | None = None) -> int | None:
    """The offset in frames (positive: material from before) whose `neighbourhood` seconds
    (default: `NEIGHBOURHOOD_SECONDS` around a gap, `ONE_SIDE_SECONDS` beside a region known on
    one side only) best match those around the region `[start, end)`; `features` `[F, T]`,
    `known` `[T]` bool, `allowed` `[2T - 1]` bool over the offsets `-(T - 1) .. T - 1` (None:
    all). Offsets compared on both sides win over those compared on one; None
    when no offset has known material both to copy and to compare."""
    frames, length = features.shape[-1], end - start
    both = 0 < start and end < frames and bool(known[start - 1]) and bool(known[end])
    if neighbourhood is None:
        neighbourhood = NEIGHBOURHOOD_SECONDS if both else ONE_SIDE_SECONDS
    width = max(1, round(neighbourhood * frame_rate))
    offsets = torch.arange(-(frames - 1), frames)
    total, compared, sides = torch.zeros(offsets.shape), torch.zeros(offsets.shape, dtype=torch.long), 0
    for first, w, outward in ((start - min(width, start), min(width, start), False),
                              (end, min(width, frames - end), True)):
        if w == 0 or not known[first: first + w].all():
            continue
        weights = proximity_weights(w) if outward else proximity_weights(w).flip(0)
        distances = side_distances(features, known, first, w, weights)
        positions = first - offsets  # where the compared frames start, for each offset
        score = torch.full(offsets.shape, torch.inf)
        inside = (positions >= 0) & (positions < distances.shape[0])
        score[inside] = distances[positions[inside]]
        total += torch.where(score.isfinite(), score, 0.0)
        compared += score.isfinite()
        sides += 1
    usable = copy_is_known(known, start, end, offsets) & \
        (offsets.abs() >= min(round(MIN_PERIOD_SECONDS * frame_rate), length))
    if allowed is not None:
        usable &= allowed
    for needed in (sides, 1):  # both sides if any offset allows it, else one
        candidates = usable & (compared >= needed) & (compared > 0)
        if candidates.any():
            return int(offsets[torch.where(candidates, total / compared.clamp(min=1), torch.inf).argmin()])
    return None


def copy_is_known(known: Tensor, start: int, end: int, offsets: Tensor) -> Tensor:
    """For each offset, whether filling `[start, end)` from it reads only known frames (a copy
    that would reach into the region itself loops what it has already copied)."""
    ahead = offsets > 0
    lo = torch.where(ahead, start - offsets, torch.maximum(torch.tensor(end), start - offsets))
    hi = torch.where(ahead, torch.minimum(torch.tensor(start), end - offsets), end - offsets)
    unknown_before = torch.cat((torch.zeros(1, dtype=torch.long), torch.cumsum((~known).long(), 0)))
    bounded = (offsets != 0) & (lo >= 0) & (hi <= known.shape[0]) & (hi > lo)
    lo, hi = lo.clamp(0, known.shape[0]), hi.clamp(0, known.shape[0])
    return bounded & (unknown_before[hi] == unknown_before[lo])


def copy_fill(signal: Signal, start: int, end: int, offset: int, fade: int = 0) -> Signal:
    """`[..., end - start]`: the samples (or frames) `offset` before (negative: after) each one
    in the region, repeating with period `|offset|` where that would read the region itself.
    With `fade`, a repeating copy crosses each loop point without a click: the period's end
    fades (equal power) into what precedes its start in `signal` (copying from after: its start
    fades in from what follows its end), where `signal` holds that much."""
    out = signal.clone() if isinstance(signal, Tensor) else signal.copy()
    period, fade = abs(offset), min(fade, abs(offset) // 2)
    if fade and period < end - start:  # the copy loops: smooth the loop point in the period copied
        fade_out, fade_in = (torch.from_numpy(w).to(out) if isinstance(out, Tensor) else w for w in equal_power_fade(fade))
        if offset > 0 and start - period - fade >= 0:
            before = signal[..., start - period - fade: start - period]
            out[..., start - fade: start] = out[..., start - fade: start] * fade_out + before * fade_in
        elif offset < 0 and end + period + fade <= signal.shape[-1]:
            after = signal[..., end + period: end + period + fade]
            out[..., end: end + fade] = after * fade_out + out[..., end: end + fade] * fade_in
    if offset > 0:
        for t in range(start, end, offset):
            stop = min(end, t + offset)
            out[..., t:stop] = out[..., t - offset: stop - offset]
    else:
        for t in range(end, start, -period):
            lo = max(start, t - period)
            out[..., lo:t] = out[..., lo + period: t + period]
    return out[..., start:end]
