"""What the tests compute with: a tiny model and test signals."""

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from engine.model import ModelConfig, MsaniiModel
from engine.train.fluidsynth import find_soundfont, render, write_groove


def tiny_model(seed: int = 0, d_cond: int = 0) -> MsaniiModel:
    torch.manual_seed(seed)
    return MsaniiModel(ModelConfig.preset("tiny", d_cond=d_cond))


def sine_mix(seconds: float, sample_rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rows = [0.2 * np.sin(2 * np.pi * (220 * (k + 1)) * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
            for k in range(channels)]
    return np.stack(rows).astype(np.float32)


def rendered_groove(folder: Path, bpm: float, bars: int, sample_rate: int = 44_100, **groove) -> np.ndarray:
    """`[2, samples]`: `bars` bars of `engine.train.fluidsynth.write_groove` (C-Am-F-G, `groove`
    its other settings) rendered by FluidSynth, cut to the bars' exact length."""
    write_groove(folder / "g.mid", bpm, bars=bars, **groove)
    render(folder / "g.mid", folder / "g.wav", find_soundfont(), sample_rate)
    audio, _ = sf.read(folder / "g.wav", dtype="float32", always_2d=True)
    return np.ascontiguousarray(audio.T[:, : round(bars * 240 / bpm * sample_rate)])
