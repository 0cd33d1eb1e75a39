"""Do fills keep the harmony? Chord progressions written as MIDI (several keys, tempi, instruments
and progressions, 1.5-3 repetitions, with and without drums), rendered with FluidSynth, then
regions inpainted at the defaults: every inner bar, and every stretch from mid-bar to mid-bar
(two chords). A fill (each half of a mid-bar region) is right when its chord (the triad
whose template best matches its chroma) is the one heard in the original there.

    python bench/bench_chords.py --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.metrics import NOTE_NAMES, heard_chord
from engine.pipeline import Pipeline
from engine.train.fluidsynth import find_soundfont, render, write_groove

from report import publish

RATE = 44_100
DEGREES = {"I": (48, 52, 55), "ii": (50, 53, 57), "iii": (52, 55, 59), "IV": (53, 57, 60), "V": (43, 47, 50),
           "vi": (45, 48, 52)}  # triads in C, root first
PROGRESSIONS = ("I vi IV V", "vi IV I V", "I V vi IV", "ii V I vi")
KEYS = (0, 3, -2, 5)  # semitones from C
TEMPI = (84.0, 100.0, 120.0, 132.0)
PROGRAMS = (0, 48, 4, 24)  # piano, strings, electric piano, nylon guitar


@dataclass(frozen=True)
class Case:
    progression: str
    transpose: int
    bpm: float
    program: int
    repetitions: float
    drums: bool

    @property
    def bars(self) -> int:
        return round(4 * self.repetitions)

    @property
    def bar_seconds(self) -> float:
        return 4 * 60 / self.bpm


def cases(count: int) -> list[Case]:
    combos = itertools.product(PROGRESSIONS, KEYS, TEMPI, PROGRAMS, (1.5, 2, 3), (True, False))
    every = [Case(*c) for c in combos]
    picks = np.random.default_rng(0).choice(len(every), size=min(count, len(every)), replace=False)
    return [every[k] for k in sorted(picks)]


def rendered(case: Case, folder: Path, soundfont: Path) -> np.ndarray:
    chords = tuple(DEGREES[d] for d in case.progression.split())
    midi, wav = folder / "p.mid", folder / "p.wav"
    write_groove(midi, case.bpm, bars=case.bars, drums=case.drums, program=case.program, chords=chords,
                 transpose=case.transpose)
    render(midi, wav, soundfont, RATE)
    audio, _ = sf.read(wav, dtype="float32", always_2d=True)
    return np.ascontiguousarray(audio.T[:, : round(case.bars * case.bar_seconds * RATE)])


def regions(case: Case) -> list[tuple[float, float, list[tuple[float, float]]]]:
    """(start, end, the one-chord segments to judge) in bars: every bar but the first and last,
    and every mid-bar to mid-bar stretch between them."""
    out = []
    for bar in range(1, case.bars - 1):
        out.append((bar, bar + 1, [(bar, bar + 1)]))
        if bar + 2 < case.bars:
            out.append((bar + 0.5, bar + 1.5, [(bar + 0.5, bar + 1), (bar + 1, bar + 1.5)]))
    return out


def chord_at(case: Case, bar: float) -> str:
    """The name of the chord the MIDI plays in `bar` (as `engine.metrics.TRIADS` names them)."""
    root, third, _ = DEGREES[case.progression.split()[int(bar) % 4]]
    return NOTE_NAMES[(root + case.transpose) % 12] + ("m" if third - root == 3 else "")


def heard(case: Case, audio: np.ndarray, segments: list[tuple[float, float]]) -> list[str]:
    """The chord heard in each segment (in bars; its middle, away from the crossfades)."""
    bar = case.bar_seconds * RATE
    return [heard_chord(audio[:, round((a + 0.05) * bar): round((b - 0.05) * bar)], RATE) for a, b in segments]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    pipeline, soundfont = Pipeline.from_checkpoint(None), find_soundfont()
    rows: dict[str, list[bool]] = {"judge: the original's chord is the MIDI's": [],
                                   "judge: ... its root": []}
    with tempfile.TemporaryDirectory() as scratch:
        for case in cases(args.cases):
            audio = rendered(case, Path(scratch), soundfont)
            bars = [(k, k + 1) for k in range(case.bars)]
            pairs = list(zip(heard(case, audio, bars), (chord_at(case, k) for k in range(case.bars))))
            rows["judge: the original's chord is the MIDI's"] += [got == midi for got, midi in pairs]
            rows["judge: ... its root"] += [got.rstrip("m") == midi.rstrip("m") for got, midi in pairs]
            for start, end, segments in regions(case):
                a, b = round(start * case.bar_seconds * RATE), round(end * case.bar_seconds * RATE)
                known = audio.copy()
                known[:, a:b] = 0  # nothing sees the truth
                original = heard(case, audio, segments)
                kind = "bar-aligned" if start == int(start) else "mid-bar"
                for bpm in (None, case.bpm):
                    filled = pipeline.inpaint(known, RATE, [(a / RATE, b / RATE)], bpm=bpm, seed=0).audio
                    hits = [got == want for got, want in zip(heard(case, filled, segments), original)]
                    for key in (kind, "with --bpm" if bpm else "without --bpm", "all"):
                        rows.setdefault(key, []).extend(hits)
                    for (a_bar, _), hit in zip(segments, hits):
                        recurs = any(k != int(a_bar) and k % 4 == int(a_bar) % 4 for k in range(case.bars))
                        rows.setdefault("its bar of the phrase is played again in the clip" if recurs else
                                        "its bar of the phrase is played only there", []).append(hit)
            print(case, f"{np.mean(rows['all']):.2f}", flush=True)
    lines = [f"Chords kept by fills at the defaults: {args.cases} FluidSynth renders of 4-chord progressions "
             f"({', '.join(PROGRESSIONS)}; keys, tempi {', '.join(f'{t:g}' for t in TEMPI)} BPM, piano, strings, "
             "electric piano, guitar; 1.5-3 repetitions, with and without drums), every inner bar and every mid-bar to "
             "mid-bar stretch; a fill is right when the triad heard in it (the template nearest its long-window "
             "chroma) is the one heard in the original there; the judge's own rows compare that with the MIDI.", "",
             "| regions | fills judged | right chord |", "|---|---:|---:|"]
    lines += [f"| {key} | {len(hits)} | {np.mean(hits):.0%} |" for key, hits in rows.items()]
    publish("\n".join(lines), args.out, "Chords in fills")


if __name__ == "__main__":
    main()
