"""Musical time: a clip's tempo, meter and first downbeat, lengths in bars at an exact number
of samples, regions snapped to the beat grid, and, when the caller gives no tempo, an estimate
from the audio itself.

The estimate (numpy only, no model weights): a spectral-flux onset envelope; its
autocorrelation, summed over the first beat multiples and weighted towards 120 BPM, picks the
beat period; a comb over the envelope picks the beat phase, and the bass band's onsets pick
which beat of the bar is the downbeat. `bench/bench_tempo.py` measures it against FluidSynth
renders at known tempos and librosa.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import BadParameter

MIN_BPM, MAX_BPM = 20.0, 400.0
SNAPS = ("beat", "bar")


@dataclass(frozen=True)
class Meter:
    bpm: float
    beats_per_bar: int = 4
    beat_offset: float | None = None  # seconds from the clip's start to a downbeat; None: not known
    tempo_heard: bool = False     # the tempo was read from the audio, not given
    downbeat_heard: bool = False  # so was the downbeat
    tempo_confidence: float | None = None  # 0-1: how clearly the heard tempo stood out (None: given)

    def __post_init__(self) -> None:
        if not _number(self.bpm) or not MIN_BPM <= self.bpm <= MAX_BPM:
            raise BadParameter(f"bpm must be from {MIN_BPM:g} to {MAX_BPM:g}, not {self.bpm!r}")
        if isinstance(self.beats_per_bar, bool) or not isinstance(self.beats_per_bar, int) \
                or not 1 <= self.beats_per_bar <= 32:
            raise BadParameter(f"beats_per_bar must be a whole number from 1 to 32, not {self.beats_per_bar!r}")
        if self.beat_offset is not None and (not _number(self.beat_offset) or not 0 <= self.beat_offset <= 20 * 60):
            raise BadParameter(f"beat_offset must be a time in seconds from 0, not {self.beat_offset!r}")

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar_seconds(self) -> float:
        return self.beats_per_bar * self.beat_seconds

    def samples(self, bars: float, sample_rate: int) -> int:
        """`bars` bars in samples at `sample_rate`, rounded once (no drift across bars)."""
        return round(bars * self.beats_per_bar * 60 * sample_rate / self.bpm)

    def snap(self, start: float, end: float, unit: str, duration: float) -> tuple[float, float]:
        """A region's edges moved to the nearest `unit` lines (at least one cell: the one
        around the region's middle), within `[0, duration]`."""
        if unit not in SNAPS:
            raise BadParameter(f"snap must be one of {', '.join(SNAPS)}, not {unit!r}")
        step = self.bar_seconds if unit == "bar" else self.beat_seconds
        assert self.beat_offset is not None, "snapping needs the downbeat (meter_from(..., downbeat=True))"
        lo, hi = (round((t - self.beat_offset) / step) for t in (start, end))
        if hi <= lo:  # a selection shorter than a cell means the cell around its middle
            lo = math.floor(((start + end) / 2 - self.beat_offset) / step)
            hi = lo + 1
        return max(0.0, self.beat_offset + lo * step), min(duration, self.beat_offset + hi * step)

    def info(self) -> dict[str, float | int | str]:
        """What a result reports about the musical time it used."""
        info: dict[str, float | int | str] = {"bpm": round(self.bpm, 3), "beats_per_bar": self.beats_per_bar,
                                              "tempo": "heard" if self.tempo_heard else "given"}
        if self.tempo_confidence is not None:
            info["tempo_confidence"] = round(self.tempo_confidence, 2)
        if self.beat_offset is not None:
            info.update(beat_offset=round(self.beat_offset, 6), downbeat="heard" if self.downbeat_heard else "given")
        return info


def meter_from(bpm: float | None, beats_per_bar: int | None, beat_offset: float | None,
               audio: np.ndarray | None = None, sample_rate: int | None = None,
               downbeat: bool = False) -> Meter | None:
    """The caller's meter, with what is missing heard in `audio`: the tempo when no bpm is
    given, the downbeat when `downbeat` matters (snapping) and none is given. None without a
    bpm or audio."""
    beats = 4 if beats_per_bar is None else beats_per_bar
    given = Meter(120.0 if bpm is None else bpm, beats, beat_offset)  # what was given is checked first
    if audio is None or (bpm is not None and (beat_offset is not None or not downbeat)):
        return given if bpm is not None else None
    heard = estimate_meter(audio, sample_rate, beats, bpm)  # type: ignore[arg-type]  # given with the audio
    if heard is None:
        raise BadParameter("no steady beat could be heard in this audio; give its tempo (bpm)")
    if beat_offset is not None or not downbeat:
        return Meter(heard.bpm, beats, beat_offset, tempo_heard=heard.tempo_heard, tempo_confidence=heard.tempo_confidence)
    return heard


