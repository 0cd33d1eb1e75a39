"""Frame geometry: seconds <-> samples <-> STFT frames, region spans, context groups and the
edges of an extension. Numbers only; the tasks use these to know which frames they change."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from engine.diffusion.diffuser import number
from engine.errors import BadParameter
from engine.limits import check_region_count
from engine.meter import Meter

MIN_SECONDS = 0.01  # the shortest length a task makes (a few STFT hops)


def max_seconds(window_frames: int, hop: int, sample_rate: int) -> float:
    """One model context in seconds: its `window_frames` at its hop (8192 frames at hop 512: 95.1 s)."""
    return (window_frames - 1) * hop / sample_rate


def edge_frames(n_fft: int, hop: int) -> int:
    """Frames at each end of an encoded clip whose windows reach past the audio (padding)."""
    return math.ceil(n_fft / 2 / hop)


def frames_touching(start: int, end: int, frames: int, hop: int, n_fft: int) -> Tensor:
    """`[frames]` bool: the (centred) STFT frames whose window overlaps samples `[start, end)`.
    Those are regenerated; every other frame only ever saw audio outside the region."""
    centres = torch.arange(frames) * hop
    return (centres + n_fft // 2 > start) & (centres - n_fft // 2 < end)


def check_seconds(name: str, value: float, maximum: float) -> float:
    if not number(value) or not MIN_SECONDS <= value <= maximum:
        raise BadParameter(f"{name} must be from {MIN_SECONDS:g} to {maximum:.1f} seconds, not {value!r}")
    return float(value)


def length_samples(seconds: float | None, bars: float | None, meter: Meter | None, sample_rate: int,
                   maximum: float) -> int:
    """A length given as `seconds` or as `bars` at `meter`, in samples at `sample_rate`."""
    if (seconds is None) == (bars is None):
        raise BadParameter("give the length in seconds or in bars (one of the two)")
    if bars is None:
        return round(check_seconds("seconds", seconds, maximum) * sample_rate)  # type: ignore[arg-type]
    if meter is None:
        raise BadParameter("a length in bars needs a tempo: give bpm")
    samples = meter.samples(bars, sample_rate)
    if not MIN_SECONDS <= samples / sample_rate <= maximum:
        raise BadParameter(f"{bars:g} bars at {meter.bpm:g} BPM are {samples / sample_rate:.3f} s; "
                           f"lengths go from {MIN_SECONDS:g} to {maximum:.1f} s")
    return samples


def region_samples(regions: Any, samples: int, sample_rate: int) -> list[tuple[int, int]]:
    """Validate (start, end) seconds against the audio; return sorted sample spans."""
    if not isinstance(regions, (list, tuple)) or not regions:
        raise BadParameter("give at least one region as (start, end) in seconds")
    check_region_count(len(regions))
    duration = samples / sample_rate
    spans = []
    for region in regions:
        try:
            start, end = (float(v) for v in region)
        except (TypeError, ValueError):
            raise BadParameter(f"a region must be (start, end) in seconds, not {region!r}") from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end > duration + 1e-9:
            raise BadParameter(f"region {start:g}-{end:g} s lies outside the audio (0-{duration:.3f} s)")
        if start >= end:
            raise BadParameter(f"region {start:g}-{end:g} s is empty: start must come before end")
        spans.append((round(start * sample_rate), min(samples, round(end * sample_rate))))
    return sorted(spans)


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` (sorted by start) with the overlapping or touching ones merged."""
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def group_spans(spans: list[tuple[int, int]], margin: int) -> list[list[tuple[int, int]]]:
    """Merge overlapping spans, then group those whose context windows (± margin) overlap,
    so each group is diffused once."""
    groups: list[list[tuple[int, int]]] = []
    for span in merge_spans(spans):
        if groups and span[0] - margin <= groups[-1][-1][1] + margin:
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups
