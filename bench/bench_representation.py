"""Which STFT hop the model should use, measured on real music before any model is trained:
how well phase recovery rebuilds the audio (from the true magnitude, and from the mel through
the analytic inversion), and what each hop costs in Griffin-Lim and U-Net time per 10 s of stereo.

    .venv/bin/python bench/bench_representation.py --data data/real --out docs/benchmarks.md

Quality: spectral convergence (lower is better) and log-mel L1 in dB of the resynthesis against
the original, both measured at a fixed hop-256 analysis so the hops are judged alike.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from engine.model import ModelConfig, MsaniiModel
from engine.spectral import MelSpectral, SpectralConfig
from engine.train.manifest import read_manifest

from report import median_time, publish

JUDGE = MelSpectral(SpectralConfig(hop_length=256))


def clips(data: Path, count: int, seconds: float) -> list[torch.Tensor]:
    entries = [e for e in read_manifest(data) if e["duration"] > seconds + 20]
    rng = np.random.default_rng(0)
    out = []
    for index in rng.choice(len(entries), size=min(count, len(entries)), replace=False):
        path = entries[int(index)]["path"]
        start = int(rng.integers(10 * 44_100, sf.info(path).frames - round((seconds + 10) * 44_100)))
        audio, _ = sf.read(path, start=start, frames=round(seconds * 44_100), dtype="float32", always_2d=True)
        out.append(torch.from_numpy(np.ascontiguousarray(audio.T)))
    return out


def quality(reference: torch.Tensor, rebuilt: torch.Tensor) -> tuple[float, float]:
    a, b = JUDGE.stft(reference).abs(), JUDGE.stft(rebuilt).abs()
    convergence = float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(a))
    to_db = 20 / np.log(10)
    l1 = float((JUDGE.log_mel(reference) - JUDGE.log_mel(rebuilt)).abs().mean()) * to_db
    return convergence, l1



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/real"))
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    audio = clips(args.data, args.clips, 6.0)
    rows = []
    ten_seconds = torch.randn(1, 2, 441_000) * 0.1
    for hop in (1024, 512):
        spectral = MelSpectral(SpectralConfig(hop_length=hop))
        scores = {"true 100": [], "mel 32": []}
        for clip in audio:
            n = clip.shape[-1]
            magnitude = spectral.stft(clip).abs()
            scores["true 100"].append(quality(clip, spectral.griffin_lim(magnitude, n, n_iter=100)))
            from_mel = spectral.mel_to_magnitude(spectral.log_mel(clip))
            scores["mel 32"].append(quality(clip, spectral.griffin_lim(from_mel, n, n_iter=32)))
        magnitude = spectral.stft(ten_seconds).abs()
        gl = median_time(lambda: spectral.griffin_lim(magnitude, ten_seconds.shape[-1], n_iter=32))
        model = MsaniiModel(ModelConfig.preset("real", d_cond=0)).eval()
        frames = spectral.config.frames_for(ten_seconds.shape[-1])
        frames += -frames % model.config.unet.frame_multiple
        x = torch.zeros(1, 2, 128, frames)
        with torch.inference_mode():
            unet = median_time(lambda: model.unet(x, torch.tensor([500.0])))
        true_sc, _ = np.mean(scores["true 100"], axis=0)
        mel_sc, mel_l1 = np.mean(scores["mel 32"], axis=0)
        rows.append(f"| {hop} | {true_sc:.3f} | {mel_sc:.3f} | {mel_l1:.2f} | {gl:.2f} | {unet:.3f} |")
    table = "\n".join([
        f"Representation ({len(audio)} clips of 6 s of real music, {platform.machine()}, "
        f"{torch.get_num_threads()} threads; bench/bench_representation.py):",
        "",
        "| hop | SC, true magnitude, GL 100 | SC, from mel, GL 32 | log-mel L1 (dB), from mel, GL 32 "
        "| GL 32 s per 10 s stereo | U-Net step s per 10 s stereo |",
        "|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])
    publish(table, args.out, "representation")


if __name__ == "__main__":
    main()