# -- estimation ------------------------------------------------------------------------------
ANALYSIS_RATE = 22_050
N_FFT, HOP = 2048, 256          # 86 envelope frames per second
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0  # where tempi usually lie, and how widely
BASS_HZ = 200.0
LISTEN_SECONDS = 60.0  # how much of a clip the estimate reads
MIN_FLUX = 1.0  # mean onset envelope of audio at full scale below which nothing starts
# (measured: a sine drone 0.5; FluidSynth chords 6, with drums 56)


def onset_envelopes(audio: np.ndarray, sample_rate: int) -> Envelopes:
    """Spectral flux of the log magnitude, whole band and below `BASS_HZ`; how much the chroma
    changes around each frame (chords change on bar lines); their frame rate."""
    mono = np.asarray(audio, dtype=np.float64).reshape(-1, audio.shape[-1]).mean(0)
    mono = mono / max(np.abs(mono).max(), 1e-9)  # the same onsets at any level
    if sample_rate != ANALYSIS_RATE:  # linear interpolation is enough for onsets
        times = np.arange(0, len(mono) / sample_rate, 1 / ANALYSIS_RATE)
        mono = np.interp(times, np.arange(len(mono)) / sample_rate, mono)
    count = 1 + max(0, len(mono) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(mono, N_FFT)[::HOP][:count] * np.hanning(N_FFT)
    magnitude = np.abs(np.fft.rfft(frames, axis=1))
    log = np.log1p(100 * magnitude)
    flux = np.maximum(np.diff(log, axis=0), 0)
    bass = round(BASS_HZ * N_FFT / ANALYSIS_RATE)
    frequencies = np.fft.rfftfreq(N_FFT, 1 / ANALYSIS_RATE)[1:]
    pitch_class = np.round(12 * np.log2(frequencies / 440.0)).astype(int) % 12
    band = (frequencies > 60) & (frequencies < 2000)
    chroma = np.stack([magnitude[:, 1:][:, band & (pitch_class == c)].sum(1) for c in range(12)], axis=1)
    chroma /= np.linalg.norm(chroma, axis=1, keepdims=True) + 1e-9
    width = 16  # frames (0.19 s) compared on each side
    padded = np.pad(chroma, ((width, width), (0, 0)), mode="edge")
    before = np.cumsum(padded, axis=0)
    mean_before = (before[width:-width] - before[:-2 * width]) / width
    mean_after = (before[2 * width:] - before[width:-width]) / width
    change = np.linalg.norm(mean_after - mean_before, axis=1)[1:]  # aligned with the flux frames

    def envelope(values: np.ndarray) -> np.ndarray:
        e = values.sum(1)
        local = np.convolve(e, np.ones(16) / 16, mode="same")  # remove the slow loudness trend
        return np.maximum(e - local, 0)

    return envelope(flux), envelope(flux[:, :bass]), change, ANALYSIS_RATE / HOP


def _at(envelope: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.interp(positions, np.arange(len(envelope)), envelope, left=0, right=0)


Envelopes = tuple[np.ndarray, np.ndarray, np.ndarray, float]  # what onset_envelopes returns


def estimate_meter(audio: np.ndarray, sample_rate: int, beats_per_bar: int = 4,
                   bpm: float | None = None, envelopes: Envelopes | None = None) -> Meter | None:
    """Tempo (unless `bpm` is given), beat phase and downbeat read from `audio` `[C, S]` (its
    first `LISTEN_SECONDS`: one steady tempo is assumed), or from its `envelopes` when the
    caller has them; None when no beat shows (silence, a drone, under 4 s)."""
    if envelopes is None:
        envelopes = onset_envelopes(audio[..., :round(LISTEN_SECONDS * sample_rate)], sample_rate)
    *signals, rate = envelopes
    envelope, bass, change = (e[:round(LISTEN_SECONDS * rate)] for e in signals)
    if len(envelope) < 4 * rate or envelope.mean() < MIN_FLUX:
        return None  # too short, or nothing starts (silence, a drone)
    e = (envelope - envelope.mean()) / envelope.std()
    heard_tempo, confidence = bpm is None, 0.0
    if bpm is None:
        auto = np.correlate(e, e, mode="full")[len(e) - 1:] / len(e)
        bpms = np.arange(40.0, 240.0, 0.1)
        lags = 60 * rate / bpms
        # a beat period also correlates at 2, 3 and 4 periods; its subdivisions do not all do
        score = sum(_at(auto, k * lags) / k for k in (1, 2, 3, 4))
        score *= np.exp(-0.5 * (np.log2(bpms / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
        best = int(np.argmax(score))
        if score[best] <= 0.05:
            return None
        bpm = fit_onsets(envelope, rate, refine_tempo(envelope, rate, float(bpms[best])))
        confidence = float(min(1.0, score[best] / sum(1 / k for k in (1, 2, 3, 4))))
    period = 60 * rate / bpm
    beats = np.arange(0, len(e) - period, period)
    phases = np.linspace(0, period, 48, endpoint=False)
    phase = float(phases[np.argmax([_at(envelope, p + beats).sum() for p in phases])])
    bar = period * beats_per_bar
    downs = np.arange(0, len(e) - bar, bar)

    def downbeat_score(k: int) -> float:  # bass onsets and chord changes, each relative to its mean
        at = phase + k * period + downs
        return _at(bass, at).mean() / (bass.mean() + 1e-9) + _at(change, at).mean() / (change.mean() + 1e-9)

    first = max(range(beats_per_bar), key=downbeat_score)
    latency = (HOP + N_FFT / 2) / ANALYSIS_RATE  # flux frame t reports an onset at the centre of frame t + 1
    offset = ((phase + first * period) / rate + latency) % (bar / rate)
    return Meter(bpm, beats_per_bar, offset, tempo_heard=heard_tempo, downbeat_heard=True,
                 tempo_confidence=confidence if heard_tempo else None)


def refine_tempo(envelope: np.ndarray, rate: float, bpm: float) -> float:
    """The tempo near `bpm` (±1 %, in steps of 0.005 %) whose beat grid, at its best phase, lands
    on the most onset energy over the whole clip: a small tempo error drifts a whole beat over a
    long clip, so the clip's length, not the envelope's frame rate, sets the precision. The
    grid is compared to a slightly smoothed envelope, so that a grid a fraction of a frame off
    still scores by how close it is."""
    smooth = np.convolve(envelope, np.hanning(7) / np.hanning(7).sum(), mode="same")
    candidates = bpm * (1 + np.arange(-0.01, 0.01 + 1e-9, 0.00005))
    phases = np.linspace(0, 1, 32, endpoint=False)
    found = []
    for candidate in candidates:
        period = 60 * rate / candidate
        beats = np.arange(0, len(smooth) - period, period / 2)  # beats and their halves: more onsets to hit
        found.append(_at(smooth, beats + phases[:, None] * period).sum(1).max() / max(len(beats), 1))
    scores = np.array(found)
    top = scores >= scores.max() - 0.02 * (scores.max() - np.median(scores))  # the peak's plateau: its middle
    return round(float(candidates[top].mean()), 3)


SUBDIVISIONS = ((1, 2, 4), (1, 3))  # where a beat's onsets may lie: on it, its halves and quarters, or its thirds


def fit_onsets(envelope: np.ndarray, rate: float, bpm: float) -> float:
    """The beat period fitted to the onsets' own times: each clear onset (a peak of the envelope,
    placed between frames by a parabola) that lies on the grid of `bpm` or one of its
    subdivisions (the grid's phase chosen by the onset strength it catches) counts in a
    least-squares line of time against grid position, refitted as the tolerance narrows. Onset times are read to a fraction of a
    frame, so over a clip's dozens of beats the period comes out to about 0.01 %; `bpm` is kept
    when too few onsets lie on any grid or the fit strays from it."""
    e = envelope
    peaks = np.flatnonzero((e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]) & (e[1:-1] > e.mean() + e.std())) + 1
    if len(peaks) < 8:
        return bpm
    before, at, after = e[peaks - 1], e[peaks], e[peaks + 1]
    times = peaks + 0.5 * (before - after) / np.minimum(before - 2 * at + after, -1e-12)
    fits = []
    for subdivisions in SUBDIVISIONS:
        period, score = 60 * rate / bpm, 0.0
        for tolerance in (0.08, 0.05, 0.03):  # of a beat
            placed = []  # for each phase of the grid: the onset strength it catches, each onset's place, which
            for phase in np.linspace(0, period, 96, endpoint=False):
                x = (times - phase) / period
                grid = np.array([np.round(x * s) / s for s in subdivisions])
                miss = np.abs(x - grid)
                on = miss.min(0) < tolerance
                placed.append((float(at[on].sum()), grid[miss.argmin(0), np.arange(len(x))], on))
            score, grid, on = max(placed, key=lambda p: p[0])
            if on.sum() < 8:
                break
            (_, period), *_ = np.linalg.lstsq(np.stack([np.ones(on.sum()), grid[on]], 1), times[on], rcond=None)
        fits.append((score, 60 * rate / period))
    fitted = max(fits)[1]
    return round(fitted, 3) if abs(fitted / bpm - 1) < 0.005 else bpm


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def time_info(meter: Meter | None, **used: Any) -> dict[str, Any]:
    """A result's report of its musical time: the meter and what was measured in it (None
    values left out); empty without a meter."""
    return {**meter.info(), **{k: v for k, v in used.items() if v is not None}} if meter else {}
