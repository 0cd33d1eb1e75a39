"""How well the engine hears tempo and downbeats (`engine.meter`), against librosa when it is
installed: FluidSynth renders at known tempos, meters and pickups, and real tracks whose BPM is
published with them (warzone2100-music's `album.json`, through the imported data).

    .venv/bin/python bench/bench_tempo.py --data data/real --out docs/benchmarks.md

Tempo within 2 % counts as right; within 2 % of half, double, a third or three times it as an
octave error (reported apart). Downbeat: the heard one within a tenth of a beat of the truth.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.meter import estimate_meter
from engine.train.fluidsynth import find_soundfont, render, write_groove

from report import publish

OCTAVES = (0.5, 2.0, 1 / 3, 3.0)


def off_grid(heard: float | None, truth: float) -> float | None:
    """How far a right or octave-off tempo is from the truth's octave, as a fraction (None: wrong)."""
    if heard is None:
        return None
    error = min(abs(heard / (truth * k) - 1) for k in (1.0, *OCTAVES))
    return error if error <= 0.02 else None


def verdict(heard: float | None, truth: float) -> str:
    if heard is None:
        return "none"
    if abs(heard / truth - 1) <= 0.02:
        return "right"
    return "octave" if off_grid(heard, truth) is not None else "wrong"


def renders(folder: Path, count: int) -> list[dict]:
    """`count` grooves at tempos spread over 60-180 BPM, in 4/4 and 3/4, with and without drums."""
    rng = np.random.default_rng(0)
    soundfont, cases = find_soundfont(), []
    for k in range(count):
        bpm = float(np.round(rng.uniform(60, 180), 1))
        meter, drums = (4, 3)[k % 4 == 3], k % 2 == 0
        pickup, program = int(rng.integers(0, meter)), int(rng.choice([0, 4, 24, 48]))
        midi, wav = folder / f"groove{k}.mid", folder / f"groove{k}.wav"
        downbeat = write_groove(midi, bpm, bars=12, beats_per_bar=meter, pickup=pickup, drums=drums, program=program)
        render(midi, wav, soundfont)
        audio, rate = sf.read(wav, dtype="float32", always_2d=True)
        cases.append({"name": f"{bpm:g} BPM {meter}/4{' drums' if drums else ''}", "audio": audio.T, "rate": rate,
                      "bpm": bpm, "beats_per_bar": meter, "downbeat": downbeat})
    return cases


def published(data: Path, seconds: float = 30.0) -> list[dict]:
    """30 s from the middle of each imported track with a published BPM (the manifest's `bpm`,
    from warzone2100's `album.json`) other than 80, the album files' default."""
    cases = []
    for line in (data / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("bpm") in (None, 80):
            continue
        info = sf.info(data / entry["file"])
        start = max(0, (info.frames - round(seconds * info.samplerate)) // 2)
        audio, rate = sf.read(data / entry["file"], start=start, frames=round(seconds * info.samplerate),
                              dtype="float32", always_2d=True)
        cases.append({"name": entry["piece"], "audio": audio.T, "rate": rate, "bpm": float(entry["bpm"])})
    return cases


def ours(case: dict) -> tuple[float | None, float | None]:
    heard = estimate_meter(case["audio"], case["rate"], case.get("beats_per_bar", 4))
    return (heard.bpm, heard.beat_offset) if heard else (None, None)


def with_librosa(case: dict) -> tuple[float | None, float | None]:
    import librosa

    tempo, _ = librosa.beat.beat_track(y=case["audio"].mean(0), sr=case["rate"])
    return float(np.atleast_1d(tempo)[0]), None


def downbeat_right(offset: float | None, case: dict) -> bool:
    beat = 60 / case["bpm"]
    bar = beat * case["beats_per_bar"]
    error = (offset - case["downbeat"]) % bar if offset is not None else bar / 2
    return min(error, bar - error) <= 0.1 * beat


def table(cases: dict[str, list[dict]], methods: dict) -> str:
    lines = ["| set | method | right (within 2 %) | octave errors | wrong | to the grid (within 0.05 %, octaves "
             "aside) | median / worst error | downbeats right | median time per clip |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for set_name, items in cases.items():
        for name, method in methods.items():
            method(items[0])  # warm-up (librosa compiles on its first call)
            verdicts, downs, times, errors = [], [], [], []
            for case in items:
                start = time.perf_counter()
                bpm, offset = method(case)
                times.append(time.perf_counter() - start)
                verdicts.append(verdict(bpm, case["bpm"]))
                errors.append(off_grid(bpm, case["bpm"]))
                if "downbeat" in case and offset is not None:
                    downs.append(downbeat_right(offset, case))
            n = len(items)
            count = {v: verdicts.count(v) for v in ("right", "octave", "wrong", "none")}
            down = f"{sum(downs)} / {len(downs)}" if downs else "—"
            heard = [e for e in errors if e is not None]
            grid = f"{sum(e <= 0.0005 for e in heard)} / {len(heard)}" if heard else "—"
            spread = f"{100 * statistics.median(heard):.3f} / {100 * max(heard):.3f} %" if heard else "—"
            lines.append(f"| {set_name} ({n}) | {name} | {count['right']} / {n} | {count['octave']} | "
                         f"{count['wrong'] + count['none']} | {grid} | {spread} | {down} | "
                         f"{statistics.median(times) * 1000:.0f} ms |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=24)
    parser.add_argument("--data", type=Path, help="imported data (for the published-BPM tracks)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cases = {"FluidSynth grooves, 60-180 BPM": renders(Path(folder), args.renders)}
    if args.data:
        cases["warzone2100 tracks, published BPM"] = published(args.data)
    methods = {"engine.meter": ours}
    try:
        import librosa  # noqa: F401 (compared when installed; the project does not depend on it)
        methods["librosa beat_track"] = with_librosa
    except ImportError:
        pass
    publish(table(cases, methods), args.out, "bench_tempo")


if __name__ == "__main__":
    main()
