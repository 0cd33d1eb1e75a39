"""Chords change on bar lines. In a clip that plays its phrase more than once
(`engine.phrase.HEARD_TIMES` times), a part of a gap that no repetition covers is split at the lines
inside it where the chord may change: before the first it continues the chord heard since its
bar began, after the last it leads into the chord heard until its bar ends. Each such part keeps
the gap's best-matching copy (`engine.guide`) where that already carries the chord, else is
copied from the clip's material a whole number of beats away (the rhythm lines up) whose chroma
is nearest that chord, the nearest such material first. Whole bars in between keep the
best-matching copy: their chord is not in the audio around them.

Where the caller gives no downbeat, the lines are heard: the beat from `engine.meter`, and how
many beats a chord lasts (and on which beat it changes) from how much the chroma changes there,
the gaps themselves unheard (the edge of a silent gap is not a chord change)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from engine.meter import ANALYSIS_RATE, HOP, N_FFT, Envelopes, Meter, estimate_meter, onset_envelopes

ON_LINE = 0.125  # an edge within this share of a bar from a bar line is on it
LEAST_HEARD = 0.25  # a part's chord is read from at least this share of a bar ...
NEAR_BEST = 0.02  # ... and any material this near the best chroma match counts as it (the nearest wins)
KEEP_WITHIN = 0.05  # the gap's best-matching copy stays where its chord is this near the best match
NUDGE = 0.1  # a copy may move this share of a beat off the beat grid to clear a gap (lines are heard to about that)
CHORD_BEATS = (1, 2, 3, 4, 6, 8)  # how many beats a chord may last
SHORTEST_WITHIN = 0.75  # the fewest beats whose lines catch this share of the best lines' change wins
CLEAR_CHANGE = 1.5  # heard lines must change this much more than the clip does on average (else the meter's bars)

Span = tuple[int, int]


@dataclass(frozen=True)
class Grid:
    """Where chords may change, in samples of the caller's audio: a line at `line`, then every
    `bar` samples (a bar, or however long the clip's chords last); `beat` samples per beat."""
    line: float
    bar: float
    beat: float

    @classmethod
    def of(cls, meter: Meter, sample_rate: int, line: float | None = None, beats: int | None = None) -> Grid:
        """Lines every `beats` of `meter`'s beats (default: a bar) through `line` seconds
        (default: its downbeat)."""
        beat = meter.beat_seconds * sample_rate
        line = (meter.beat_offset or 0.0) if line is None else line
        return cls(line * sample_rate, beat * (beats or meter.beats_per_bar), beat)

    def shifted(self, samples: int) -> Grid:
        """The same lines counted from `samples` later (a window's start)."""
        return Grid(self.line - samples, self.bar, self.beat)

    def line_before(self, sample: float) -> float:
        """The last line at or before `sample`."""
        return self.line + math.floor((sample - self.line) / self.bar) * self.bar


Part = tuple[int, int, "Span | None"]


def chord_parts(start: int, end: int, grid: Grid, samples: int) -> list[Part]:
    """`[start, end)` split at the lines inside it, each part with the stretch `(from, to)` of
    its own bar that tells its chord (None for whole bars): before the gap for the first part,
    after it for the last, before it for a gap inside one bar."""
    tolerance = ON_LINE * grid.bar
    cuts = [start]
    line = grid.line_before(start) + grid.bar
    while line < end - tolerance:
        if line > start + tolerance:
            cuts.append(round(line))
        line += grid.bar
    cuts.append(end)
    parts: list[Part] = [(a, b, None) for a, b in zip(cuts[:-1], cuts[1:])]
    least = LEAST_HEARD * grid.bar
    heard_before = start - max(0, round(grid.line_before(start + tolerance)))
    heard_after = min(samples, round(grid.line_before(end - tolerance) + grid.bar)) - end
    if heard_before >= least:
        parts[0] = (parts[0][0], parts[0][1], (start - heard_before, start))
    if heard_after >= least and parts[-1][2] is None:
        parts[-1] = (parts[-1][0], parts[-1][1], (end, end + heard_after))
    return parts


def chord_shift(pitch: Tensor, known: Tensor, hop: float, samples: int, holes: list[Span], part: Span,
                heard: Span, beat: float, keep: int | None) -> int | None:
    """The shift in samples (positive: from before) for `part`: `keep` (the gap's best-matching
    copy) where its material carries the chord of the `heard` stretch within `KEEP_WITHIN` of
    the best match, else of whole beats (give or take `NUDGE`) the one whose material's chroma
    is nearest that stretch's, among those reading no `holes` and nothing outside the audio's
    `samples` (of those within `NEAR_BEST` of the best, the nearest); `keep` when nothing is heard or
    nothing is in reach. `pitch` `[12, T]` is the chroma over frames `hop` samples apart,
    `known` `[T]` the frames that count."""
    frames = pitch.shape[-1]
    sums = np.concatenate((np.zeros((12, 1)), np.cumsum(pitch.cpu().numpy() * known.cpu().numpy(), 1)), 1)

    def chroma(a: float, b: float) -> np.ndarray:
        lo, hi = max(0, math.floor(a / hop)), min(frames, math.ceil(b / hop))
        return sums[:, max(lo, hi)] - sums[:, lo]

    target = chroma(*heard)
    if np.linalg.norm(target) == 0:
        return keep

    def match(shift: int) -> float:
        source = chroma(part[0] - shift, part[1] - shift)
        return float(source @ target / max(np.linalg.norm(source) * np.linalg.norm(target), 1e-9))

    scores: dict[int, float] = {}
    for k in range(1, int(samples / beat) + 1):
        for beats in (round(k * beat), -round(k * beat)):
            shift = clear_of(holes, part[0] - beats, part[1] - beats, NUDGE * beat, samples, beats)
            if shift is not None:
                scores[shift] = match(shift)
    if not scores:
        return keep
    top = max(scores.values())
    if keep is not None and match(keep) >= top - KEEP_WITHIN:
        return keep
    return min((shift for shift, score in scores.items() if score >= top - NEAR_BEST), key=lambda s: (abs(s), -s))


def clear_of(holes: list[Span], a: int, b: int, slack: float, samples: int, shift: int) -> int | None:
    """`shift` moved by at most `slack` samples so that its source `[a, b)` reads no hole and
    nothing outside `[0, samples)` (a line heard a little early or late), or None."""
    for c, d in holes:
        if a < d and c < b:
            move = d - a if d - a <= slack else -(b - c) if b - c <= slack else None
            if move is None:
                return None
            a, b, shift = a + move, b + move, shift - move
    if a < 0 or b > samples or any(a < d and c < b for c, d in holes):
        return None
    return shift


Grids = Callable[[], "Grid | None"]  # a grid worked out when first asked for


def heard_grid(meter: Meter | None, audio: np.ndarray, sample_rate: int, beats_per_bar: int | None,
               holes: list[Span]) -> Grids:
    """The chord lines of `audio` `[C, S]`, worked out the first time they are asked for
    (hearing them reads the whole clip): `meter`'s bar lines where its downbeat was given, else
    heard (`chord_lines`) with `meter`'s tempo if any; None where no steady beat is heard."""
    @functools.cache
    def grid() -> Grid | None:
        if meter is not None and meter.beat_offset is not None and not meter.downbeat_heard:
            return Grid.of(meter, sample_rate)
        envelopes = onset_envelopes(audio, sample_rate)
        heard = estimate_meter(audio, sample_rate, beats_per_bar or 4, None if meter is None else meter.bpm, envelopes)
        return None if heard is None else chord_lines(envelopes, sample_rate, heard, holes)
    return grid


def chord_lines(envelopes: Envelopes, sample_rate: int, meter: Meter, holes: list[Span]) -> Grid:
    """The lines every few beats (`CHORD_BEATS`) of `meter`'s beat, on whichever beat, where
    the chroma changes most (`engine.meter.onset_envelopes` of the audio at `sample_rate`) (unheard around the `holes`): the fewest beats whose
    lines catch `SHORTEST_WITHIN` of the most change (a chord a bar long also changes on every
    second bar line, but not on every half bar); `meter`'s bars where no lines stand out."""
    _, _, change, rate = envelopes
    # change frame t compares the chroma frames up to t + 1 with those after, centred half a hop apart
    latency = (1.5 * HOP + N_FFT / 2) / ANALYSIS_RATE  # so it is about the audio at t / rate + latency
    margin = N_FFT / HOP + 16  # frames whose window or chroma comparison reaches into a hole
    heard = np.ones(len(change), bool)
    for a, b in holes:
        heard[max(0, math.floor((a / sample_rate - latency) * rate - margin)):
              max(0, math.ceil((b / sample_rate - latency) * rate + margin))] = False
    beat_seconds = meter.beat_seconds
    first = meter.beat_offset or 0.0
    typical = change[heard].mean() if heard.any() else 0.0

    def change_at(start: float, every: float) -> float | None:
        """The mean change at the heard lines `start + k * every` seconds, against the clip's."""
        times = start + np.arange(-math.ceil(len(change) / rate / every) - 1, math.ceil(len(change) / rate / every) + 1) * every
        at = np.round((times - latency) * rate).astype(int)
        at = at[(at >= 0) & (at < len(change))]
        at = at[heard[at]]
        return change[at].mean() / max(typical, 1e-9) if len(at) >= 2 else None

    scores = {(beats, on): score for beats in CHORD_BEATS for on in range(beats)
              if (score := change_at(first + on * beat_seconds, beats * beat_seconds)) is not None}
    if not scores or max(scores.values()) < CLEAR_CHANGE:
        return Grid.of(meter, sample_rate)
    top = max(scores.values())
    beats = min(b for (b, _), score in scores.items() if score >= SHORTEST_WITHIN * top)
    on = max((o for b, o in scores if b == beats), key=lambda o: scores[beats, o])
    start = first + on * beat_seconds
    # the beat's phase comes from onsets; the lines go where the chroma changes, within a tenth of a beat
    nudges = np.arange(-round(0.1 * beat_seconds * rate), round(0.1 * beat_seconds * rate) + 1) / rate
    start += max(nudges, key=lambda n: change_at(start + n, beats * beat_seconds) or 0.0)
    return Grid.of(meter, sample_rate, start, beats)


def from_window(grids: Grids | None, start: int) -> Grids:
    """`grids` counted from sample `start` (a window's first)."""
    return lambda: None if grids is None or (grid := grids()) is None else grid.shifted(start)
