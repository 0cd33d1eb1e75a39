"""Where phase recovery should start, and for how many iterations, after style transfer and
interpolation: random phase against the source's, 0-32 Griffin-Lim iterations, on held-out
10 s stereo clips with the bundled model. Judged against the source (what a low-strength edit
should keep): spectral convergence and log-spectral distance at the model's analysis, a
fine-time multi-resolution STFT distance (transients), the stereo image (left/right
correlation, side/mid level), and the Griffin-Lim time.

    python bench/bench_phase.py --data data/real --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from engine import metrics
from engine.pipeline import Pipeline
from engine.resynthesis import keep as phase
from engine.resynthesis import magnitude as mel_magnitude
from engine.resynthesis import uses_network
from engine.tasks import interpolate, style_transfer
from engine.train.data import load_clips
from engine.train.manifest import read_manifest
from engine.train.scores import mean_rows

from report import publish

RATE = 44_100
STRENGTHS = (0.1, 0.3, 0.5, 0.8)
# (phase start, iterations): the first two and `source, 32` were the defaults before engine/resynthesis/keep.py
STARTS = [("random, channels apart", 32), ("random", 32)] + [("source", n) for n in (0, 4, 32)] + \
    [("source + its image", n) for n in (0, 4, 32)]
FINE = ((256, 64), (512, 128))  # (n_fft, hop): the resolutions that see transients


def magnitudes(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    wave = torch.from_numpy(np.ascontiguousarray(audio))
    return torch.stft(wave, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs().numpy()


def fine_distance(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean over `FINE` of spectral convergence plus log-magnitude L1."""
    total = 0.0
    for n_fft, hop in FINE:
        a, b = magnitudes(reference, n_fft, hop), magnitudes(estimate, n_fft, hop)
        total += metrics.spectral_convergence(a, b) + float(np.abs(np.log(a + 1e-5) - np.log(b + 1e-5)).mean())
    return total / len(FINE)


def stereo(audio: np.ndarray) -> tuple[float, float]:
    """Left/right correlation and side/mid level (dB)."""
    mid, side = audio.mean(0), (audio[0] - audio[1]) / 2
    level = 10 * np.log10((side ** 2).mean() + 1e-12) - 10 * np.log10((mid ** 2).mean() + 1e-12)
    return float(np.corrcoef(audio[0], audio[1])[0, 1]), float(level)


def scores(source: np.ndarray, out: np.ndarray, target: np.ndarray) -> dict:
    """Against the source; `consistency`: against the magnitude the model asked for."""
    a, b = magnitudes(source, 2048, 512), magnitudes(out, 2048, 512)
    (corr_s, level_s), (corr_o, level_o) = stereo(source), stereo(out)
    return {"sc": metrics.spectral_convergence(a, b), "lsd": metrics.log_spectral_distance(a, b),
            "fine": fine_distance(source, out), "corr": corr_o - corr_s, "side": level_o - level_s,
            "consistency": metrics.spectral_convergence(target, b)}


def edits(pipeline: Pipeline, clips: list[np.ndarray]):
    """(case, source at the model's rate, the edit's magnitude, the phase source) for every clip."""
    model = pipeline.model
    network = model.log_magnitude if uses_network(pipeline.settings.magnitude, pipeline.trained_network) else None
    for k, audio in enumerate(clips):
        wave = pipeline.to_model(audio, RATE)
        mel = pipeline.encode(wave)
        for strength in STRENGTHS:
            with pipeline.diffuser(pipeline.job(seed=k)) as diffuser:
                edited = style_transfer.sample(diffuser, mel, strength)
            yield f"style {strength:g}", wave, mel_magnitude(model.spectral, edited, network), wave
        other = pipeline.to_model(clips[(k + 1) % len(clips)], RATE)
        with pipeline.diffuser(pipeline.job(seed=k)) as diffuser:
            blend = interpolate.sample(diffuser, mel, pipeline.encode(other), 0.3, 0.5)
        yield "interpolate 0.3, 0.5", wave, mel_magnitude(model.spectral, blend, network), wave


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/real"))
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    clips = [a for a, _ in load_clips(read_manifest(args.data, "heldout"), args.clips, 10.0, 0)]
    pipeline = Pipeline.from_checkpoint(None)
    spectral, settings = pipeline.model.spectral, pipeline.settings
    rows: dict[tuple[str, str, int], list[dict]] = {}
    for case, wave, magnitude, phase_from in edits(pipeline, clips):
        source, analysed = wave[0].numpy(), spectral.stft(wave).abs()
        for start, iters in STARTS:
            began = time.perf_counter()
            target = phase.balanced(magnitude, analysed) if "image" in start else magnitude
            with torch.inference_mode():
                out = spectral.griffin_lim(target, wave.shape[-1], n_iter=iters, momentum=settings.griffin_lim_momentum,
                                           generator=torch.Generator().manual_seed(0),
                                           start=phase_from if start.startswith("source") else None, linked="apart" not in start)
            seconds = time.perf_counter() - began
            rows.setdefault((case, start, iters), []).append(
                {**scores(source, out[0].numpy(), target[0].numpy()), "time": seconds})
    lines = [f"Phase recovery after an edit, {len(clips)} held-out 10 s stereo clips, bundled model, linked "
             "channels unless apart; against the source (lower is closer; stereo columns: change from the source; "
             "consistency: spectral convergence to the magnitude asked for). Defaults: the source's phase and image, "
             f"{phase.iterations_after(0.1)} iterations up to strength {phase.TRUSTED_STRENGTH:g}, "
             f"{phase.iterations_after(1.0)} above.", "",
             "| edit | phase start | GL iterations | spectral conv. | log-spectral dist. (dB) | fine MR-STFT | "
             "L/R corr. change | side/mid change (dB) | consistency | GL time (s) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (case, start, iters), found in rows.items():
        m = mean_rows(found)
        lines.append(f"| {case} | {start} | {iters} | {m['sc']:.3f} | {m['lsd']:.2f} | {m['fine']:.3f} | "
                     f"{m['corr']:+.3f} | {m['side']:+.1f} | {m['consistency']:.3f} | {m['time']:.3f} |")
    publish("\n".join(lines), args.out, "bench_phase")


if __name__ == "__main__":
    main()
